"""Module versions end to end: push versions, pin them, update the copies of a deployment
on real supervisors (same epoch), refuse versions that cannot work with nothing changed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import wasmtime

from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES, wait_until

FIBO_V2 = bytes(
    wasmtime.wat2wasm(  # same export, other answer: n + 1000
        '(module (memory (export "memory") 1)'
        ' (func (export "fibo") (param i64) (result i64) local.get 0 i64.const 1000 i64.add))'
    )
)
NO_FIBO = bytes(
    wasmtime.wat2wasm('(module (func (export "other") (param i64) (result i64) local.get 0))')
)
NEEDS_GPIO = bytes(
    wasmtime.wat2wasm(
        '(module (import "gpio" "write" (func $w (param i32)))'
        ' (func (export "fibo") (param i64) (result i64) i32.const 1 call $w local.get 0))'
    )
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("versions"), ("a", []), ("b", [])) as running:
        running.push("fibo")
        yield running


def push(fleet: Fleet, wasm: bytes, name: str = "fibo", **fields: str) -> httpx.Response:
    files = {"wasm": (f"{name}.wasm", wasm, "application/wasm")}
    return fleet.http.post("/api/v1/modules", data={"name": name, **fields}, files=files)


def run(fleet: Fleet, deployment: str, iterations: int = 6) -> list[str]:
    r = fleet.http.post(
        f"/api/v1/deployments/{deployment}/execute", json={"args": {"iterations": iterations}}
    )
    assert r.status_code == 200, r.text
    return [s["result"] for s in r.json()["steps"]]


def update(fleet: Fleet, deployment: str, module: str, *devices: str) -> httpx.Response:
    body: dict[str, Any] = {"module": module}
    if devices:
        body["devices"] = list(devices)
    return fleet.http.post(f"/api/v1/deployments/{deployment}/update", json=body)


def test_versions_pins_and_updating_copies(fleet: Fleet) -> None:
    manifest = {
        "name": "pair",
        "steps": [
            {"module": "fibo@1", "function": "fibo", "device": "a"},
            {"module": "fibo", "function": "fibo", "device": "b"},
        ],
    }
    r = fleet.http.post("/api/v1/deployments", json=manifest)
    assert r.status_code == 201, r.text
    dep = r.json()
    assert [s["version"] for s in dep["plan"]["steps"]] == [1, 1]
    epoch = dep["epoch"]
    assert run(fleet, "pair") == ["8", "21"]  # fibo(6), fibo(8)

    r = push(fleet, FIBO_V2, note="adds 1000", created_by="ann")
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert (v2["version"], v2["created"], v2["note"], v2["created_by"]) == (
        2,
        True,
        "adds 1000",
        "ann",
    )
    assert "inherited from version 1" in v2["message"] and v2["functions"] == ["fibo"]
    again = push(fleet, FIBO_V2)
    assert again.status_code == 200 and again.json()["id"] == v2["id"]

    # One device first: b answers with version 2, a keeps version 1 and is not fenced.
    r = update(fleet, "pair", "fibo@2", "b")
    assert r.status_code == 200, r.text
    assert r.json()["devices"] == {
        "b": {"ok": True, "status": 200, "message": "deployed", "from_version": 1, "to_version": 2}
    }
    assert run(fleet, "pair") == ["8", "1008"]
    dep = fleet.http.get("/api/v1/deployments/pair").json()
    assert dep["epoch"] == epoch
    assert [(s["device"], s["version"]) for s in dep["plan"]["steps"]] == [("a", 1), ("b", 2)]

    # Refusals: nothing changes anywhere.
    assert push(fleet, NO_FIBO).json()["version"] == 3
    r = update(fleet, "pair", "fibo@3")
    assert r.status_code == 400 and "lacks function 'fibo'" in r.json()["error"]["message"]
    assert push(fleet, NEEDS_GPIO).json()["version"] == 4
    r = update(fleet, "pair", "fibo@4")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["reasons"] == {"a": "a lacks gpio.write", "b": "b lacks gpio.write"}
    r = update(fleet, "pair", "fibo@9")
    assert r.status_code == 404 and "versions: 1-4" in r.json()["error"]["message"]
    r = update(fleet, "pair", "fibo@2", "nowhere")
    assert r.status_code == 400 and "nowhere" in r.json()["error"]["message"]
    assert run(fleet, "pair") == ["8", "1008"]
    assert fleet.http.get("/api/v1/deployments/pair").json()["plan"] == dep["plan"]

    # Then every copy.
    r = update(fleet, "pair", "fibo@2")
    assert r.status_code == 200, r.text
    assert {n: a["to_version"] for n, a in r.json()["devices"].items()} == {"a": 2, "b": 2}
    assert run(fleet, "pair") == ["1006", "2006"]
    assert fleet.http.get("/api/v1/deployments/pair").json()["epoch"] == epoch

    # History says who uses what; the list shows the latest with the count.
    history = fleet.http.get("/api/v1/modules/fibo/versions").json()
    assert [(v["version"], v["deployments"]) for v in history] == [
        (4, []),
        (3, []),
        (2, ["pair"]),
        (1, []),
    ]
    latest = {m["name"]: m for m in fleet.http.get("/api/v1/modules").json()}
    assert (latest["fibo"]["version"], latest["fibo"]["versions"]) == (4, 4)
    assert fleet.http.get("/api/v1/modules/fibo@2").json()["id"] == v2["id"]


def test_a_pinned_version_that_does_not_exist_names_those_that_do(fleet: Fleet) -> None:
    manifest = {"name": "ghost", "steps": [{"module": "fibo@77", "function": "fibo"}]}
    r = fleet.http.post("/api/v1/deployments", json=manifest)
    assert r.status_code == 400, r.text
    assert "no version 77 (versions: 1" in r.json()["error"]["message"]


def test_retention_keeps_versions_in_use_and_the_newest(tmp_path: Any) -> None:
    with running_fleet(tmp_path, orchestrator_args=["--keep-module-versions", "2"]) as fleet:
        ids = []
        for n in range(4):
            wasm = FIBO_V2 + bytes([0, 3, 2]) + b"v" + bytes([48 + n])  # a custom section
            r = push(fleet, wasm, name="keep")
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        history = fleet.http.get("/api/v1/modules/keep/versions").json()
        assert [v["version"] for v in history] == [4, 3]
        assert "pruned old version(s) 2" in r.json()["message"]
        for gone in ids[:2]:
            assert fleet.http.get(f"/api/v1/modules/{gone}").status_code == 404


def test_the_dev_loop_pushes_and_updates_each_save(fleet: Fleet, tmp_path: Any) -> None:
    from wasmfleet.cli.client import Client
    from wasmfleet.cli.dev import DevLoop

    fleet.push("fibo", name="devmod")
    manifest = {"name": "devdep", "steps": [{"module": "devmod", "function": "fibo"}]}
    assert fleet.http.post("/api/v1/deployments", json=manifest).status_code == 201
    assert run(fleet, "devdep") == ["8"]
    wasm = tmp_path / "devmod.wasm"
    wasm.write_bytes((MODULES / "fibo" / "fibo.wasm").read_bytes())
    lines: list[str] = []
    stop = threading.Event()
    with Client(fleet.url) as api:
        loop = DevLoop(api, wasm, "devdep", "devmod", echo=lines.append)
        worker = threading.Thread(target=loop.run, args=(stop, [tmp_path], 2), daemon=True)
        worker.start()
        time.sleep(0.5)  # let the watcher start
        wasm.write_bytes(FIBO_V2)
        assert wait_until(lambda: len(lines) >= 1, timeout=20), lines
        wasm.write_bytes(FIBO_V2 + b"\x00\x03\x02v3")
        worker.join(timeout=30)
        stop.set()
    assert not worker.is_alive() and len(lines) == 2, lines
    assert lines[0].startswith("v2 ") and "ok" in lines[0] and lines[0].endswith(" ms"), lines
    assert lines[1].startswith("v3 "), lines
    dep = fleet.http.get("/api/v1/deployments/devdep").json()
    assert [s["version"] for s in dep["plan"]["steps"]] == [3]
    assert run(fleet, "devdep") == ["1006"]
