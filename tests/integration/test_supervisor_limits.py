"""Runtime limits on a real supervisor: timeouts, memory caps and traps are contained.

A misbehaving module fails its own call with a readable error (``success: false`` and the
error code of the exception tree), its instance keeps working, other deployments keep
answering, and the supervisor process stays up without logging a traceback. Modules
that cannot even start are refused at deploy time with a 4xx.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from tests.support import FileServer, SupervisorProcess, readme_body, wait_until
from wasmfleet.core.errors import CallTimeout, MemoryLimitExceeded, WasmTrap

LIMIT_ARGS = ["--call-timeout", "1", "--memory-limit", "32MiB"]


def _start(tmp: Path, name: str, files: FileServer) -> SupervisorProcess:
    sup = SupervisorProcess(tmp / "data", name=name, args=LIMIT_ARGS).start()
    try:
        answer = sup.deploy(readme_body(files, "fib", "fibo"))
        assert answer.status_code == 200, answer.text
    except BaseException:
        sup.stop()
        raise
    return sup


@pytest.fixture(scope="module")
def limited(
    tmp_path_factory: pytest.TempPathFactory, files: FileServer
) -> Iterator[SupervisorProcess]:
    """A supervisor with a 1 s call timeout and a 32 MiB memory cap, with fibo deployed."""
    sup = _start(tmp_path_factory.mktemp("limits"), "limits", files)
    yield sup
    sup.stop()


@pytest.fixture(scope="module")
def starter(
    tmp_path_factory: pytest.TempPathFactory, files: FileServer
) -> Iterator[SupervisorProcess]:
    """The same limits, for modules that fail while starting (kept apart from the call tests)."""
    sup = _start(tmp_path_factory.mktemp("start"), "start", files)
    yield sup
    sup.stop()


def deploy_faults(sup: SupervisorProcess, files: FileServer, dep_id: str) -> str:
    """Deploy a fresh faults instance; returns the path prefix of its functions."""
    answer = sup.deploy(readme_body(files, dep_id, "faults"))
    assert answer.status_code == 200, answer.text
    return f"/{dep_id}/modules/faults"


def fibo(sup: SupervisorProcess) -> str:
    """fibo(7) on the fibo deployment ("13" when all is well)."""
    answer = sup.get("/fib/modules/fibo/fibo?iterations=7")
    assert answer.status_code == 200, answer.text
    result: str = answer.json()["result"]
    return result


def expect_failure(answer: httpx.Response, code: str, status: int, *words: str) -> dict[str, Any]:
    """A failed call: shared error shape, the code, success false, words in the message."""
    assert "Traceback" not in answer.text
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert body["success"] is False
    error = body["error"]
    assert error["code"] == code, body
    assert error["status"] == status
    for word in words:
        assert word.lower() in error["message"].lower(), f"{word!r} not in {error['message']!r}"
    return body


def history_entry(sup: SupervisorProcess, body: dict[str, Any]) -> dict[str, Any]:
    """The /request-history entry of a call, found in the list by its resultUrl."""
    request_id = body["resultUrl"].rsplit("/", 1)[-1]
    entries = [e for e in sup.get("/request-history").json() if e["request_id"] == request_id]
    assert len(entries) == 1, request_id
    entry: dict[str, Any] = entries[0]
    return entry


def assert_healthy(sup: SupervisorProcess, log_mark: int = 0) -> None:
    """The process is up, /health answers and nothing logged a traceback since ``log_mark``."""
    assert sup.proc is not None and sup.proc.poll() is None, "the supervisor exited"
    assert sup.get("/health").status_code == 200
    with open(sup.log_path, "rb") as log:
        log.seek(log_mark)
        assert b"Traceback" not in log.read()


def log_mark(sup: SupervisorProcess) -> int:
    """Where the supervisor's log ends now."""
    return sup.log_path.stat().st_size


# -- timeouts ------------------------------------------------------------------------------


def test_spin_is_stopped_by_the_timeout_while_others_keep_answering(
    limited: SupervisorProcess, files: FileServer
) -> None:
    mark = log_mark(limited)
    prefix = deploy_faults(limited, files, "spinner")
    spin: dict[str, Any] = {}

    def call_spin() -> None:
        spin["start"] = time.monotonic()
        spin["answer"] = limited.get(f"{prefix}/spin", timeout=30)
        spin["end"] = time.monotonic()

    thread = threading.Thread(target=call_spin, daemon=True)
    thread.start()
    fibo_done: list[float] = []
    deadline = time.monotonic() + 30
    while thread.is_alive() and time.monotonic() < deadline:
        assert fibo(limited) == "13"
        fibo_done.append(time.monotonic())
    thread.join(timeout=30)
    assert not thread.is_alive(), "spin did not answer within 30 s"

    took = spin["end"] - spin["start"]
    assert 1.0 <= took < 15, f"spin took {took:.2f} s with a 1 s call timeout"
    body = expect_failure(spin["answer"], "timeout", CallTimeout.status, "1 s", "limit", "stopped")
    assert "spin" in body["error"]["message"]
    entry = history_entry(limited, body)
    assert entry["success"] is False
    assert entry["function_name"] == "spin"
    assert httpx.get(body["resultUrl"], timeout=10).json()["success"] is False

    during = [t for t in fibo_done if t < spin["end"]]
    assert len(during) >= 5, f"only {len(during)} fibo calls finished while spin ran"
    assert limited.get(f"{prefix}/ok").json()["result"] == "7"  # the instance still works
    assert_healthy(limited, mark)


# -- memory --------------------------------------------------------------------------------


@pytest.mark.parametrize("mib_step", [1, 8])
def test_hog_hits_the_memory_cap(
    limited: SupervisorProcess, files: FileServer, mib_step: int
) -> None:
    mark = log_mark(limited)
    prefix = deploy_faults(limited, files, f"hog{mib_step}")
    started = time.monotonic()
    answer = limited.get(f"{prefix}/hog?mib_step={mib_step}", timeout=30)
    assert time.monotonic() - started < 15
    body = expect_failure(answer, "memory_limit", MemoryLimitExceeded.status, "32 MiB", "limit")
    assert history_entry(limited, body)["success"] is False
    assert fibo(limited) == "13"
    ok = limited.get(f"{prefix}/ok")
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"] == "7"
    assert_healthy(limited, mark)


# -- traps ---------------------------------------------------------------------------------

TRAPS = {
    "crash": ("crash", ("unreachable",)),
    "divide": ("divide?a=1&b=0", ("divide by zero",)),
    "overflow": ("divide?a=-2147483648&b=-1", ("overflow",)),
    "recurse": ("recurse?n=0", ("stack",)),
}


@pytest.mark.parametrize("case", TRAPS, ids=list(TRAPS))
def test_trap_is_reported_and_the_instance_survives(
    limited: SupervisorProcess, files: FileServer, case: str
) -> None:
    mark = log_mark(limited)
    prefix = deploy_faults(limited, files, f"trap-{case}")
    call, words = TRAPS[case]
    for _ in range(2):  # a second trap on the same instance is reported the same way
        answer = limited.get(f"{prefix}/{call}", timeout=30)
        body = expect_failure(answer, "trap", WasmTrap.status, *words)
        assert history_entry(limited, body)["success"] is False
        ok = limited.get(f"{prefix}/ok")
        assert ok.status_code == 200, ok.text
        assert ok.json()["result"] == "7"
    assert fibo(limited) == "13"
    assert_healthy(limited, mark)


@pytest.mark.parametrize("case", ["crash", "divide"])
def test_trap_after_hitting_the_memory_cap_is_still_a_trap(
    limited: SupervisorProcess, files: FileServer, case: str
) -> None:
    """Once hog has grown memory to the cap, a later unrelated trap is not a memory error."""
    prefix = deploy_faults(limited, files, f"hogtrap-{case}")
    hog = limited.get(f"{prefix}/hog?mib_step=4", timeout=30)
    expect_failure(hog, "memory_limit", MemoryLimitExceeded.status, "32 MiB")
    call, words = TRAPS[case]
    expect_failure(limited.get(f"{prefix}/{call}", timeout=30), "trap", WasmTrap.status, *words)


def test_supervisor_survives_all_of_it(limited: SupervisorProcess, files: FileServer) -> None:
    """After every fault above (and one more round here) it is up, and its log is clean."""
    prefix = deploy_faults(limited, files, "survive")
    for call in ("hog?mib_step=16", "crash", "divide?a=1&b=0", "recurse?n=0"):
        assert limited.get(f"{prefix}/{call}", timeout=30).json()["success"] is False
    assert limited.get(f"{prefix}/ok").json()["result"] == "7"
    assert fibo(limited) == "13"
    assert wait_until(lambda: limited.get("/health").status_code == 200, timeout=5)
    assert_healthy(limited, 0)


# -- modules that cannot start -------------------------------------------------------------


def _custom_deploy(
    sup: SupervisorProcess, files: FileServer, name: str, wat: str
) -> httpx.Response:
    url = files.add(f"start/{name}.wasm", bytes(wasmtime.wat2wasm(wat)))
    body = {
        "deploymentId": "fib",  # replacing the live fibo deployment must fail and keep it
        "modules": [{"id": name, "name": name, "urls": {"binary": url, "other": []}}],
        "instructions": {"modules": {}},
    }
    return sup.deploy(body, timeout=30)


START_FAILURES = {
    "memory-over-cap": (
        '(module (memory (export "memory") 1024) (func (export "f") (result i32) i32.const 1))',
        ("memory", "32 MiB"),
    ),
    "start-traps": (
        '(module (func $s unreachable) (start $s) (func (export "f") (result i32) i32.const 1))',
        ("unreachable",),
    ),
    "start-never-returns": (
        '(module (func $s (loop br 0)) (start $s) (func (export "f") (result i32) i32.const 1))',
        ("1 s",),
    ),
    "initialize-traps": (
        '(module (memory (export "memory") 1) (func (export "_initialize") unreachable)'
        ' (func (export "f") (result i32) i32.const 1))',
        ("_initialize", "unreachable"),
    ),
}


@pytest.mark.parametrize("case", START_FAILURES, ids=list(START_FAILURES))
def test_module_that_cannot_start_is_refused_at_deploy(
    starter: SupervisorProcess, files: FileServer, case: str
) -> None:
    mark = log_mark(starter)
    before = starter.get("/deploy").json()
    wat, words = START_FAILURES[case]
    started = time.monotonic()
    answer = _custom_deploy(starter, files, case.replace("-", "_"), wat)
    assert time.monotonic() - started < 15
    assert "Traceback" not in answer.text
    assert 400 <= answer.status_code < 500, f"{answer.status_code} {answer.text}"
    error = answer.json()["error"]
    assert error["status"] == answer.status_code
    for word in words:
        assert word.lower() in error["message"].lower(), error["message"]
    assert starter.get("/deploy").json() == before
    assert fibo(starter) == "13"
    assert_healthy(starter, mark)
