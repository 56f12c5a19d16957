"""Benchmark scale: a thousand simulated devices against one orchestrator.

Run ``python bench/scale.py [--devices 1000] [--duration 20] [--quick]`` with the project venv.
It prints one JSON object on stdout (progress goes to stderr); bench/README.md explains every
key. Two orchestrators on PostgreSQL (``leader_failover_s``, ``executions_per_s_two``) come
when leader election and heartbeat fan-in land; this runs ONE orchestrator (SQLite, or
``--database-url postgresql://...``) and the device simulator (``wasmfleet sim devices``).

Phases, in this order, each bounded in time:

0. **Baseline, same run.** ``--baseline-devices`` (10) simulated devices, the same steady
   window: the heartbeat round trip of a nearly idle orchestrator.
1. **Register.** ``--devices`` simulated devices register; ``register_s`` until the
   orchestrator lists every one as active.
2. **Steady state.** After a warm-up, for ``--duration`` seconds: heartbeats answered per
   second (the simulator's count, and the orchestrator's own counter), the round trip's p50
   and p99, and ``false_detections``: devices the orchestrator declared dead in the window
   although every simulated device kept heartbeating (status logs read at the end).
3. **Deploy to all.** A ``replicas: all`` step of fibo: ``deploy_all_s`` from the request to
   every simulated device holding it.
4. **Detection.** 10 devices killed at once (``POST /_sim/kill``): ``detection_s``, per device,
   from the kill to the orchestrator listing it dead (median and max).

Exit code 0 whether or not the targets are met (the JSON says); non-zero only when the
benchmark itself could not run. Every process it starts is stopped in a ``finally`` block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.support importable
    sys.path.insert(0, str(REPO))

from tests.sim_support import SimProcess  # noqa: E402
from tests.support import MODULES, OrchestratorProcess, description_upload  # noqa: E402

KILLED = 10
TARGETS = {"heartbeat_p99_ms": 50.0, "detection_s_median": 3.0, "deploy_all_s": 30.0}


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
        if line.startswith("wasmfleet_heartbeats") and not line.startswith("#"):
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


def steady(
    orch: OrchestratorProcess, sim: SimProcess, names: list[str], warmup: float, duration: float
) -> dict[str, Any]:
    """Heartbeats in a steady window: rates, round trips, false detections."""
    with httpx.Client(base_url=orch.url, timeout=60.0) as http:
        time.sleep(warmup)
        sim.post("/_sim/stats/reset").raise_for_status()
        since = datetime.now(UTC)
        assert orch.proc is not None and sim.proc is not None
        counted = heartbeats_counted(http)
        cpu = cpu_seconds(orch.proc.pid), cpu_seconds(sim.proc.pid)
        started = time.monotonic()
        time.sleep(duration)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(orch.proc.pid) - cpu[0], cpu_seconds(sim.proc.pid) - cpu[1]
        counted = heartbeats_counted(http) - counted
        status = sim.status()
        false = deaths_since(http, names, since)
    rtt = status["heartbeat_ms"]
    return {
        "devices": len(names),
        "window_s": round(elapsed, 2),
        "heartbeats_per_s": status["acked_per_s"],
        "heartbeats_per_s_orchestrator": round(counted / elapsed, 1),
        "heartbeats_expected_per_s": round(len(names) / status["heartbeat_s"], 1),
        "heartbeat_p50_ms": rtt["p50"],
        "heartbeat_p99_ms": rtt["p99"],
        "heartbeat_max_ms": rtt["max"],
        "orchestrator_cpu_share": round(cpu[0] / elapsed, 3),
        "orchestrator_cpu_ms_per_heartbeat": round(1000 * cpu[0] / max(1.0, counted), 3),
        "simulator_cpu_share": round(cpu[1] / elapsed, 3),
        "heartbeats_failed": status["failed"],
        "heartbeat_slots_missed": status["missed"],
        "false_detections": sum(false.values()),
        "falsely_dead": sorted(false),
    }


def start_fleet(
    root: Path, count: int, args: argparse.Namespace
) -> tuple[OrchestratorProcess, SimProcess, float | None]:
    """An orchestrator and ``count`` simulated devices, all active; seconds that took."""
    extra = ["--database-url", args.database_url] if args.database_url else []
    orch = OrchestratorProcess(root / f"orch-{count}", name=f"orch-{count}", args=extra)
    orch.start()
    sim = SimProcess(
        root / f"sim-{count}",
        name=f"sim-{count}",
        orchestrator_url=orch.url,
        count=count,
        args=["--heartbeat", str(args.heartbeat)],
    )
    started = time.monotonic()
    try:
        sim.start()
        with httpx.Client(base_url=orch.url, timeout=60.0) as http:
            try:
                wait_for(
                    lambda: len(active_names(http)) == count,
                    args.register_timeout,
                    f"{count} simulated devices registering",
                    every=0.5,
                )
            except RuntimeError as err:  # measure what there is: the limit is a result
                progress(f"{err}; {len(active_names(http))} active, going on")
                return orch, sim, None
    except BaseException:
        sim.stop()
        orch.stop()
        raise
    return orch, sim, time.monotonic() - started


def deploy_all(orch: OrchestratorProcess, sim: SimProcess, count: int, timeout: float) -> float:
    """A fleet-wide fibo step: seconds from the request to every device holding it."""
    with httpx.Client(base_url=orch.url, timeout=timeout) as http:
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
        copies = {c["device"] for c in r.json().get("copies", [])}
        if len(copies) < count:
            progress(f"the deployment has {len(copies)} copies for {count} devices")

        def everywhere() -> bool:
            held = sim.get("/_sim/devices").json()
            return all(dep_id in d["deployments"] for d in held if d["name"] in copies)

        wait_for(everywhere, timeout, "every device holding the deployment", every=0.1)
        return time.monotonic() - started


def detection(orch: OrchestratorProcess, sim: SimProcess, names: list[str]) -> dict[str, float]:
    """Kill ``names`` at once; seconds from the kill to each being listed dead (at most 60)."""
    found: dict[str, float] = {}
    with httpx.Client(base_url=orch.url, timeout=30.0) as http:
        started = time.monotonic()
        sim.command_devices("kill", names).raise_for_status()
        while len(found) < len(names) and time.monotonic() - started < 60:
            for name in names:
                if (
                    name not in found
                    and http.get(f"/api/v1/devices/{name}").json()["status"] == "dead"
                ):
                    found[name] = time.monotonic() - started
            time.sleep(0.05)
    return found


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Every phase; the JSON result."""
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": "postgresql" if args.database_url else "sqlite",
        "orchestrators": 1,
        "heartbeat_interval_s": args.heartbeat,
        "targets": TARGETS,
    }
    if args.baseline_devices:
        progress(f"baseline: {args.baseline_devices} devices")
        orch, sim, _ = start_fleet(root, args.baseline_devices, args)
        try:
            names = sorted(active_names_of(orch))
            result["baseline"] = steady(orch, sim, names, args.warmup, args.duration)
        finally:
            sim.stop()
            orch.stop()
    progress(f"{args.devices} devices registering")
    orch, sim, took = start_fleet(root, args.devices, args)
    try:
        result["register_s"] = round(took, 2) if took is not None else None
        names = sorted(active_names_of(orch))
        result["active_after_registering"] = len(names)
        width = len(str(args.devices))
        names = [f"sim-{i:0{width}d}" for i in range(1, args.devices + 1)]
        since = datetime.now(UTC)
        progress(f"steady state for {args.duration:g} s")
        result.update(steady(orch, sim, names, args.warmup, args.duration))
        progress(json.dumps({k: v for k, v in result.items() if k != "baseline"}))
        progress("fleet-wide deployment")
        result["deploy_all_s"] = round(deploy_all(orch, sim, args.devices, args.deploy_timeout), 2)
        result["deploy_all_copies"] = len(
            {
                c["device"]
                for c in httpx.get(f"{orch.url}/api/v1/deployments/everywhere")
                .json()
                .get("copies", [])
            }
        )
        progress(f"killing {KILLED} devices")
        victims = names[:: max(1, len(names) // KILLED)][:KILLED]
        found = detection(orch, sim, victims)
        times = list(found.values())
        result["detection_s"] = {
            "killed": len(victims),
            "median": round(statistics.median(times), 3) if times else None,
            "max": round(max(times), 3) if times else None,
            "not_declared_within_60_s": sorted(set(victims) - set(found)),
        }
        with httpx.Client(base_url=orch.url, timeout=60.0) as http:
            others = sorted(set(names) - set(victims))
            result["others_not_active_after_kill"] = sorted(set(others) - active_names(http))
            false = deaths_since(http, others, since)
        result["false_detections_whole_run"] = sum(false.values())
        result["falsely_dead_whole_run"] = sorted(false)
        result["simulator"] = sim.status()
    finally:
        sim.stop()
        orch.stop()
    base = result.get("baseline", {}).get("heartbeat_p99_ms")
    if base and result.get("heartbeat_p99_ms"):
        result["heartbeat_p99_over_baseline"] = round(result["heartbeat_p99_ms"] / base, 2)
    result["met"] = {
        "heartbeat_p99_ms": (result.get("heartbeat_p99_ms") or 1e9) <= TARGETS["heartbeat_p99_ms"],
        "false_detections": result.get("false_detections_whole_run") == 0,
        "detection_s_median": (result["detection_s"]["median"] or 1e9)
        <= TARGETS["detection_s_median"],
        "deploy_all_s": result["deploy_all_s"] <= TARGETS["deploy_all_s"],
    }
    return result


def active_names_of(orch: OrchestratorProcess) -> set[str]:
    """Active device names, with a client of its own."""
    with httpx.Client(base_url=orch.url, timeout=60.0) as http:
        return active_names(http)


def main() -> int:
    """Parse the options, run, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--baseline-devices", type=int, default=10, help="0: no baseline")
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=20.0, help="steady window, seconds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--register-timeout", type=float, default=180.0)
    parser.add_argument("--deploy-timeout", type=float, default=120.0)
    parser.add_argument("--database-url", default=None, help="postgresql://... (else SQLite)")
    parser.add_argument("--workdir", default=None, help="keep data and logs here")
    parser.add_argument("--quick", action="store_true", help="100 devices, 5 s windows")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.duration, args.warmup = min(args.devices, 100), 5.0, 2.0
    with tempfile.TemporaryDirectory(prefix="wasmfleet-scale-") as tmp:
        root = Path(args.workdir) if args.workdir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        try:
            result = run(args, root)
        except (RuntimeError, httpx.HTTPError) as err:
            progress(f"could not run: {err}")
            return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
