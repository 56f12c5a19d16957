"""Deployments survive restarts, including SIGKILL; compiled modules are cached."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.integration.test_supervisor_files_chain import orchestrator_stamp
from tests.support import FileServer, SupervisorProcess, readme_body

Start = Callable[..., SupervisorProcess]


def runtime_stats(sup: SupervisorProcess) -> dict[str, int]:
    stats: dict[str, int] = sup.get("/api/v1/status").json()["runtime"]
    return stats


def test_deployments_survive_sigkill(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    data = tmp_path / "persist"
    sup = start_supervisor("persist", data_dir=data)
    assert sup.deploy(readme_body(files, "0", "fibo", name="fiboMod")).status_code == 200
    assert sup.deploy(readme_body(files, "c", "counter")).status_code == 200
    assert sup.deploy(orchestrator_stamp(files, "st")).status_code == 200
    assert sup.get("/c/modules/counter/count").json()["result"] == "1"
    before = sup.get("/deploy").json()

    sup.kill()  # SIGKILL: no shutdown code runs
    again = start_supervisor("persist", data_dir=data, port=sup.port)

    assert again.get("/deploy").json() == before
    assert again.get("/0/modules/fiboMod/fibo?iterations=7").json()["result"] == "13"
    # Module memory is not persisted: a restarted instance starts from its initial state.
    assert again.get("/c/modules/counter/count").json()["result"] == "1"
    stamped = again.post("/st/modules/stamp/stamp", files={"input.txt": ("i", b"after")})
    assert stamped.status_code == 200, stamped.text
    assert again.get("/module_results/stamp/output.txt").content == b"stamped by wasmfleet: AFTER"
    assert runtime_stats(again)["compiled"] == 0  # every module came from the disk cache
    assert runtime_stats(again)["disk_cache_hits"] == 3


def test_redeploying_a_cached_module_does_not_recompile(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("cache")
    assert sup.deploy(readme_body(files, "a", "fibo")).status_code == 200
    assert runtime_stats(sup)["compiled"] == 1
    assert sup.deploy(readme_body(files, "b", "fibo")).status_code == 200
    assert sup.deploy(readme_body(files, "a", "fibo")).status_code == 200  # replace in place
    stats = runtime_stats(sup)
    assert stats["compiled"] == 1
    assert stats["memory_cache_hits"] == 2


def test_replacing_a_deployment_swaps_it_whole(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("swap")
    assert sup.deploy(readme_body(files, "x", "fibo")).status_code == 200
    assert sup.deploy(readme_body(files, "x", "counter")).status_code == 200
    assert sup.get("/x/modules/counter/count").json()["result"] == "1"
    assert sup.get("/x/modules/fibo/fibo?iterations=3").status_code == 404
