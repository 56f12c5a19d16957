"""Benchmark failover: SIGKILL a device, time detection and recovery; no false alarms.

Run ``python bench/failover.py [--quick] [--runs 5]`` with the project venv. It prints one
JSON object on stdout (progress goes to stderr); bench/README.md explains every key.

One orchestrator (default settings, ``--no-mdns``, and a high ``--flap-count`` so that killing
the same devices again and again is not damped) and real supervisors on loopback: ``a``
(fibo pinned to it) and ``--workers`` supervisors labelled ``role=worker`` (the stateful
counter goes to one of them). Three phases, in this order:

1. **Kill runs.** While a thread executes the pipeline back to back, SIGKILL the worker
   hosting the counter; time (monotonic clock, this process) until the orchestrator lists
   it as ``dead`` and until the first successful execution whose counter step ran on
   another device; restart it (same name, port and data dir) and wait until it is active.
2. **No-fault runs.** A supervisor with ``--heartbeat-jitter 0.3`` joins for
   ``--jitter-seconds``; meanwhile the counter's host is SIGSTOPped for 1.5 s, then
   SIGCONTed, ``--stall-runs`` times. Any ``dead`` status in that window is a false detection.
3. **Baseline, same run.** A supervisor that pushes no heartbeats (``--heartbeat-interval
   0``), hosting a pinned counter, is judged by the orchestrator's health polls (default
   ``--health-interval`` 5 s, as the original wasmiot orchestrator polls): SIGKILL → dead.

Every process it starts is stopped in a ``finally`` block (also on Ctrl-C), and every wait
is bounded in time. The exit code is 0 whether or not the targets are met (the JSON says);
it is non-zero only when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.support importable
    sys.path.insert(0, str(REPO))

from tests.integration.healing import Outcome, Stream  # noqa: E402
from tests.support import (  # noqa: E402
    MODULES,
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
)

ARGS = {"iterations": 10}
"""Execution arguments: fibo(10) = 55, which the counter adds."""
STEP = 55
COUNTER_STEP = 1
"""Index of the counter step in the pipeline (fibo is step 0)."""
PIPELINE = "failover"
BASELINE_PIPELINE = "failover-poll"
WORKER_LABEL = ["--label", "role=worker"]
TARGETS = {"detection_s_max": 3.0, "recovery_s_max": 5.0, "false_detections": 0}
FLAP_COUNT = 1000
"""High enough that killing the same devices run after run is never damped as flapping."""
STALL_S = 1.5
POLL_S = 0.02
"""How often the device's status is read while waiting for ``dead``."""
MEASURE_LIMIT_S = 30.0
"""Longest wait for detection and recovery of a heartbeating device."""
BASELINE_LIMIT_S = 60.0
"""Longest wait for a polled device to be declared dead."""


class BenchError(RuntimeError):
    """The benchmark could not run (a process, a deployment or a wait failed)."""


def say(message: str) -> None:
    """A progress line on stderr (stdout carries only the JSON result)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict[str, Any]:
    """Median, max and every run, rounded (None for no runs)."""
    runs = [round(v, 3) for v in values]
    if not runs:
        return {"median": None, "max": None, "runs": runs}
    return {"median": round(statistics.median(values), 3), "max": max(runs), "runs": runs}


def parse_time(text: str | None) -> float | None:
    """A status log time (ISO 8601) as a POSIX timestamp."""
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp.timestamp()


# -- a stream of executions ---------------------------------------------------------------


def counter_breaks(outcomes: Iterable[Outcome]) -> int:
    """Successful executions that break the counter's sequence (a lost or repeated step).

    On one device the counter climbs 55, 110, 165 ...; after a move it starts again at 55.
    """
    breaks, previous = 0, None
    for o in outcomes:
        if o.status != 200:
            continue
        try:
            value = int(o.result)
        except (TypeError, ValueError):
            breaks += 1
            continue
        device = o.device if o.device is not None or previous is None else previous[0]
        if previous is not None and device == previous[0]:
            ok = value == previous[1] + STEP
        else:
            ok = previous is None or value == STEP
        breaks += not ok
        previous = (device, value)
    return breaks


def unlisted(outcomes: Iterable[Outcome]) -> int:
    """Successful executions whose answer does not list the counter step."""
    return sum(1 for o in outcomes if o.status == 200 and o.device is None)


def error_kinds(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Failed executions grouped by the start of their message."""
    kinds: dict[str, int] = {}
    for o in outcomes:
        if o.status != 200:
            key = f"{o.status}: {(o.error or '')[:160]}"
            kinds[key] = kinds.get(key, 0) + 1
    return kinds


# -- the fleet ------------------------------------------------------------------------------


class Bench:
    """The orchestrator, its supervisors and the API calls the benchmark makes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.orchestrator = OrchestratorProcess(
            root / "orchestrator", name="orch", args=["--flap-count", str(FLAP_COUNT)]
        )
        self.supervisors: dict[str, SupervisorProcess] = {}
        self.paused: set[int] = set()
        self.http = httpx.Client(base_url=self.orchestrator.url, timeout=20.0)

    @property
    def url(self) -> str:
        """The orchestrator's base URL."""
        return self.orchestrator.url

    # -- processes

    def start_supervisors(self, specs: list[tuple[str, list[str]]]) -> None:
        """Start supervisors ``(name, extra args)`` in parallel, registered with us."""
        for name, args in specs:
            self.supervisors[name] = SupervisorProcess(
                self.root / f"sv-{name}", name=name, args=["--orchestrator", self.url, *args]
            )
        with ThreadPoolExecutor(max_workers=len(specs)) as pool:
            futures = [pool.submit(self.supervisors[name].start, 60.0) for name, _ in specs]
            for future in futures:
                future.result()

    def pause(self, name: str, seconds: float) -> None:
        """SIGSTOP a supervisor for ``seconds``, then SIGCONT."""
        proc = self.supervisors[name].proc
        if proc is None or proc.poll() is not None:
            raise BenchError(f"supervisor {name} is not running")
        self.paused.add(proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            self.paused.discard(proc.pid)

    def stop(self) -> None:
        """Stop every process (a stopped one is continued first so that SIGTERM works)."""
        for pid in list(self.paused):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        self.http.close()
        with ThreadPoolExecutor(max_workers=max(1, len(self.supervisors))) as pool:
            list(pool.map(lambda sup: sup.stop(), self.supervisors.values()))
        self.orchestrator.stop()

    # -- API

    def get(self, path: str) -> Any:
        """GET a JSON document; BenchError on a non-2xx answer."""
        r = self.http.get(path)
        if r.status_code >= 300:
            raise BenchError(f"GET {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def device(self, name: str) -> dict[str, Any]:
        """A device with its status log."""
        found: dict[str, Any] = self.get(f"/api/v1/devices/{name}")
        return found

    def status(self, name: str) -> str | None:
        """A device's status (None while the orchestrator does not know it)."""
        r = self.http.get(f"/api/v1/devices/{name}")
        return str(r.json().get("status")) if r.status_code == 200 else None

    def pushing(self, name: str) -> bool:
        """True when the device is active and judged by its heartbeats (not by polls)."""
        found = self.device(name)
        return found.get("status") == "active" and found.get("monitoring") == "heartbeats"

    def deployment(self, name: str) -> dict[str, Any]:
        """A deployment as /api/v1 shows it."""
        found: dict[str, Any] = self.get(f"/api/v1/deployments/{name}")
        return found

    def host(self, name: str, step: int = 1) -> str:
        """The device a step of a deployment is placed on now."""
        return str(self.deployment(name)["plan"]["steps"][step]["device"])

    def push(self, module: str) -> str:
        """Upload an example module and its committed description; returns its id."""
        wasm = (MODULES / module / f"{module}.wasm").read_bytes()
        r = self.http.post(
            "/file/module",
            data={"name": module},
            files={"module": (f"{module}.wasm", wasm, "application/wasm")},
        )
        if r.status_code != 201:
            raise BenchError(f"uploading {module}: {r.status_code} {r.text[:500]}")
        module_id = str(r.json()["id"])
        description, files = description_upload(module)
        r = self.http.post(
            f"/api/v1/modules/{module_id}/description",
            data={"description": json.dumps(description)},
            files=files or None,
        )
        if r.status_code != 200:
            raise BenchError(f"describing {module}: {r.status_code} {r.text[:500]}")
        return module_id

    def deploy(self, manifest: dict[str, Any]) -> None:
        """Create a deployment; BenchError unless it is accepted."""
        r = self.http.post("/api/v1/deployments", json=manifest, timeout=60.0)
        if r.status_code != 201:
            raise BenchError(f"deploying {manifest['name']}: {r.status_code} {r.text[:800]}")

    def execute(self, name: str) -> Any:
        """One execution; its result (BenchError on failure)."""
        r = self.http.post(f"/api/v1/deployments/{name}/execute", json=ARGS, timeout=30.0)
        if r.status_code != 200:
            raise BenchError(f"executing {name}: {r.status_code} {r.text[:500]}")
        return r.json().get("result")


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> None:
    """Poll ``predicate`` (HTTP errors count as false) until true; BenchError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, KeyError, IndexError, ValueError):
            if predicate():
                return
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


# -- phase 1: kill runs -------------------------------------------------------------------


def kill_run(bench: Bench, index: int, total: int) -> dict[str, Any]:
    """SIGKILL the counter's host during a stream; detection and recovery; restart it."""
    wait_for(
        f"{PIPELINE} to be active",
        lambda: bench.deployment(PIPELINE)["status"] == "active",
        timeout=30,
    )
    victim = bench.host(PIPELINE)
    sup = bench.supervisors[victim]
    # Steady state: until its first heartbeat arrives, a device is judged by health polls.
    wait_for(
        f"{victim} to push heartbeats",
        lambda: bench.pushing(victim),
        timeout=30,
    )
    with Stream(bench.url, PIPELINE, ARGS, limit_s=120) as stream:
        begin = time.monotonic()
        wait_for(
            f"3 successful executions on {victim}",
            lambda: stream.ok_on(victim, begin) >= 3,
            timeout=30,
        )
        moves_before = len(bench.deployment(PIPELINE)["moves"])
        killed_wall = time.time()
        killed_at = time.monotonic()
        sup.kill()
        detected_at: float | None = None
        recovered: Outcome | None = None
        deadline = killed_at + MEASURE_LIMIT_S
        while (detected_at is None or recovered is None) and time.monotonic() < deadline:
            if detected_at is None:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    if bench.status(victim) == "dead":
                        detected_at = time.monotonic()
            if recovered is None:
                recovered = next(
                    (
                        o
                        for o in stream.since(killed_at)
                        if o.status == 200 and o.device not in (None, victim)
                    ),
                    None,
                )
            time.sleep(POLL_S)
        if detected_at is None:
            raise BenchError(f"{victim} was not declared dead within {MEASURE_LIMIT_S:g} s")
        if recovered is None:
            raise BenchError(
                f"no execution succeeded on another device within {MEASURE_LIMIT_S:g} s "
                f"of killing {victim}; failures: {error_kinds(stream.since(killed_at))}"
            )
        survivor, recovered_at = str(recovered.device), recovered.at
        log = bench.device(victim)["status_log"]
        dead = [e for e in log if e["status"] == "dead"]
        logged_dead = parse_time(dead[-1]["time"]) if dead else None
        dep = bench.deployment(PIPELINE)
        new_moves = dep["moves"][moves_before:]

        # A few more executions on the survivor, then bring the victim back.
        wait_for(
            f"2 more successes on {survivor}",
            lambda: stream.ok_on(survivor, recovered_at) >= 2,
            timeout=30,
        )
        restarted_at = time.monotonic()
        sup.start(timeout=60.0)
        wait_for(
            f"{victim} to be active again",
            lambda: bench.status(victim) == "active",
            timeout=30,
        )
        back_s = time.monotonic() - restarted_at
        wait_for(
            f"2 successes after {victim} came back",
            lambda: sum(1 for o in stream.since(restarted_at + back_s) if o.status == 200) >= 2,
            timeout=30,
        )
    outcomes = stream.since(begin)
    detection = detected_at - killed_at
    recovery = recovered_at - killed_at
    say(
        f"run {index}/{total}: detection {detection:.2f} s, recovery {recovery:.2f} s "
        f"({victim} killed, counter now on {survivor}; "
        f"{sum(o.status != 200 for o in outcomes)} of {len(outcomes)} executions failed)"
    )
    return {
        "victim": victim,
        "survivor": survivor,
        "detection_s": round(detection, 3),
        "detection_logged_s": (
            round(logged_dead - killed_wall, 3) if logged_dead is not None else None
        ),
        "dead_reason": dead[-1]["reason"] if dead else None,
        "recovery_s": round(recovery, 3),
        "moves": [
            {k: m.get(k) for k in ("step", "from", "to", "epoch", "reason")} for m in new_moves
        ],
        "restart_to_active_s": round(back_s, 3),
        "executions": len(outcomes),
        "failed_executions": sum(o.status != 200 for o in outcomes),
        "errors": error_kinds(outcomes),
        "counter_breaks": counter_breaks(outcomes),
        "ok_without_counter_step": unlisted(outcomes),
    }


# -- phase 2: no-fault runs -----------------------------------------------------------------


def no_fault_runs(
    bench: Bench, stall_runs: int, jitter_s: float, spacing_s: float
) -> dict[str, Any]:
    """Stalls and heartbeat jitter must not make any device dead nor move any step."""
    say(f"no-fault runs: {stall_runs} stalls of {STALL_S:g} s, {jitter_s:g} s of jitter")
    bench.start_supervisors([("j", ["--heartbeat-jitter", "0.3"])])
    wait_for("j to push heartbeats", lambda: bench.pushing("j"), timeout=30)
    wait_for(
        f"{PIPELINE} to be active",
        lambda: bench.deployment(PIPELINE)["status"] == "active",
        timeout=30,
    )
    moves_before = len(bench.deployment(PIPELINE)["moves"])
    start_wall = time.time()
    start = time.monotonic()
    stalled: list[str] = []
    limit = jitter_s + stall_runs * (spacing_s + 5) + 60
    with Stream(bench.url, PIPELINE, ARGS, limit_s=limit) as st:
        for i in range(stall_runs):
            host = bench.host(PIPELINE)
            stalled.append(host)
            bench.pause(host, STALL_S)
            say(f"stall {i + 1}/{stall_runs}: {host} stopped for {STALL_S:g} s")
            time.sleep(spacing_s)
        remaining = jitter_s - (time.monotonic() - start)
        if remaining > 0:
            say(f"jitter: {remaining:.0f} s more")
            time.sleep(remaining)
    outcomes = st.since(start)
    watched = sorted({"a", "j", *stalled, *(n for n in bench.supervisors if n != "p")})
    per_device: dict[str, dict[str, int]] = {}
    false = 0
    for name in watched:
        entries = [
            e
            for e in bench.device(name)["status_log"]
            if (parse_time(e["time"]) or 0.0) >= start_wall
        ]
        dead = sum(e["status"] == "dead" for e in entries)
        suspect = sum(e["status"] == "suspect" for e in entries)
        false += dead
        if dead or suspect:
            per_device[name] = {"dead": dead, "suspect": suspect}
    moves = bench.deployment(PIPELINE)["moves"][moves_before:]
    say(
        f"no-fault runs: {false} false detections, {len(moves)} moves, "
        f"{sum(o.status != 200 for o in outcomes)} failed executions of {len(outcomes)}"
    )
    return {
        "false_detections": false,
        "no_fault": {
            "seconds": round(time.monotonic() - start, 1),
            "stalled": stalled,
            "devices_watched": watched,
            "status_changes": per_device,
            "moves": [{k: m.get(k) for k in ("step", "from", "to", "reason")} for m in moves],
            "executions": len(outcomes),
            "failed_executions": sum(o.status != 200 for o in outcomes),
            "errors": error_kinds(outcomes),
            "counter_breaks": counter_breaks(outcomes),
            "ok_without_counter_step": unlisted(outcomes),
        },
    }


# -- phase 3: baseline ----------------------------------------------------------------------


def baseline_runs(bench: Bench, runs: int) -> dict[str, Any]:
    """A device without heartbeats, judged by health polls: SIGKILL -> dead."""
    say(f"baseline: a polled device (--heartbeat-interval 0), {runs} runs")
    bench.start_supervisors([("p", ["--heartbeat-interval", "0"])])
    wait_for("p to be active", lambda: bench.status("p") == "active", timeout=30)
    bench.deploy(
        {
            "name": BASELINE_PIPELINE,
            "steps": [
                {"module": "fibo", "function": "fibo", "device": "a"},
                {"module": "counter", "function": "add", "stateful": True, "device": "p"},
            ],
        }
    )
    sup = bench.supervisors["p"]
    times: list[float] = []
    details: list[dict[str, Any]] = []
    for i in range(runs):
        wait_for(
            f"{BASELINE_PIPELINE} to be active",
            lambda: bench.deployment(BASELINE_PIPELINE)["status"] == "active",
            timeout=60,
        )
        bench.execute(BASELINE_PIPELINE)
        if bench.device("p").get("monitoring") != "polls":
            raise BenchError(f"p is not monitored by polls: {bench.device('p')}")
        killed_at = time.monotonic()
        sup.kill()
        wait_for(
            "p to be dead", lambda: bench.status("p") == "dead", BASELINE_LIMIT_S, every=POLL_S
        )
        took = time.monotonic() - killed_at
        times.append(took)
        log = bench.device("p")["status_log"]
        details.append({"detection_s": round(took, 3), "reason": log[-1]["reason"]})
        say(f"baseline {i + 1}/{runs}: detection {took:.2f} s ({log[-1]['reason'][:80]})")
        sup.start(timeout=60.0)
        wait_for("p to be active again", lambda: bench.status("p") == "active", timeout=30)
    return {"baseline_poll_detection_s": summary(times), "baseline_runs_detail": details}


# -- main -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Start the fleet, run the three phases, stop everything; the report."""
    bench = Bench(root)
    workers = [f"w{i + 1}" for i in range(args.workers)]
    try:
        say(f"starting an orchestrator and {1 + len(workers)} supervisors in {root}")
        bench.orchestrator.start(timeout=60.0)
        bench.start_supervisors([("a", []), *((w, WORKER_LABEL) for w in workers)])
        names = ("a", *workers)
        wait_for(
            f"{', '.join(names)} to be active",
            lambda: all(bench.status(n) == "active" for n in names),
            timeout=30,
        )
        bench.push("fibo")
        bench.push("counter")
        bench.deploy(
            {
                "name": PIPELINE,
                "steps": [
                    {"module": "fibo", "function": "fibo", "device": "a"},
                    {
                        "module": "counter",
                        "function": "add",
                        "stateful": True,
                        "labels": {"role": "worker"},
                    },
                ],
            }
        )
        first = bench.execute(PIPELINE)
        if str(first) != str(STEP):
            raise BenchError(f"the first execution returned {first!r}, not {STEP}")
        say(f"pipeline deployed: fibo on a, counter on {bench.host(PIPELINE)}")

        kills = [kill_run(bench, i + 1, args.runs) for i in range(args.runs)]
        no_fault = no_fault_runs(bench, args.stall_runs, args.jitter_seconds, args.stall_spacing)
        baseline = baseline_runs(bench, args.baseline_runs)
        orchestrator_log = bench.orchestrator.log()
    except BaseException:
        with contextlib.suppress(Exception):
            say(f"orchestrator log ends with:\n{bench.orchestrator.log()[-3000:]}")
        raise
    finally:
        say("stopping every process")
        bench.stop()

    detection = summary([k["detection_s"] for k in kills])
    recovery = summary([k["recovery_s"] for k in kills])
    base = baseline["baseline_poll_detection_s"]
    speedup = (
        round(base["median"] / detection["median"], 2)
        if base["median"] and detection["median"]
        else None
    )
    met = {
        "detection_s_max": detection["max"] is not None
        and detection["max"] <= TARGETS["detection_s_max"],
        "recovery_s_max": recovery["max"] is not None
        and recovery["max"] <= TARGETS["recovery_s_max"],
        "false_detections": no_fault["false_detections"] <= TARGETS["false_detections"],
    }
    return {
        "benchmark": "failover",
        "quick": args.quick,
        "detection_s": detection,
        "recovery_s": recovery,
        "false_detections": no_fault["false_detections"],
        "stall_runs": args.stall_runs,
        "jitter_seconds": args.jitter_seconds,
        "baseline_poll_detection_s": base,
        "detection_speedup": speedup,
        "targets": dict(TARGETS),
        "met": met,
        "kill_runs": kills,
        "no_fault": no_fault["no_fault"],
        "baseline_runs": baseline["baseline_runs_detail"],
        "orchestrator_log_warnings": sum(
            " WARNING " in line or '"WARNING"' in line for line in orchestrator_log.splitlines()
        ),
        "config": {
            "heartbeat_interval_s": 0.5,
            "phi_threshold": 8.0,
            "suspect_phi": 1.0,
            "acceptable_pause_s": 1.5,
            "health_interval_s": 5.0,
            "flap_count": FLAP_COUNT,
            "runs": args.runs,
            "baseline_runs": args.baseline_runs,
            "workers": args.workers,
            "stall_s": STALL_S,
            "stall_spacing_s": args.stall_spacing,
            "poll_interval_s": POLL_S,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_start": [round(x, 2) for x in args.load_at_start],
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmark and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="kill runs (default 5, quick 2)")
    parser.add_argument("--quick", action="store_true", help="a 2-run smoke mode (~35 s)")
    parser.add_argument("--workers", type=int, default=2, help="role=worker supervisors (>= 2)")
    parser.add_argument("--stall-runs", type=int, default=None, help="SIGSTOPs (default 3)")
    parser.add_argument("--stall-spacing", type=float, default=3.0, help="seconds after a stall")
    parser.add_argument(
        "--jitter-seconds", type=float, default=None, help="jittery supervisor time (default 20)"
    )
    parser.add_argument(
        "--baseline-runs", type=int, default=None, help="polled kills (default 2, quick 1)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs = args.runs if args.runs is not None else (2 if quick else 5)
    args.stall_runs = args.stall_runs if args.stall_runs is not None else (1 if quick else 3)
    if args.jitter_seconds is None:
        args.jitter_seconds = 6.0 if quick else 20.0
    if args.baseline_runs is None:
        args.baseline_runs = 1 if quick else 2
    if args.workers < 2 or args.runs < 1 or args.baseline_runs < 1 or args.stall_runs < 0:
        parser.error("--workers must be 2 or more, --runs and --baseline-runs 1 or more")
    args.load_at_start = os.getloadavg()

    root = Path(tempfile.mkdtemp(prefix="wasmfleet-failover-"))
    started = time.monotonic()
    try:
        report = run(args, root)
    except BenchError as err:
        say(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; every process was stopped")
        return 130
    finally:
        if args.keep:
            say(f"logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report["runtime_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    say(f"done in {report['runtime_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
