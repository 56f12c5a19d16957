"""Benchmark scale: a thousand simulated devices against two orchestrators on one PostgreSQL.

Run ``python bench/scale.py [--devices 1000] [--orchestrators 2] [--quick]`` with the project
venv. It prints one JSON object on stdout (progress goes to stderr); bench/README.md explains
every key. It starts a throw-away PostgreSQL (tests/postgres.py; ``--database-url`` to use
another, ``--orchestrators 1`` for one orchestrator on SQLite), the orchestrators, and the
device simulator (``wasmfleet sim devices``) with its devices spread over the orchestrators.

Phases, in this order, each bounded in time:

0. **Baseline, same run.** ``--baseline-devices`` (10) simulated devices, the same steady
   window: the heartbeat round trip of a nearly idle cluster (a cluster of its own).
1. **Executions.** A real supervisor and a one-step fibo deployment on it: executions per
   second at c = 16 through one orchestrator, then 8 + 8 connections through two, and the
   supervisor answering the same call directly (wrk).
2. **Register.** ``--devices`` simulated devices register; ``register_s`` until every one is
   listed active.
3. **Steady state.** After a warm-up, for ``--duration`` seconds: heartbeats answered per
   second (the simulator's count, and the orchestrators' own counters), the round trip's p50
   and p99, and ``false_detections``: devices declared dead in the window although every
   simulated device kept heartbeating (status logs read at the end).
4. **Deploy to all.** A ``replicas: all`` step of fibo: ``deploy_all_s`` from the request to
   every simulated device holding it.
5. **Detection.** 10 devices killed at once (``POST /_sim/kill``): ``detection_s``, per device,
   from the kill to an orchestrator listing it dead (median and max).
6. **Leader failover** (two or more orchestrators). The leader is SIGKILLed together with the
   devices of 3 one-step deployments: ``leader_failover_s`` until another leads, the steps
   moved by the new leader exactly once (``double_moves`` 0), no false death meanwhile.
7. **Placement.** bench/placement.py's solver figure at ``--placement-devices`` (10,000) x
   ``--placement-steps`` (1,000) devices x steps, in this process.

Exit code 0 whether or not the targets are met (the JSON says); non-zero only when the
benchmark itself could not run. Every process it starts is stopped in a ``finally`` block.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "bench"):  # run as a script: tests.* and bench/ siblings
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.support import MODULES, description_upload  # noqa: E402

import placement  # noqa: E402
from scale_cluster import (  # noqa: E402
    Cluster,
    cpu_seconds,
    database,
    deaths_since,
    executions,
    failover,
    heartbeats_counted,
    median_or_none,
    progress,
    sim_active,
    wait_for,
)

KILLED = 10
TARGETS = {
    "heartbeat_p99_ms": 50.0,
    "detection_s_median": 3.0,
    "deploy_all_s": 30.0,
    "placements_per_second": 10_000.0,
    "leader_failover_s": 5.0,
    "executions_per_s": 2_000.0,
}


def steady(cluster: Cluster, names: list[str], warmup: float, duration: float) -> dict[str, Any]:
    """Heartbeats in a steady window: rates, round trips, CPU, false detections."""
    sim = cluster.sim
    assert sim is not None and sim.proc is not None
    time.sleep(warmup)
    sim.post("/_sim/stats/reset").raise_for_status()
    since = datetime.now(UTC)
    orchs = cluster.alive
    pids = [*cluster.pids(), sim.proc.pid]

    def counted() -> float:
        total = 0.0
        for orch in orchs:
            with httpx.Client(base_url=orch.url, timeout=60.0) as http:
                total += heartbeats_counted(http)
        return total

    beats = counted()
    cpu = [cpu_seconds(p) for p in pids]
    started = time.monotonic()
    time.sleep(duration)
    elapsed = time.monotonic() - started
    cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu, strict=True)]
    beats = counted() - beats
    status = sim.status()
    with httpx.Client(base_url=cluster.api.url, timeout=60.0) as http:
        false = deaths_since(http, names, since)
    rtt = status["heartbeat_ms"]
    orch_cpu = sum(cpu[:-1])
    return {
        "devices": len(names),
        "window_s": round(elapsed, 2),
        "heartbeats_per_s": status["acked_per_s"],
        "heartbeats_per_s_orchestrator": round(beats / elapsed, 1),
        "heartbeats_expected_per_s": round(len(names) / status["heartbeat_s"], 1),
        "heartbeat_p50_ms": rtt["p50"],
        "heartbeat_p99_ms": rtt["p99"],
        "heartbeat_max_ms": rtt["max"],
        "orchestrator_cpu_share": round(orch_cpu / elapsed, 3),
        "orchestrator_cpu_shares": [round(c / elapsed, 3) for c in cpu[:-1]],
        "orchestrator_cpu_ms_per_heartbeat": round(1000 * orch_cpu / max(1.0, beats), 3),
        "simulator_cpu_share": round(cpu[-1] / elapsed, 3),
        "heartbeats_failed": status["failed"],
        "heartbeat_slots_missed": status["missed"],
        "false_detections": sum(false.values()),
        "falsely_dead": sorted(false),
    }


def deploy_all(cluster: Cluster, names: list[str], timeout: float) -> float:
    """A fleet-wide fibo step: seconds from the request to every device holding it."""
    sim = cluster.sim
    assert sim is not None
    with httpx.Client(base_url=cluster.api.url, timeout=timeout) as http:
        wasm = (MODULES / "fibo" / "fibo.wasm").read_bytes()
        r = http.post(
            "/file/module",
            data={"name": "fibo"},
            files={"module": ("fibo.wasm", wasm, "application/wasm")},
        )
        r.raise_for_status()
        described, files = description_upload("fibo")
        http.post(
            f"/api/v1/modules/{r.json()['id']}/description",
            data={"description": json.dumps(described)},
            files=files or None,
        ).raise_for_status()
        manifest = {
            "name": "everywhere",
            "steps": [{"module": "fibo", "function": "fibo", "replicas": "all"}],
        }
        started = time.monotonic()
        r = http.post("/api/v1/deployments", json=manifest)
        if r.status_code != 201:
            raise RuntimeError(f"the fleet-wide deployment failed: {r.status_code} {r.text[:300]}")
        dep_id = r.json()["id"]
        copies = {c["device"] for c in r.json().get("copies", [])} & set(names)
        if len(copies) < len(names):
            progress(f"the deployment has {len(copies)} copies for {len(names)} devices")

        def everywhere() -> bool:
            held = sim.get("/_sim/devices").json()
            return all(dep_id in d["deployments"] for d in held if d["name"] in copies)

        wait_for(everywhere, timeout, "every device holding the deployment", every=0.1)
        return time.monotonic() - started


def detection(cluster: Cluster, names: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Kill ``names`` at once. Per device, seconds from the kill to the ``dead`` entry the
    leader wrote in its status log (when it decided), and to this client seeing it listed
    dead (that adds the polling of every name in turn); at most 60 s."""
    sim = cluster.sim
    assert sim is not None
    seen: dict[str, float] = {}
    decided: dict[str, float] = {}
    with httpx.Client(base_url=cluster.api.url, timeout=30.0) as http:
        killed_at = datetime.now(UTC)
        started = time.monotonic()
        sim.command_devices("kill", names).raise_for_status()
        while len(seen) < len(names) and time.monotonic() - started < 60:
            for name in names:
                if name in seen:
                    continue
                device = http.get(f"/api/v1/devices/{name}").json()
                if device["status"] == "dead":
                    seen[name] = time.monotonic() - started
                    deaths = [
                        datetime.fromisoformat(e["time"])
                        for e in device.get("status_log", [])
                        if e["status"] == "dead" and datetime.fromisoformat(e["time"]) >= killed_at
                    ]
                    if deaths:
                        decided[name] = (min(deaths) - killed_at).total_seconds()
            time.sleep(0.05)
    return decided, seen


def placements(devices: int, steps: int) -> dict[str, Any]:
    """bench/placement.py's figures at ``devices`` x ``steps`` (its own JSON, kept quiet)."""
    with contextlib.redirect_stdout(io.StringIO()):
        found = placement.main(["--devices", str(devices), "--steps", str(steps), "--runs", "10"])
    return {
        "placements_per_second": found["placements_per_second"],
        "placement": {
            k: found[k]
            for k in ("devices", "steps", "runs", "p50_ms", "p99_ms", "agree_with_baseline")
        },
    }


def baseline(root: Path, args: argparse.Namespace, database_url: str | None) -> dict[str, Any]:
    """The steady window with ``--baseline-devices``, on a cluster of its own."""
    progress(f"baseline: {args.baseline_devices} devices")
    cluster = Cluster(root / "baseline", args, database_url)
    try:
        cluster.start()
        cluster.start_devices(args.baseline_devices)
        with httpx.Client(base_url=cluster.api.url, timeout=60.0) as http:
            names = sorted(sim_active(http))
        return steady(cluster, names, args.warmup, args.duration)
    finally:
        cluster.stop()


def scale(
    root: Path, args: argparse.Namespace, database_url: str | None, result: dict[str, Any]
) -> None:
    """Phases 1-6 on one cluster, into ``result`` (what was measured stays when one fails)."""
    cluster = Cluster(root / "main", args, database_url)
    try:
        cluster.start()
        if not args.no_executions:
            progress("executions through the orchestrators")
            result.update(executions(cluster, args.execution_seconds))
        progress(f"{args.devices} devices registering")
        took = cluster.start_devices(args.devices)
        result["register_s"] = round(took, 2) if took is not None else None
        width = len(str(args.devices))
        names = [f"sim-{i:0{width}d}" for i in range(1, args.devices + 1)]
        since = datetime.now(UTC)
        progress(f"steady state for {args.duration:g} s")
        result.update(steady(cluster, names, args.warmup, args.duration))
        progress("fleet-wide deployment")
        result["deploy_all_s"] = round(deploy_all(cluster, names, args.deploy_timeout), 2)
        progress(f"killing {KILLED} devices")
        victims = names[:: max(1, len(names) // KILLED)][:KILLED]
        decided, seen = detection(cluster, victims)
        times = list(decided.values())
        result["detection_s"] = {
            "killed": len(victims),
            "median": median_or_none(times),
            "max": round(max(times), 3) if times else None,
            "seen_by_client_median": median_or_none(list(seen.values())),
            "not_declared_within_60_s": sorted(set(victims) - set(seen)),
        }
        others = sorted(set(names) - set(victims))
        if len(cluster.orchs) > 1:
            progress("leader failover")
            result.update(failover(cluster, others))
            moved = set(result["failover_devices_killed"])
            others = [n for n in others if n not in moved]
        with httpx.Client(base_url=cluster.api.url, timeout=60.0) as http:
            result["others_not_active_at_end"] = sorted(set(others) - sim_active(http))
            false = deaths_since(http, others, since)
        result["false_detections_whole_run"] = sum(false.values())
        result["falsely_dead_whole_run"] = sorted(false)
        assert cluster.sim is not None
        result["simulator"] = cluster.sim.status()
    finally:
        cluster.stop()


def met(result: dict[str, Any]) -> dict[str, bool]:
    """Each target, true or false (absent figures are not met)."""

    def at_most(key: str, value: Any) -> bool:
        return value is not None and value <= TARGETS[key]

    def at_least(key: str) -> bool:
        return (result.get(key) or 0) >= TARGETS[key]

    out = {
        "heartbeat_p99_ms": at_most("heartbeat_p99_ms", result.get("heartbeat_p99_ms")),
        "false_detections": result.get("false_detections_whole_run") == 0,
        "detection_s_median": at_most(
            "detection_s_median", (result.get("detection_s") or {}).get("median")
        ),
        "deploy_all_s": at_most("deploy_all_s", result.get("deploy_all_s")),
    }
    if "placements_per_second" in result:
        out["placements_per_second"] = at_least("placements_per_second")
    if "executions_per_s" in result:
        out["executions_per_s"] = at_least("executions_per_s")
    if "leader_failover_s" in result:
        out["leader_failover_s"] = at_most("leader_failover_s", result["leader_failover_s"])
        out["double_moves"] = result.get("double_moves") == 0
    return out


def run(args: argparse.Namespace, root: Path, result: dict[str, Any]) -> None:
    """Every phase, into ``result`` (the JSON)."""
    result.update(
        {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "orchestrators": args.orchestrators,
            "heartbeat_interval_s": args.heartbeat,
            "targets": TARGETS,
        }
    )
    with database(args) as fresh:
        url = fresh()
        result["database"] = "postgresql" if url else "sqlite"
        if args.baseline_devices:
            result["baseline"] = baseline(root, args, url)
            url = fresh()  # the main cluster does not inherit the baseline's devices
        scale(root, args, url, result)
    base = result.get("baseline", {}).get("heartbeat_p99_ms")
    if base and result.get("heartbeat_p99_ms"):
        result["heartbeat_p99_over_baseline"] = round(result["heartbeat_p99_ms"] / base, 2)
    if args.placement_devices:
        progress(f"placement: {args.placement_devices} devices x {args.placement_steps} steps")
        result.update(placements(args.placement_devices, args.placement_steps))
    result["met"] = met(result)


def main() -> int:
    """Parse the options, run, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument(
        "--orchestrators", type=int, default=2, help="1: SQLite unless --database-url"
    )
    parser.add_argument("--baseline-devices", type=int, default=10, help="0: no baseline")
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=20.0, help="steady window, seconds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--register-timeout", type=float, default=180.0)
    parser.add_argument("--deploy-timeout", type=float, default=120.0)
    parser.add_argument("--execution-seconds", type=float, default=5.0)
    parser.add_argument("--no-executions", action="store_true", help="skip phase 1")
    parser.add_argument("--placement-devices", type=int, default=10_000, help="0: skip")
    parser.add_argument("--placement-steps", type=int, default=1_000)
    parser.add_argument(
        "--database-url", default=None, help="postgresql://... (else a throw-away one)"
    )
    parser.add_argument("--workdir", default=None, help="keep data and logs here")
    parser.add_argument("--quick", action="store_true", help="100 devices, 5 s windows")
    args = parser.parse_args()
    if args.orchestrators < 1:
        parser.error("--orchestrators must be at least 1")
    if args.quick:
        args.devices, args.duration, args.warmup = min(args.devices, 100), 5.0, 2.0
        args.execution_seconds = min(args.execution_seconds, 2.0)
        args.placement_devices = min(args.placement_devices, 1000)
    with tempfile.TemporaryDirectory(prefix="wasmfleet-scale-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        result: dict[str, Any] = {}
        try:
            run(args, root, result)
        except (RuntimeError, httpx.HTTPError) as err:
            progress(f"could not run: {err}")
            result["error"] = str(err)  # what was measured before it is printed all the same
            print(json.dumps(result, indent=2))
            return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
