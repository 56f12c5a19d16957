"""/api/v1/apps on a real orchestrator: manifests and bundles publish versions; a refused
upload (a missing module, bad Wasm, a stray file) stores nothing, neither app nor module."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator

import httpx
import pytest
import yaml

from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES

FIB_APP = {
    "name": "fib-app",
    "description": "Fibonacci numbers, as an app.",
    "parameters": {"n": {"type": "int 0..40", "default": 10}},
    "needs": {"logic": {"module": "fibo"}},
    "steps": [{"module": "logic", "function": "fibo"}],
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("apps")) as running:
        running.push("fibo")
        yield running


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["status"] == status and len(error["message"]) > 20
    return str(error["message"])


def _yaml(doc: object) -> bytes:
    return yaml.safe_dump(doc).encode()


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _publish(fleet: Fleet, body: bytes, media: str = "application/yaml") -> httpx.Response:
    return fleet.http.post("/api/v1/apps", content=body, headers={"content-type": media})


def _names(fleet: Fleet) -> set[str]:
    return {a["name"] for a in fleet.http.get("/api/v1/apps").json()}


def _modules(fleet: Fleet) -> set[str]:
    return {m["name"] for m in fleet.http.get("/api/v1/modules").json()}


def test_a_manifest_publishes_versions_pinning_its_modules(fleet: Fleet) -> None:
    r = _publish(fleet, _yaml(FIB_APP))
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["key"] == "fib-app@1" and app["created"] is True
    assert app["modules"] == {"logic": "fibo@1"}
    assert app["parameters"] == {"n": {"type": "int 0..40", "default": 10, "required": False}}
    assert app["installs"] == 0 and app["steps"] == FIB_APP["steps"]
    again = _publish(fleet, _yaml(FIB_APP))
    assert again.status_code == 200 and again.json()["key"] == "fib-app@1"
    changed = _publish(fleet, _yaml({**FIB_APP, "description": "Changed."}))
    assert changed.status_code == 201 and changed.json()["key"] == "fib-app@2"
    assert fleet.http.get("/api/v1/apps/fib-app").json()["version"] == 2
    assert fleet.http.get("/api/v1/apps/fib-app@1").json()["description"].startswith("Fib")
    versions = fleet.http.get("/api/v1/apps/fib-app/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    listed = {a["key"] for a in fleet.http.get("/api/v1/apps?all=true").json()}
    assert {"fib-app@1", "fib-app@2"} <= listed


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({**FIB_APP, "name": "no-mod", "needs": {"logic": {"module": "nothing"}}}, "'nothing'"),
        ({**FIB_APP, "name": "bad-ver", "needs": {"logic": {"module": "fibo@9"}}}, "fibo@9"),
        ({**FIB_APP, "name": "bad-need", "needs": {"x": {"gadget": "y"}}}, "exactly one of"),
        ({**FIB_APP, "name": "bad-step", "steps": [{"module": "zz", "function": "f"}]}, "zz"),
        ({**FIB_APP, "name": "bad-param", "parameters": {"n": "int 5..1"}}, "n"),
        ([1, 2], "not a list"),
    ],
)
def test_bad_manifests_are_refused_and_nothing_is_stored(
    fleet: Fleet, doc: object, needle: str
) -> None:
    before = _names(fleet)
    assert needle in _error(_publish(fleet, _yaml(doc)), 400)
    assert _names(fleet) == before


def test_not_yaml_at_all_is_a_sentence(fleet: Fleet) -> None:
    assert "line" in _error(_publish(fleet, b"name: [unclosed"), 400)
    assert "YAML or JSON" in _error(_publish(fleet, b"\xff\xfe\x00"), 400)


def test_a_bundle_pushes_its_modules_and_the_app_together(fleet: Fleet) -> None:
    counter = (MODULES / "counter" / "counter.wasm").read_bytes()
    doc = {
        "name": "bundled-app",
        "needs": {"logic": {"module": "bundled-counter"}, "fib": {"module": "fibo"}},
        "steps": [{"module": "logic", "function": "get"}],
    }
    r = _publish(
        fleet,
        _tar({"app.yaml": _yaml(doc), "bundled-counter.wasm": counter}),
        "application/gzip",
    )
    assert r.status_code == 201, r.text
    assert r.json()["modules"] == {"logic": "bundled-counter@1", "fib": "fibo@1"}
    assert len(r.json()["pushed"]) == 1 and "bundled-counter version 1" in r.json()["pushed"][0]
    assert "bundled-counter" in _modules(fleet)


def test_a_zip_bundle_in_a_top_folder_works(fleet: Fleet) -> None:
    doc = {**FIB_APP, "name": "zipped", "needs": {"logic": {"module": "zipfib"}}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("zipped/app.yaml", _yaml(doc))
        archive.writestr("zipped/zipfib.wasm", (MODULES / "fibo" / "fibo.wasm").read_bytes())
    r = _publish(fleet, buf.getvalue(), "application/zip")
    assert r.status_code == 201, r.text
    assert r.json()["modules"] == {"logic": "zipfib@1"}


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"app.yaml": "WASM", "broken.wasm": b"\0asm\x01\0\0\0\xff"}, "not a valid WebAssembly"),
        ({"app.yaml": "WASM", "broken.wasm": b"hello"}, "not WebAssembly"),
        ({"app.yaml": "WASM", "broken.wasm": "FIBO", "stray.wasm": "FIBO"}, "stray.wasm"),
        ({"broken.wasm": "FIBO"}, "exactly one app.yaml"),
        ({"app.yaml": "WASM", "broken.wasm": "FIBO", "broken.json": b"{"}, "not valid JSON"),
        ({"app.yaml": "WASM", "broken.wasm": "FIBO", "other.json": b"{}"}, "other.wasm"),
        ({"app.yaml": "WASM", "broken.wasm": "FIBO", "broken.json": b'{"nope": {}}'}, "nope"),
    ],
)
def test_bad_bundles_store_nothing(fleet: Fleet, files: dict[str, object], needle: str) -> None:
    fibo = (MODULES / "fibo" / "fibo.wasm").read_bytes()
    doc = {**FIB_APP, "name": "broken-app", "needs": {"logic": {"module": "broken"}}}
    real = {
        name: _yaml(doc) if data == "WASM" else fibo if data == "FIBO" else data
        for name, data in files.items()
    }
    before = _modules(fleet)
    r = _publish(fleet, _tar(real), "application/gzip")  # type: ignore[arg-type]
    assert needle in _error(r, 422 if "WebAssembly" in needle else 400)
    assert "broken-app" not in _names(fleet)
    assert _modules(fleet) == before


def test_a_bundle_that_is_not_an_archive_is_a_sentence(fleet: Fleet) -> None:
    r = _publish(fleet, b"\x1f\x8bnot really gzip", "application/gzip")
    assert "tar.gz" in _error(r, 400)


def test_deleting_apps(fleet: Fleet) -> None:
    doc = {**FIB_APP, "name": "doomed"}
    assert _publish(fleet, _yaml(doc)).status_code == 201
    assert _publish(fleet, _yaml({**doc, "description": "2"})).status_code == 201
    assert fleet.http.delete("/api/v1/apps/doomed@1").status_code == 204
    assert [v["version"] for v in fleet.http.get("/api/v1/apps/doomed/versions").json()] == [2]
    assert fleet.http.delete("/api/v1/apps/doomed").status_code == 204
    assert "No app 'doomed'" in _error(fleet.http.get("/api/v1/apps/doomed"), 404)
    assert "No app" in _error(fleet.http.delete("/api/v1/apps/doomed"), 404)
