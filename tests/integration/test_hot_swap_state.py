"""Module state across a hot swap: fresh by default, carried by the snapshot/restore hooks,
and a swap that cannot carry it (or cannot build) leaves the old version running as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support import FileServer, SupervisorProcess
from tests.swap_modules import counter_module, serve_version, swap_body

Start = Callable[..., SupervisorProcess]
PATH = "/c/modules/ctr/count"


def count(sup: SupervisorProcess) -> int:
    response = sup.get(PATH)
    assert response.status_code == 200, response.text
    return int(response.json()["result"])


def test_state_is_fresh_unless_both_versions_have_the_hooks(
    start_supervisor: Start, tmp_path: Path
) -> None:
    (tmp_path / "served").mkdir()
    with FileServer(tmp_path / "served") as files:
        sup = start_supervisor("state")

        def deploy(label: str, binary: bytes) -> int:
            served = serve_version(files, label, binary, ["count"])
            return sup.deploy(swap_body("c", "ctr", served, ["count"])).status_code

        assert deploy("a", counter_module(0)) == 200
        assert [count(sup) for _ in range(3)] == [1, 2, 3]

        # Both hooks: the count goes on in the new version.
        assert deploy("b", counter_module(100)) == 200
        assert count(sup) == 104

        # The new version has no restore hook: it starts from its initial state.
        assert deploy("plain", counter_module(200, snapshot=False, restore=False)) == 200
        assert count(sup) == 201

        # The old version has no snapshot hook: fresh again, although the new can restore.
        assert deploy("c", counter_module(300)) == 200
        assert count(sup) == 301
        assert sup.get("/api/v1/status").json()["swaps"]["states_carried"] == 1


def test_a_refused_state_or_a_broken_version_leaves_the_old_one_running(
    start_supervisor: Start, tmp_path: Path
) -> None:
    (tmp_path / "served").mkdir()
    with FileServer(tmp_path / "served") as files:
        sup = start_supervisor("refuse")
        good = serve_version(files, "good", counter_module(0), ["count"])
        assert sup.deploy(swap_body("c", "ctr", good, ["count"])).status_code == 200
        assert [count(sup) for _ in range(2)] == [1, 2]
        before = sup.get("/deploy").json()

        refusing = serve_version(
            files, "refusing", counter_module(500, restore_answer=7), ["count"]
        )
        answer = sup.deploy(swap_body("c", "ctr", refusing, ["count"]))
        assert answer.status_code == 422, answer.text
        message = answer.json()["error"]["message"]
        assert "wasmfleet_restore answered 7" in message
        assert "old version keeps running" in message
        assert sup.get("/deploy").json() == before
        assert count(sup) == 3  # the same instance, its state untouched

        broken = files.add("swap/broken.wasm", b"\0asm\x01\0\0\0garbage")
        body = swap_body("c", "ctr", {**good, "binary": broken, "sha256": "0" * 64}, ["count"])
        body["modules"][0].pop("sha256")
        answer = sup.deploy(body)
        assert 400 <= answer.status_code < 500, answer.text
        assert sup.get("/deploy").json() == before
        assert count(sup) == 4

        # A refused swap left nothing half-done: the next one carries the state as usual.
        next_version = serve_version(files, "next", counter_module(1000), ["count"])
        assert sup.deploy(swap_body("c", "ctr", next_version, ["count"])).status_code == 200
        assert count(sup) == 1005
