"""Benchmark executions through the orchestrator against the supervisor answering the same call.

Run ``python bench/executions.py [--seconds S] [--database sqlite|postgresql|both]`` with the
project venv. It prints one JSON object on stdout (progress on stderr); bench/README.md
explains every key.

For each database and each way of writing executions (``grouped``: the default
``--execution-flush``; ``each``: ``--execution-flush 0``, every execution committed before it
is answered, as before issue 18) it starts a real orchestrator and a real supervisor on
loopback, deploys a one-step fibo deployment, and loads, level by level (1 and 16 keep-alive
connections, wrk):

- ``direct``: ``GET /{deployment}/modules/fibo/fibo?iterations=7`` on the supervisor — the
  baseline, measured in the same phase;
- ``orchestrator``: ``POST /api/v1/deployments/bench/execute`` with ``{"iterations": 7}``;
- at 16 connections, ``GET /livez`` on the orchestrator: its cheapest route through the same
  middleware and auth dependency, the ceiling of any route of this process.

After the phase the orchestrator is stopped gracefully and the executions in its database
are counted: every answered execution must be there (``missing`` is 0). CPU seconds used by
the orchestrator and the supervisor during each run are read from /proc.

Everything it starts is stopped in a ``finally`` block and every wait has a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.support importable
    sys.path.insert(0, str(REPO))

from tests.support import (  # noqa: E402
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
)

from loadgen import run_wrk  # noqa: E402  (bench/ is on sys.path as a script)

MODULES = REPO / "modules"
ARG, EXPECTED = 7, "13"
LEVELS = ((1, 1), (16, 2))  # (connections, wrk threads)
MODES = {"grouped": [], "each": ["--execution-flush", "0"]}
TARGETS = {"executions_per_s_c16_min": 2000.0}
NAME = "bench"
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark could not run (a process, a deployment or a wait failed)."""


def say(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_for(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    """Poll ``predicate`` (HTTP errors count as false); BenchError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
            if predicate():
                return
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def fleet(
    root: Path, args: list[str], database_url: str | None
) -> Iterator[tuple[OrchestratorProcess, SupervisorProcess]]:
    """An orchestrator (``args``) and one supervisor registered with it; stopped afterwards."""
    extra = ["--keep-executions", "0", "--keep-executions-for", "0", *args]
    if database_url:
        extra += ["--database-url", database_url]
    orch = OrchestratorProcess(root / "orch", name="orch", args=extra)
    sup = SupervisorProcess(root / "sv-a", name="a", args=["--orchestrator", orch.url])
    try:
        orch.start(60.0)
        sup.start(60.0)
        yield orch, sup
    finally:
        sup.stop()
        orch.stop()


def deploy(http: httpx.Client) -> str:
    """Upload fibo, deploy it on device a as one step; the deployment's id."""
    wait_for(
        "device a to be active",
        lambda: http.get("/api/v1/devices/a").json()["status"] == "active",
        30,
    )
    wasm = (MODULES / "fibo" / "fibo.wasm").read_bytes()
    r = http.post(
        "/file/module",
        data={"name": "fibo"},
        files={"module": ("fibo.wasm", wasm, "application/wasm")},
    )
    if r.status_code != 201:
        raise BenchError(f"uploading fibo: {r.status_code} {r.text[:500]}")
    description, files = description_upload("fibo")
    r = http.post(
        f"/api/v1/modules/{r.json()['id']}/description",
        data={"description": json.dumps(description)},
        files=files or None,
    )
    if r.status_code != 200:
        raise BenchError(f"describing fibo: {r.status_code} {r.text[:500]}")
    manifest = {"name": NAME, "steps": [{"module": "fibo", "function": "fibo", "device": "a"}]}
    r = http.post("/api/v1/deployments", json=manifest, timeout=60.0)
    if r.status_code != 201:
        raise BenchError(f"deploying: {r.status_code} {r.text[:800]}")
    wait_for(
        "the deployment to be active",
        lambda: http.get(f"/api/v1/deployments/{NAME}").json()["status"] == "active",
        60,
    )
    return str(http.get(f"/api/v1/deployments/{NAME}").json()["id"])


def loaded(
    url: str, connections: int, seconds: float, warmup: float, script: Path | None, pids: list[int]
) -> tuple[dict[str, Any], int]:
    """Warm up, then one measured wrk run; the figures (with CPU % of ``pids``) and the number
    of requests answered in both runs."""
    threads = dict(LEVELS)[connections]
    warm = run_wrk(url, connections, threads, max(1, round(warmup)), script=script)
    before = [cpu_seconds(p) for p in pids]
    started = time.monotonic()
    level = run_wrk(url, connections, threads, max(1, round(seconds)), script=script)
    took = time.monotonic() - started
    used = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
    level["cpu_percent"] = [round(100 * u / took, 1) for u in used]
    return level, int(warm["requests"]) + int(level["requests"])


def count_recorded(orch: OrchestratorProcess, database_url: str | None) -> int:
    """How many executions the (stopped) orchestrator's database holds."""
    if database_url:
        import psycopg

        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM executions").fetchone()
            return int(row[0]) if row else 0
    with contextlib.closing(sqlite3.connect(orch.data_dir / "orchestrator.db")) as conn:
        return int(conn.execute("SELECT count(*) FROM executions").fetchone()[0])


def phase(
    root: Path,
    mode: str,
    database_url: str | None,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    """One orchestrator (one mode, one database): direct and orchestrator, level by level."""
    script = root / "execute.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{{\"iterations\": {ARG}}}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out: dict[str, Any] = {}
    answered = 0
    with fleet(root, MODES[mode], database_url) as (orch, sup):
        assert orch.proc is not None and sup.proc is not None
        pids = [orch.proc.pid, sup.proc.pid]
        with httpx.Client(base_url=orch.url, timeout=30.0) as http:
            dep_id = deploy(http)
            direct = f"{sup.url}/{dep_id}/modules/fibo/fibo?iterations={ARG}"
            got = httpx.get(direct, timeout=10.0).json().get("result")
            execute = f"{orch.url}/api/v1/deployments/{NAME}/execute"
            ran = http.post(execute, json={"iterations": ARG}).json()
            answered += 1
            if got != EXPECTED or ran.get("result") != EXPECTED:
                raise BenchError(f"fibo({ARG}) answered {got!r} direct, {ran!r} executed")
            for connections, _ in LEVELS:
                base, _ = loaded(direct, connections, seconds, warmup, None, pids)
                level, done = loaded(execute, connections, seconds, warmup, script, pids)
                answered += done
                level["direct_calls_per_s"] = base["calls_per_s"]
                level["direct_p50_ms"] = base["p50_ms"]
                ratio = level["calls_per_s"] / base["calls_per_s"] if base["calls_per_s"] else 0
                level["executions_over_direct"] = round(ratio, 4)
                level["direct_cpu_percent"] = base["cpu_percent"]
                if connections > 1:  # the floor: the app's cheapest route, same middleware
                    floor, _ = loaded(f"{orch.url}/livez", connections, seconds, warmup, None, pids)
                    level["livez_calls_per_s"] = floor["calls_per_s"]
                out[f"c{connections}"] = level
                say(
                    f"{mode} c={connections}: {level['calls_per_s']:.0f} executions/s "
                    f"(p50 {level['p50_ms']:.2f} ms, p99 {level['p99_ms']:.2f} ms, "
                    f"{level['errors']} errors, cpu orch/sup {level['cpu_percent']} %); "
                    f"direct {base['calls_per_s']:.0f}/s"
                )
    recorded = count_recorded(orch, database_url)
    out["answered"] = answered
    out["recorded"] = recorded
    out["missing"] = max(0, answered - recorded)
    return out


@contextlib.contextmanager
def postgres() -> Iterator[Callable[[], str]]:
    """A throw-away PostgreSQL server (tests/postgres.py); makes a fresh database's URL."""
    from tests.postgres import PostgresServer

    with PostgresServer() as server:
        yield server.create_database


def main() -> int:
    """Run the phases and print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--modes", default="each,grouped", help="comma-separated: each, grouped")
    opts = parser.parse_args()
    modes = [m for m in opts.modes.split(",") if m]
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"unknown modes {unknown}; choose from {sorted(MODES)}")
    databases = ["sqlite", "postgresql"] if opts.database == "both" else [opts.database]
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": opts.seconds,
        "targets": TARGETS,
    }
    with tempfile.TemporaryDirectory(prefix="wf-bench-exec-") as tmp:
        for database in databases:
            with contextlib.ExitStack() as stack:
                fresh = stack.enter_context(postgres()) if database == "postgresql" else None
                for mode in modes:
                    say(f"{database}, executions written {mode}")
                    root = Path(tmp) / f"{database}-{mode}"
                    root.mkdir()
                    url = fresh() if fresh is not None else None  # a fresh database per phase
                    result.setdefault(database, {})[mode] = phase(
                        root, mode, url, opts.seconds, opts.warmup
                    )
    for database in databases:
        grouped = result[database].get("grouped")
        if grouped:
            result[database]["executions_per_s_c16"] = grouped["c16"]["calls_per_s"]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
