"""wasmfleet.ml.describe: description.json of a model module, and the committed digits_rf one."""

from __future__ import annotations

import json
from pathlib import Path

from wasmfleet.ml.codegen import ModelCode
from wasmfleet.ml.describe import model_description

REPO = Path(__file__).resolve().parents[2]
PATH = "/{deployment}/modules/{module}/"


def code(
    labels: tuple[int, ...] | None = tuple(range(10)),
    proba: bool = True,
    generator: str = "emlearn 0.23.2",
) -> ModelCode:
    return ModelCode(
        generator=generator,
        estimator="RandomForestClassifier",
        n_features=64,
        n_classes=10,
        labels=labels,
        code="",
        classify="",
        probabilities=proba,
    )


def test_operations_follow_the_modules_readme() -> None:
    doc = model_description("digits_rf", code())
    assert doc["openapi"] == "3.0.3" and doc["info"]["title"] == "digits_rf"
    assert set(doc["paths"]) == {PATH + f for f in ("predict", "n_features", "n_classes")}
    predict = doc["paths"][PATH + "predict"]["get"]
    assert predict["x-wasmfleet-abi"] == "bytes"
    assert [p["name"] for p in predict["parameters"]] == ["ptr", "len"]
    assert all(p["in"] == "query" and p["required"] for p in predict["parameters"])
    schema = predict["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "integer", "format": "int64"}
    assert set(predict["x-example"]) == {"ptr", "len"} and predict["x-mounts"] == []
    assert "256 bytes" in predict["description"]
    for function in ("n_features", "n_classes"):
        item = doc["paths"][PATH + function]
        assert [p["name"] for p in item["parameters"]] == ["deployment", "module"]
        assert item["get"]["parameters"] == [] and "x-wasmfleet-abi" not in item["get"]


def test_model_facts_for_clients() -> None:
    facts = model_description("m", code())["info"]["x-wasmfleet-model"]
    assert facts["classes"] == list(range(10)) and facts["class_is_index"] is False
    facts = model_description("m", code(labels=None, proba=False))["info"]["x-wasmfleet-model"]
    assert facts["class_is_index"] is True and facts["probabilities"] is False
    predict = model_description("m", code(proba=False))["paths"][PATH + "predict"]["get"]
    assert "probabilities" not in predict["description"]


def test_committed_digits_rf_description_is_what_the_build_writes() -> None:
    committed = json.loads((REPO / "modules/digits_rf/description.json").read_text())
    generator = committed["info"]["x-wasmfleet-model"]["generator"]
    assert committed == model_description("digits_rf", code(generator=generator))


def test_the_orchestrator_accepts_it_naming_the_module() -> None:
    from wasmfleet.core.describe import ExportInfo, describe_module

    exports = {
        "predict": ExportInfo("predict", ("i32", "i32"), ("i64",)),
        "n_features": ExportInfo("n_features", (), ("i32",)),
        "n_classes": ExportInfo("n_classes", (), ("i32",)),
        "alloc": ExportInfo("alloc", ("i32",), ("i32",)),
    }
    doc = model_description("digits_rf", code())
    stored = describe_module("digits_rf", doc, exports, [])
    # Unchanged but for the path keys, which name the module as wasmiot's orchestrator does.
    assert {k: v for k, v in stored.items() if k != "paths"} == {
        k: v for k, v in doc.items() if k != "paths"
    }
    assert list(stored["paths"]) == [p.replace("{module}", "digits_rf") for p in doc["paths"]]
    for path, item in doc["paths"].items():
        literal = stored["paths"][path.replace("{module}", "digits_rf")]
        assert [p["name"] for p in literal["parameters"]] == ["deployment"]
        assert {k: v for k, v in literal.items() if k != "parameters"} == {
            k: v for k, v in item.items() if k != "parameters"
        }
