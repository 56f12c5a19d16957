"""CLI helpers without a server: formatting, key=value parsing, manifest files, uploads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer

from wasmfleet.cli.manifest_file import read_manifest
from wasmfleet.cli.modules import deployment_mounts, module_files, parse_pairs, plan_upload
from wasmfleet.cli.output import ago, capacity_text, human_size, labels_text, ms, result_text

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "-"), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**2, "5.0 MiB")],
)
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


def test_ago() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert ago(None, now) == "-"
    assert ago("2025-01-01T11:59:58+00:00", now) == "2 s ago"
    assert ago("2025-01-01T11:55:00", now) == "5 min ago"  # naive times are UTC
    assert ago("2024-12-30T12:00:00Z", now) == "2 d ago"
    assert ago("not a time", now) == "not a time"


def test_cells() -> None:
    assert labels_text({"b": "2", "a": "1"}) == "a=1, b=2"
    assert labels_text({}) == "-"
    assert capacity_text({"cores": [1000] * 4, "memory_mb": 8192, "accelerator_pct": 0}) == (
        "4 cores, 8192Mi"
    )
    assert capacity_text({"cores": [1000], "memory_mb": 512, "accelerator_pct": 100}) == (
        "1 core, 512Mi, accel 100 %"
    )
    assert result_text(None) == "-"
    assert result_text({"a": 1}) == '{"a": 1}'
    assert result_text("21") == "21"
    assert ms(1.25) == "1.2" and ms(None) == "-" and ms(True) == "-"


def test_parse_pairs_splits_at_the_first_equals_sign() -> None:
    assert parse_pairs(["a=1", "b=x=y", "c="], "KEY") == {"a": "1", "b": "x=y", "c": ""}
    for bad in ("novalue", "=1"):
        with pytest.raises(typer.BadParameter, match="is not KEY=VALUE"):
            parse_pairs([bad], "KEY")


def test_read_manifest_by_suffix(tmp_path: Path) -> None:
    body, kind, parsed = read_manifest(REPO / "examples" / "camera-pipeline.yaml")
    assert kind == "application/yaml"
    assert parsed["name"] == "camera-pipeline"
    assert [s["module"] for s in parsed["steps"]] == ["camera", "imginfo"]
    assert parsed["steps"][1]["labels"] == {"role": "edge"}
    assert body == (REPO / "examples" / "camera-pipeline.yaml").read_bytes()
    _, kind, parsed = read_manifest(REPO / "examples" / "fibo.json")
    assert kind == "application/json"
    assert parsed["sequence"][0] == {"device": None, "module": "fibo", "func": "fibo"}
    _, _, parsed = read_manifest(REPO / "examples" / "fibo-cloud.yaml")
    assert parsed["name"] == "fibo"
    assert parsed["steps"][0]["resources"] == {"cpu": "3", "memory": "64Mi"}
    other = tmp_path / "m.yml"
    other.write_text("name: x\nsteps: []\n")
    assert read_manifest(other)[1] == "application/yaml"


def test_read_manifest_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("name: x")
    with pytest.raises(typer.Exit) as exited:
        read_manifest(bad)
    assert exited.value.exit_code == 2
    assert "is not valid JSON (use .yaml or .yml for YAML)" in capsys.readouterr().err
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(typer.Exit):
        read_manifest(binary)
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_the_example_modules_are_found_with_their_deployment_files() -> None:
    names = [name for name, _ in module_files(REPO / "modules")]
    assert {"camera", "fibo", "imginfo", "stamp"} <= set(names)
    assert names == sorted(names)
    describe, files, warnings = plan_upload(REPO / "modules" / "stamp" / "stamp.wasm", None, {})
    assert describe == REPO / "modules" / "stamp" / "description.json"
    assert files == {"prefix.txt": REPO / "modules" / "stamp" / "prefix.txt"}
    assert warnings == []
    _, files, _ = plan_upload(REPO / "modules" / "fibo" / "fibo.wasm", None, {})
    assert files == {}


def test_a_missing_deployment_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "description.json").write_text(
        (REPO / "modules" / "stamp" / "description.json").read_text()
    )
    (tmp_path / "stamp.wasm").write_bytes(b"\0asm")
    describe, files, warnings = plan_upload(tmp_path / "stamp.wasm", None, {})
    assert describe == tmp_path / "description.json" and files == {}
    assert warnings == [
        "the description needs the deployment file 'prefix.txt'; pass --data prefix.txt=PATH"
    ]


def test_deployment_mounts_ignores_other_stages_and_shapes() -> None:
    assert deployment_mounts(None) == []
    assert deployment_mounts({"paths": {"/x": {"get": {"x-mounts": [
        {"name": "a", "stage": "deployment"}, {"name": "b", "stage": "execution"},
    ]}, "parameters": []}}}) == ["a"]  # fmt: skip


def test_every_example_manifest_reads_and_parses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from wasmfleet.core.manifest import parse_manifest

    examples = [*sorted((REPO / "examples").glob("*.y*ml")), REPO / "examples" / "fibo.json"]
    assert len(examples) >= 8
    monkeypatch.delenv("WASMFLEET_CLOUD_BROKER", raising=False)
    with pytest.raises(typer.Exit):  # uplink.yaml needs its variable ...
        read_manifest(REPO / "examples" / "uplink.yaml")
    assert "uses ${WASMFLEET_CLOUD_BROKER}, but WASMFLEET_CLOUD_BROKER is not set" in (
        capsys.readouterr().err
    )
    monkeypatch.setenv("WASMFLEET_CLOUD_BROKER", "mqtt://cloud.example:1883")
    for path in examples:  # ... and then every example is a valid manifest
        _, _, parsed = read_manifest(path)
        manifest = parse_manifest(parsed)
        assert manifest.name and manifest.steps, path
    uplink = parse_manifest(read_manifest(REPO / "examples" / "uplink.yaml")[2])
    assert uplink.steps[0].bridge is not None
    assert uplink.steps[0].bridge.destination == "mqtt://cloud.example:1883"
