"""bench/scale.py's fleet: one or more orchestrators on one database, the device simulator
spread over them, and the two phases that need several orchestrators (leader failover with
healing under way; executions through one and through two orchestrators).

Kept apart from bench/scale.py's timing phases so each file reads in one sitting.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):  # run as a script: tests.* and bench/ siblings
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.sim_support import SimProcess  # noqa: E402
from tests.support import OrchestratorProcess, SupervisorProcess, wait_until  # noqa: E402

from executions import ARG, EXPECTED, deploy, loaded  # noqa: E402
from loadgen import run_wrk  # noqa: E402

MOVED_STEPS = 3
"""Single-step deployments whose devices die together with the leader (``double_moves``)."""


def progress(message: str) -> None:
    """A progress line on stderr."""
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def wait_for(check: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> float:
    """Seconds until ``check()`` held; RuntimeError naming ``what`` after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    raise RuntimeError(f"{what}: not within {timeout:g} s")


def active_names(http: httpx.Client) -> set[str]:
    """Names of the devices the orchestrator lists as active."""
    return {d["name"] for d in http.get("/api/v1/devices").json() if d["status"] == "active"}


def heartbeats_counted(http: httpx.Client) -> float:
    """The orchestrator's own heartbeat counter (its /metrics)."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("wasmfleet_heartbeats_total "):
            return float(line.rsplit(" ", 1)[1])
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deaths_since(http: httpx.Client, names: list[str], since: datetime) -> dict[str, int]:
    """Devices with a ``dead`` status-log entry at or after ``since``, and how many."""
    found: dict[str, int] = {}
    for name in names:
        log = http.get(f"/api/v1/devices/{name}").json().get("status_log", [])
        dead = [
            e for e in log if e["status"] == "dead" and datetime.fromisoformat(e["time"]) >= since
        ]
        if dead:
            found[name] = len(dead)
    return found


def leads(orch: OrchestratorProcess, timeout: float = 2.0) -> bool:
    """Whether the orchestrator says it leads (``wasmfleet_leader`` in its /metrics: cheap at
    1,000 devices, where /api/v1/status lists every device)."""
    try:
        text = orch.get("/metrics", timeout=timeout).text
    except httpx.HTTPError:
        return False
    return any(line == "wasmfleet_leader 1.0" for line in text.splitlines())


class Cluster:
    """``--orchestrators`` orchestrator processes on one database (SQLite when alone)."""

    def __init__(self, root: Path, args: argparse.Namespace, database_url: str | None) -> None:
        extra = ["--keep-executions", "0", "--keep-executions-for", "0"]
        if database_url:
            extra += ["--database-url", database_url]
        self.orchs = [
            OrchestratorProcess(root / f"orch-{i}", name=f"orch-{i}", args=extra)
            for i in range(1, args.orchestrators + 1)
        ]
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.args = args
        self.sim: SimProcess | None = None

    @property
    def alive(self) -> list[OrchestratorProcess]:
        """The orchestrators still running."""
        return [o for o in self.orchs if o.proc is not None and o.proc.poll() is None]

    @property
    def api(self) -> OrchestratorProcess:
        """An orchestrator to ask (any answers any request)."""
        return self.alive[0]

    def start(self) -> None:
        """Start every orchestrator; with several, wait until one leads."""
        with ThreadPoolExecutor(len(self.orchs)) as pool:
            list(pool.map(lambda o: o.start(60.0), self.orchs))
        if len(self.orchs) > 1 and not wait_until(lambda: self.leader() is not None, 30, 0.1):
            raise RuntimeError("no orchestrator took the lead within 30 s")

    def leader(self, timeout: float = 2.0) -> OrchestratorProcess | None:
        """The orchestrator that leads now, if one answers that it does."""
        return next((o for o in self.alive if leads(o, timeout)), None)

    def start_devices(self, count: int) -> float | None:
        """``count`` simulated devices spread over the orchestrators; seconds until every one
        is listed active (None: not within ``--register-timeout``, measured as far as it got)."""
        self.sim = SimProcess(
            self.root / f"sim-{count}",
            name=f"sim-{count}",
            orchestrator_url=[o.url for o in self.orchs],
            count=count,
            args=["--heartbeat", str(self.args.heartbeat)],
        )
        started = time.monotonic()
        self.sim.start()
        with httpx.Client(base_url=self.api.url, timeout=60.0) as http:
            deadline = started + self.args.register_timeout
            while time.monotonic() < deadline:
                if len(sim_active(http)) >= count:
                    return time.monotonic() - started
                time.sleep(0.5)
            progress(f"{len(sim_active(http))} of {count} active after the timeout, going on")
        return None

    def pids(self) -> list[int]:
        """Process ids of the running orchestrators."""
        return [o.proc.pid for o in self.alive if o.proc is not None]

    def stop(self) -> None:
        """Stop the simulator and every orchestrator."""
        if self.sim is not None:
            self.sim.stop()
        for orch in self.orchs:
            orch.stop()


def sim_active(http: httpx.Client) -> set[str]:
    """Names of the simulated devices listed active."""
    return {
        d["name"]
        for d in http.get("/api/v1/devices").json()
        if d["status"] == "active" and d["name"].startswith("sim-")
    }


def executions(cluster: Cluster, seconds: float) -> dict[str, Any]:
    """A real supervisor, a one-step fibo deployment on it, executions at c = 16 through one
    orchestrator, then 8 + 8 connections through two (a round-robin over connections), and
    the supervisor answering the same call directly (the baseline, same run)."""
    first = cluster.orchs[0]
    sup = SupervisorProcess(cluster.root / "sv-a", name="a", args=["--orchestrator", first.url])
    script = cluster.root / "execute.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{{\"iterations\": {ARG}}}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out: dict[str, Any] = {}
    try:
        sup.start(60.0)
        assert sup.proc is not None
        with httpx.Client(base_url=first.url, timeout=30.0) as http:
            dep_id = deploy(http)
        direct = f"{sup.url}/{dep_id}/modules/fibo/fibo?iterations={ARG}"
        urls = [f"{o.url}/api/v1/deployments/bench/execute" for o in cluster.orchs]
        for url in urls:  # every orchestrator executes it, and right
            answer = httpx.post(url, json={"iterations": ARG}, timeout=30.0).json()
            if answer.get("result") != EXPECTED:
                raise RuntimeError(f"fibo({ARG}) through {url} answered {answer!r}")
        pids = [*cluster.pids(), sup.proc.pid]
        base, _ = loaded(direct, 16, seconds, 1.0, None, pids)
        one, _ = loaded(urls[0], 16, seconds, 1.0, script, pids)
        out["executions_per_s"] = round(one["calls_per_s"])
        out["executions_one"] = one
        out["direct_calls_per_s"] = round(base["calls_per_s"])
        progress(f"executions c=16 through one: {one['calls_per_s']:.0f}/s")
        if len(urls) > 1:
            for url in urls:  # warm both
                run_wrk(url, 8, 1, 1, script=script)
            with ThreadPoolExecutor(len(urls)) as pool:
                runs = list(
                    pool.map(
                        lambda u: run_wrk(
                            u, 16 // len(urls), 1, max(1, round(seconds)), script=script
                        ),
                        urls,
                    )
                )
            out["executions_per_s_two"] = round(sum(r["calls_per_s"] for r in runs))
            out["executions_two"] = [
                {k: r[k] for k in ("calls_per_s", "p50_ms", "p99_ms", "errors")} for r in runs
            ]
            progress(f"executions c=8+8 through two: {out['executions_per_s_two']}/s")
    finally:
        sup.stop()
    return out


def _single_steps(http: httpx.Client) -> dict[str, str]:
    """Deploy MOVED_STEPS one-step deployments (placed by the solver); name -> device."""
    placed: dict[str, str] = {}
    for i in range(1, MOVED_STEPS + 1):
        name = f"single-{i}"
        manifest = {"name": name, "steps": [{"module": "fibo", "function": "fibo"}]}
        r = http.post("/api/v1/deployments", json=manifest, timeout=60.0)
        if r.status_code != 201:
            raise RuntimeError(f"deploying {name}: {r.status_code} {r.text[:300]}")
        placed[name] = str(r.json()["plan"]["steps"][0]["device"])
    return placed


def failover(cluster: Cluster, others: list[str]) -> dict[str, Any]:
    """SIGKILL the leader together with the devices of MOVED_STEPS single-step deployments:
    ``leader_failover_s`` until another orchestrator leads; the new leader must detect those
    devices and move each step exactly once (``double_moves``), and declare none of
    ``others`` (devices that kept heartbeating) dead."""
    assert cluster.sim is not None
    old = None
    deadline = time.monotonic() + 60  # a busy leader (healing 10 deaths) may answer late
    while old is None and time.monotonic() < deadline:
        old = cluster.leader(10.0)
    if old is None:
        raise RuntimeError("no orchestrator answered that it leads within 60 s (failover phase)")
    survivor = next(o for o in cluster.alive if o is not old)
    with httpx.Client(base_url=survivor.url, timeout=60.0) as http:
        placed = _single_steps(http)
        victims = sorted(set(placed.values()))
        progress(f"SIGKILL the leader {old.name} and devices {', '.join(victims)}")
        since = datetime.now(UTC)
        cluster.sim.command_devices("kill", victims).raise_for_status()
        old.kill()
        started = time.monotonic()
        asked = {"requests": 0, "failed": 0}

        def leading() -> bool:  # the survivor's API is asked all along: it must answer
            asked["requests"] += 1
            try:
                answer = http.get("/metrics", timeout=5.0)
            except httpx.HTTPError:
                asked["failed"] += 1
                return False
            asked["failed"] += answer.status_code != 200
            return "wasmfleet_leader 1.0" in answer.text.splitlines()

        took = wait_until(leading, 30, 0.02)
        failover_s = time.monotonic() - started

        def healed() -> bool:
            for name, device in placed.items():
                dep = http.get(f"/api/v1/deployments/{name}").json()
                steps = (dep.get("plan") or {}).get("steps", [])
                if dep.get("status") != "active" or not steps or steps[0]["device"] == device:
                    return False
            return True

        healed_in = wait_until(healed, 60, 0.1)
        healed_s = time.monotonic() - started
        moves: collections.Counter[tuple[str, int, str]] = collections.Counter()
        stray = 0
        for name, device in placed.items():
            for move in http.get(f"/api/v1/deployments/{name}").json().get("moves", []):
                moves[(name, int(move["step"]), str(move["from"]))] += 1
                stray += move["from"] != device
        false = deaths_since(http, [n for n in others if n not in victims], since)
    return {
        "leader_failover_s": round(failover_s, 3) if took else None,
        "old_leader": old.name,
        "new_leader": survivor.name,
        "failover_devices_killed": victims,
        "failover_healed_s": round(healed_s, 3) if healed_in else None,
        "failover_api_requests": asked["requests"],
        "failover_api_failed": asked["failed"],
        "double_moves": sum(n - 1 for n in moves.values() if n > 1) + stray,
        "moves_recorded": sum(moves.values()),
        "false_detections_failover": sum(false.values()),
        "falsely_dead_failover": sorted(false),
    }


def median_or_none(values: list[float]) -> float | None:
    """The median rounded to ms, or None for no values."""
    return round(statistics.median(values), 3) if values else None


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[Callable[[], str | None]]:
    """What makes each cluster's database URL: ``--database-url`` (the same one each time),
    else a fresh database on a throw-away PostgreSQL for several orchestrators, else None
    (SQLite in the orchestrator's data dir)."""
    if args.database_url or args.orchestrators == 1:
        yield lambda: args.database_url
        return
    from tests.postgres import PostgresError, PostgresServer

    try:
        server = PostgresServer()
        server.__enter__()
    except PostgresError as err:
        raise RuntimeError(f"{err} (several orchestrators need PostgreSQL)") from None
    try:
        yield server.create_database
    finally:
        server.__exit__(None, None, None)
