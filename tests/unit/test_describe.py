"""core.describe: function descriptions (bracket form, JSON, OpenAPI) -> OpenAPI 3.0.3."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmfleet.core.deploy_doc import parse_deployment
from wasmfleet.core.describe import ExportInfo, describe_exports_only, describe_module
from wasmfleet.core.errors import BadRequest, InvalidDocument, InvalidMount
from wasmfleet.core.form_fields import parse_bracket_fields
from wasmfleet.core.models import FunctionSpec
from wasmfleet.core.openapi import (
    description_operations,
    operation_mounts,
    operation_params,
    operation_response,
)

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"
MODULE_NAMES = sorted(
    p.name for p in MODULES_DIR.iterdir() if p.is_dir() and (p / "description.json").is_file()
)
ENGINE = wasmtime.Engine()


def exports_of(name: str) -> dict[str, ExportInfo]:
    """ExportInfo of every exported function of a committed module binary."""
    module = wasmtime.Module(ENGINE, (MODULES_DIR / name / f"{name}.wasm").read_bytes())
    return {
        e.name: ExportInfo(
            e.name, tuple(str(p) for p in e.type.params), tuple(str(r) for r in e.type.results)
        )
        for e in module.exports
        if isinstance(e.type, wasmtime.FuncType)
    }


def committed(name: str) -> dict[str, Any]:
    doc = json.loads((MODULES_DIR / name / "description.json").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def plain(doc: Any, name: str) -> Any:
    """``doc`` with path keys naming module ``name`` literally (no ``module`` path parameter)
    and schemas without a number ``format``: what the generator writes, as wasmiot's does."""
    if isinstance(doc, list):
        return [plain(v, name) for v in doc if not (isinstance(v, dict) and _module_param(v))]
    if not isinstance(doc, dict):
        return doc
    return {
        str(key).replace("{module}", name): plain(value, name)
        for key, value in doc.items()
        if not (key == "format" and value != "binary")
    }


def _module_param(value: dict[str, Any]) -> bool:
    return value.get("name") == "module" and value.get("in") == "path"


def plain_committed(name: str) -> dict[str, Any]:
    """A committed description as the orchestrator describes the module (forms a and b)."""
    out: dict[str, Any] = plain(committed(name), name)
    return out


def data_files_of(name: str) -> set[str]:
    return {p.name for p in (MODULES_DIR / name).iterdir() if p.suffix not in (".c", ".wasm")}


def read_back(doc: dict[str, Any]) -> dict[str, Any]:
    """What the supervisor reads from a description, per function."""
    out = {}
    for fn, (method, op) in description_operations(doc).items():
        out[fn] = {
            "method": method,
            "params": operation_params(op, fn),
            "mounts": operation_mounts(op, fn) or (),
            "response": operation_response(op),
        }
    return out


def deployed(doc: dict[str, Any], module: str) -> dict[str, FunctionSpec]:
    """FunctionSpecs as a supervisor parses a README-shaped deployment of ``doc``'s paths."""
    ops = description_operations(doc)
    paths = {p: item for p, item in doc["paths"].items() if p.rsplit("/", 1)[-1] in ops}
    body = {
        "deploymentId": "d1",
        "modules": [{"id": "1", "name": module, "urls": {"binary": "http://h/m.wasm"}}],
        "instructions": {
            "modules": {
                module: {p.rsplit("/", 1)[-1]: {"paths": {p: item}} for p, item in paths.items()}
            }
        },
    }
    return {f.name: f for f in parse_deployment(body).functions}


def spec_from_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """The form (b) description that says what a committed description says."""
    functions: dict[str, Any] = {}
    for fn, (method, op) in description_operations(doc).items():
        media, schema = operation_response(op)
        output = schema["type"] if media == "application/json" else media
        functions[fn] = {
            "method": method,
            "parameters": [
                {"name": p.name, "type": p.schema_type} for p in operation_params(op, fn)
            ],
            "output": output,
            "mounts": op["x-mounts"],
        }
    return functions


# --- form (c): committed descriptions pass with the module named literally ----------------------


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_committed_description_is_returned_with_literal_paths(name: str) -> None:
    doc = committed(name)
    before = copy.deepcopy(doc)
    stored = describe_module(name, doc, exports_of(name), data_files_of(name))
    assert doc == before, "the caller's document is not changed in place"
    for path, item in stored["paths"].items():
        assert path.startswith(f"/{{deployment}}/modules/{name}/"), path
        assert [p["name"] for p in item["parameters"]] == ["deployment"]
    # everything else is kept: the operations, their schemas (formats included), info
    literal = {
        path.replace("{module}", name): {
            k: v if k != "parameters" else [p for p in v if p["name"] != "module"]
            for k, v in item.items()
        }
        for path, item in before["paths"].items()
    }
    assert stored == {**before, "paths": literal}
    assert describe_module(name, stored, exports_of(name), data_files_of(name)) == stored


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_form_b_of_every_module_reads_back_like_the_committed_description(name: str) -> None:
    doc = committed(name)
    generated = describe_module(name, spec_from_openapi(doc), exports_of(name), data_files_of(name))
    assert generated["openapi"] == "3.0.3"
    assert generated["info"]["title"] == name
    assert read_back(generated) == read_back(plain_committed(name))
    assert deployed(generated, name) == deployed(plain_committed(name), name)
    # and the generated description is itself accepted as form (c)
    assert describe_module(name, generated, exports_of(name), data_files_of(name)) == generated


# --- form (a): wasmiot bracket fields ------------------------------------------------------------


def test_bracket_form_of_fibo_reads_back_like_the_committed_description() -> None:
    pairs = [
        ("fibo[method]", "GET"),
        ("fibo[parameters][0][name]", "iterations"),
        ("fibo[parameters][0][type]", "integer"),
        ("fibo[output]", "integer"),
    ]
    generated = describe_module("fibo", parse_bracket_fields(pairs), exports_of("fibo"), set())
    assert read_back(generated) == read_back(plain_committed("fibo"))
    assert deployed(generated, "fibo") == deployed(plain_committed("fibo"), "fibo")


def test_bracket_form_of_stamp_reads_back_like_the_committed_description() -> None:
    pairs = [
        ("stamp[method]", "POST"),
        ("stamp[output]", "text/plain"),
        ("stamp[mounts][0][name]", "prefix.txt"),
        ("stamp[mounts][0][stage]", "deployment"),
        ("stamp[mounts][0][media_type]", "text/plain"),
        ("stamp[mounts][1][name]", "input.txt"),
        ("stamp[mounts][1][stage]", "execution"),
        ("stamp[mounts][1][media_type]", "text/plain"),
        ("stamp[mounts][2][name]", "output.txt"),
        ("stamp[mounts][2][stage]", "output"),
    ]
    functions = parse_bracket_fields(pairs)
    generated = describe_module("stamp", functions, exports_of("stamp"), {"prefix.txt"})
    assert read_back(generated) == read_back(plain_committed("stamp"))
    assert deployed(generated, "stamp") == deployed(plain_committed("stamp"), "stamp")
    op = generated["paths"]["/{deployment}/modules/stamp/stamp"]["post"]
    body = op["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["properties"] == {"input.txt": {"type": "string", "format": "binary"}}
    assert body["encoding"] == {"input.txt": {"contentType": "text/plain"}}


def test_wasmiot_param_n_fields_name_parameters_param_n() -> None:
    pairs = [("fibo[method]", "get"), ("fibo[param0]", "integer"), ("fibo[output]", "integer")]
    doc = describe_module("fibo", parse_bracket_fields(pairs), exports_of("fibo"), ())
    fn = read_back(doc)["fibo"]
    assert fn["method"] == "GET"
    assert [(p.name, p.schema_type) for p in fn["params"]] == [("param0", "integer")]
    # as the wasmiot orchestrator writes it: the module named, one path parameter, plain schemas
    assert list(doc["paths"]) == ["/{deployment}/modules/fibo/fibo"]
    item = doc["paths"]["/{deployment}/modules/fibo/fibo"]
    assert [(p["name"], p["in"]) for p in item["parameters"]] == [("deployment", "path")]
    op = item["get"]
    assert op["parameters"][0]["schema"] == {"type": "integer"}
    assert fn["response"] == ("application/json", {"type": "integer"})
    assert op["x-mounts"] == []


def test_float_maps_to_a_plain_number() -> None:
    exports = {"scale": ExportInfo("scale", ("f32", "f64"), ("f32",))}
    functions = {"scale": {"param0": "float", "param1": "number", "output": "float"}}
    op = describe_module("m", functions, exports, ())["paths"]["/{deployment}/modules/m/scale"]
    schemas = [p["schema"] for p in op["get"]["parameters"]]
    assert schemas == [{"type": "number"}, {"type": "number"}]
    content = op["get"]["responses"]["200"]["content"]
    assert content == {"application/json": {"schema": {"type": "number"}}}


def test_camera_output_mount_makes_a_binary_response() -> None:
    functions = parse_bracket_fields(
        [
            ("take_image[method]", "GET"),
            ("take_image[output]", "image/jpeg"),
            ("take_image[mounts][0][name]", "image.jpeg"),
            ("take_image[mounts][0][stage]", "output"),
        ]
    )
    doc = describe_module("camera", functions, exports_of("camera"), ())
    fn = read_back(doc)["take_image"]
    assert fn["response"] == ("image/jpeg", {"type": "string", "format": "binary"})
    # the output media type fills in the mount's media type
    assert [(m.name, m.stage, m.media_type) for m in fn["mounts"]] == [
        ("image.jpeg", "output", "image/jpeg")
    ]


# --- leniency ------------------------------------------------------------------------------------


def test_leniency_where_wasmiot_is_lenient() -> None:
    exports = {
        "f": ExportInfo("f", ("f32", "i32", "i64"), ("i32",)),
        "_wasmiot_init": ExportInfo("_wasmiot_init", (), ()),
        "g": ExportInfo("g", (), ("i32",)),
    }
    functions = {
        "functions": json.dumps(
            {
                "f": {"parameters": [{"name": "x", "type": "integer"}, "string"]},
                "_wasmiot_init": {"method": "POST", "mounts": {"model.bin": {"stage": "output"}}},
                "g": {
                    "mounts": {
                        "model.bin": {"stage": "deployment"},
                        "in.txt": {"stage": "execution"},
                    }
                },
            }
        )
    }
    doc = describe_module("m", functions, exports, data_files=())
    ops = read_back(doc)
    # integer for an f32 parameter, string for an i32, a missing i64 filled in as param2
    assert [(p.name, p.schema_type) for p in ops["f"]["params"]] == [
        ("x", "integer"),
        ("param1", "string"),
        ("param2", "integer"),
    ]
    assert ops["f"]["method"] == "GET"
    assert ops["f"]["response"] == ("application/json", {"type": "integer"})
    # execution mounts and no method -> POST; the init function provides the deployment file
    assert ops["g"]["method"] == "POST"
    assert ops["_wasmiot_init"]["response"][0] == "application/octet-stream"


def test_non_object_top_level_fields_are_ignored() -> None:
    functions = {"name": "fibo", "fibo": {"param0": "integer"}}
    doc = describe_module("fibo", functions, exports_of("fibo"), ())
    assert list(read_back(doc)) == ["fibo"]


def test_a_void_function_has_no_response_content() -> None:
    doc = describe_module("m", {"tick": {}}, {"tick": ExportInfo("tick")}, ())
    assert read_back(doc)["tick"]["response"] == ("", {})


# --- errors --------------------------------------------------------------------------------------

FIBO = {"fibo": ExportInfo("fibo", ("i64",), ("i64",)), "alloc": ExportInfo("alloc", ("i32",))}
STAMP = {"stamp": ExportInfo("stamp", (), ("i32",))}


@pytest.mark.parametrize(
    ("exports", "functions", "data_files", "message"),
    [
        (FIBO, {"fib": {"method": "GET"}}, (), "fib is not exported by module m; it exports: fibo"),
        (FIBO, {"fibo": {"param0": "integer", "param1": "integer"}}, (), "declares 2 param"),
        (FIBO, {"fibo": {"param0": "float"}}, (), "fibo[param0] is declared float but the Wasm"),
        (FIBO, {"fibo": {"param0": "complex"}}, (), "unknown type 'complex'"),
        (FIBO, {"fibo": {"param1": "integer"}}, (), "declares param1 but not param0"),
        (FIBO, {"fibo": {"ouput": "integer"}}, (), "unknown key(s) 'ouput'; the allowed keys"),
        (FIBO, {"fibo": {"method": "DELETE"}}, (), "must be GET or POST"),
        (FIBO, {"fibo": {"output": "image/png"}}, (), "declares no output mount"),
        (FIBO, {"fibo": {"output": "banana"}}, (), "must be integer, float or a media type"),
        (FIBO, {}, (), "No function of module m is described"),
        (FIBO, {"name": "x"}, (), "No function of module m is described"),
        (FIBO, [], (), "not a JSON list"),
        (FIBO, "{not json", (), "not valid JSON"),
        (
            STAMP,
            {"stamp": {"mounts": [{"name": "in.txt", "stage": "input"}]}},
            (),
            "stage must be deployment, execution or output, got 'input'",
        ),
        (
            STAMP,
            {"stamp": {"mounts": [{"name": "prefix.txt", "stage": "deployment"}]}},
            {"other.txt"},
            "deployment-stage mount 'prefix.txt' of stamp has no uploaded file; attach it as "
            "a multipart part named prefix.txt.",
        ),
        (
            STAMP,
            {"stamp": {"method": "GET", "mounts": [{"name": "in.txt", "stage": "execution"}]}},
            (),
            "its method must be POST, not GET",
        ),
        (
            STAMP,
            {"stamp": {"mounts": [{"name": "a", "stage": "output", "size": 3}]}},
            (),
            "unknown key(s) 'size'",
        ),
        (
            STAMP,
            {"stamp": {"mounts": [{"name": "a", "stage": "output"}] * 2}},
            (),
            "the same mount twice",
        ),
        (
            STAMP,
            {"stamp": {"mounts": [{"name": "a", "stage": "output", "media_type": "jpeg"}]}},
            (),
            "must be a media type like text/plain",
        ),
        (STAMP, {"stamp": {"output": "integer", "param0": "integer"}}, (), "takes 0 (none)"),
        ({"v": ExportInfo("v", ("v128",))}, {"v": {}}, (), "Wasm type v128"),
        ({"tick": ExportInfo("tick")}, {"tick": {"output": "integer"}}, (), "returns nothing"),
    ],
)
def test_invalid_descriptions_say_what_is_wrong(
    exports: dict[str, ExportInfo], functions: Any, data_files: Any, message: str
) -> None:
    with pytest.raises(InvalidDocument) as err:
        describe_module("m", functions, exports, data_files)
    assert message in str(err.value)
    assert err.value.status == 400


def test_stamp_names_the_function_in_the_missing_file_error() -> None:
    functions = {"stamp": {"mounts": [{"name": "prefix.txt", "stage": "deployment"}]}}
    with pytest.raises(InvalidDocument, match="of stamp has no uploaded file"):
        describe_module("stamp", functions, STAMP, ())


@pytest.mark.parametrize("name", ["../etc/passwd", ".hidden", "a/b"])
def test_unsafe_mount_names_are_refused(name: str) -> None:
    functions = {"stamp": {"mounts": [{"name": name, "stage": "output"}]}}
    with pytest.raises(InvalidMount, match="plain file name"):
        describe_module("stamp", functions, STAMP, ())


def test_no_exports_at_all_is_said_plainly() -> None:
    with pytest.raises(InvalidDocument, match="it exports no functions"):
        describe_module("m", {"f": {}}, {"_start": ExportInfo("_start")}, ())


# --- form (c) errors -----------------------------------------------------------------------------


def test_openapi_form_checks_exports_and_data_files() -> None:
    doc = committed("stamp")
    with pytest.raises(InvalidDocument, match=r"prefix\.txt"):
        describe_module("stamp", doc, exports_of("stamp"), set())
    with pytest.raises(InvalidDocument, match="stamp is not exported by module fibo"):
        describe_module("fibo", doc, exports_of("fibo"), {"prefix.txt"})
    fibo = committed("fibo")
    with pytest.raises(InvalidDocument, match="declares 1 parameter"):
        describe_module("fibo", fibo, {"fibo": ExportInfo("fibo", (), ("i64",))}, ())


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"openapi": "2.0", "paths": {}}, "3.x version"),
        ({"openapi": "3.0.3"}, "no 'paths'"),
        ({"openapi": "3.0.3", "paths": {"/{x}": {"get": {}}}}, "no function paths"),
    ],
)
def test_openapi_form_shape_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        describe_module("fibo", doc, FIBO, ())


# --- describe_exports_only -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_exports_only_describes_every_callable_export(name: str) -> None:
    exports = exports_of(name)
    doc = describe_exports_only(name, exports)
    ops = read_back(doc)
    callable_ = {n for n in exports if not n.startswith("_") and n != "alloc"}
    assert set(ops) == callable_ == set(description_operations(committed(name)))
    for fn, op in ops.items():
        assert op["method"] == "GET"
        assert [p.name for p in op["params"]] == [f"param{i}" for i in range(len(op["params"]))]
        assert len(op["params"]) == len(exports[fn].params)
        assert op["response"][0] == "application/json"
        assert op["mounts"] == ()
    # consumable as form (c) and by a supervisor
    assert describe_module(name, doc, exports, ()) == doc
    assert set(deployed(doc, name)) == callable_


def test_exports_only_describes_a_function_without_result() -> None:
    # A module exporting a void function used to fail its upload with a 500 (IndexError).
    doc = describe_exports_only("m", {"tick": ExportInfo("tick", ("i32",), ())})
    op = doc["paths"]["/{deployment}/modules/m/tick"]["get"]
    assert [p["schema"] for p in op["parameters"]] == [{"type": "integer"}]
    assert op["responses"]["200"] == {"description": "No content."}
    assert read_back(doc)["tick"]["response"] == ("", {})


def test_exports_only_types_from_wasm_types() -> None:
    exports = {
        "mix": ExportInfo("mix", ("i32", "i64", "f32", "f64"), ("f64",)),
        "memory": ExportInfo("memory"),
        "_initialize": ExportInfo("_initialize"),
        "malloc": ExportInfo("malloc", ("i32",), ("i32",)),
        "vec": ExportInfo("vec", ("v128",), ()),
    }
    doc = describe_exports_only("m", exports)
    assert list(doc["paths"]) == ["/{deployment}/modules/m/mix"]
    op = doc["paths"]["/{deployment}/modules/m/mix"]["get"]
    assert [p["schema"]["type"] for p in op["parameters"]] == [
        "integer",
        "integer",
        "number",
        "number",
    ]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {"type": "number"}


# --- parse_bracket_fields ------------------------------------------------------------------------


def test_bracket_fields_nest_and_number_lists() -> None:
    pairs = [(f"f[mounts][{i}][name]", f"m{i}") for i in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9)]
    pairs += [("f[method]", "GET"), ("functions", "{}"), ("f[method]", "GET")]
    nested = parse_bracket_fields(pairs)
    assert nested["f"]["method"] == "GET"
    assert [m["name"] for m in nested["f"]["mounts"]] == [f"m{i}" for i in range(11)]
    assert nested["functions"] == "{}"


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("f[", "x")], "malformed"),
        ([("f[]", "x")], "malformed"),
        ([("f[a]b", "x")], "malformed"),
        ([("[a]", "x")], "malformed"),
        ([("f]a[", "x")], "malformed"),
        ([("f[a]", "1"), ("f[a][b]", "2")], "clashes with field 'f[a]'"),
        ([("f[a][b]", "2"), ("f[a]", "1")], "also used as a group"),
        ([("f[a]", "1"), ("f[a]", "2")], "given twice"),
    ],
)
def test_malformed_bracket_fields_are_refused(pairs: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidDocument, match=message.replace("[", r"\[")):
        parse_bracket_fields(pairs)
