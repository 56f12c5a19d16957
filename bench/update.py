"""Benchmark live updates: hot swaps of a module on one supervisor under load at c = 16.

Run ``python bench/update.py [--quick] [--swaps 20]`` with the project venv. It prints one
JSON object on stdout (progress goes to stderr); bench/README.md explains every key.

``swaps`` section (``measure_swaps``): one real supervisor process on 127.0.0.1 and a real
file server with two versions of a module built from WAT (``version()`` answers 1 or 2,
tests/swap_modules.py). Version 1 is deployed, then 2, then 1 again, so both binaries are
stored and compiled on the device (the compile cache case the target is about). Then a load
generator of our own (asyncio, raw HTTP/1.1 keep-alive sockets, ``--concurrency``
connections, every answer's latency and version kept) calls ``version`` throughout:

1. **Steady state, same run** (the baseline): ``--steady-seconds`` of load, no swap.
2. **Swaps**: ``--swaps`` redeploys (``POST /deploy`` with the other version's document,
   which names the sha256 of its binary, description and data file) alternating between the
   versions while the load runs, each written on a raw keep-alive socket. For each,
   ``swap_ready_ms`` is the time from sending the redeploy to the first answer of the new
   version the load generator receives. The next swap starts once every connection has
   seen the new version and ``--pause`` seconds passed. Calls finishing within 50 ms of a
   redeploy being sent also give ``p99_ms_in_swap_windows``.

``rollout`` section (``measure_rollout`` in bench/update_rollout.py): an orchestrator and
``--rollout-devices`` supervisors (at least 10) with one copy each of a ``replicas: all``
step, continuous calls to every copy, and a rollout to a version that traps on every call:
``rolled_back``, ``rollback_s`` (first failed gate -> every copy back on the good version)
and ``failed_calls_on_untouched_copies``. ``--rollout-devices 0`` skips it.

Every process it starts is stopped in a ``finally`` block and every wait is bounded. The
exit code is 0 whether or not the targets are met (the JSON says). Sections are functions
that return a dict; ``main`` merges them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.* importable
    sys.path.insert(0, str(REPO))

from tests.support import FileServer, SupervisorProcess  # noqa: E402
from tests.swap_modules import serve_file, serve_version, swap_body, version_module  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from update_rollout import measure_rollout  # noqa: E402

ROLLOUT_TARGETS = {"rollback_s_max": 5.0, "failed_calls_on_untouched_copies": 0}

DEPLOYMENT = "live"
MODULE = "ver"
PATH = f"/{DEPLOYMENT}/modules/{MODULE}/version"
TARGETS = {"swap_ready_ms_p50_max": 10.0, "failed_calls": 0, "p99_during_over_steady_max": 2.0}
REQUEST_TIMEOUT_S = 5.0
SWAP_WINDOW_S = 0.05
"""Calls that finish this long after a redeploy is sent are the swap window's calls (fixed,
so that configurations with faster or slower swaps compare fairly)."""
SWAP_LIMIT_S = 30.0
"""Longest wait for a new version to answer on every connection."""


def log(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)


@dataclass
class Answer:
    """One call: when it finished (monotonic), its latency, which version answered."""

    done: float
    ms: float
    version: str | None
    """None: the call failed."""


@dataclass
class LoadGenerator:
    """``connections`` keep-alive connections calling one path back to back."""

    host: str
    port: int
    path: str
    connections: int
    answers: list[Answer] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seen_by: list[str | None] = field(default_factory=list)
    """The version each connection received last."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Run until ``stop`` is set."""
        self.seen_by = [None] * self.connections
        await asyncio.gather(*(self._connection(i) for i in range(self.connections)))

    async def _connection(self, index: int) -> None:
        request = (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n").encode()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    writer.write(request)
                    status, body = await asyncio.wait_for(_response(reader), REQUEST_TIMEOUT_S)
                except (
                    TimeoutError,
                    OSError,
                    EOFError,
                    ValueError,
                    asyncio.LimitOverrunError,
                ) as err:
                    self.failures.append(f"connection {index}: {type(err).__name__} {err}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    continue
                now = time.perf_counter()
                version = _version(body) if status == 200 else None
                if version is None:
                    self.failures.append(f"{status} {body[:200]!r}")
                self.answers.append(Answer(now, (now - started) * 1000, version))
                if version is not None and self.seen_by[index] != version:
                    self.seen_by[index] = version
                    self.changed.set()
        finally:
            writer.close()

    async def wait_all_on(self, version: str, since: float) -> float:
        """Wait until every connection answered with ``version``; the first such answer's
        time after ``since`` (perf_counter)."""
        async with asyncio.timeout(SWAP_LIMIT_S):
            while not all(v == version for v in self.seen_by):
                self.changed.clear()
                await self.changed.wait()
        return min(a.done for a in self.answers if a.done >= since and a.version == version)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def _deploy_request(port: int, body: dict[str, Any]) -> bytes:
    """A keep-alive ``POST /deploy`` with ``body``, as bytes ready for the socket."""
    data = json.dumps(body).encode()
    head = (
        f"POST /deploy HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _version(body: bytes) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    return str(answer["result"]) if answer.get("success") else None


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def _swaps(sup: SupervisorProcess, bodies: list[dict[str, Any]], args: Any) -> dict[str, Any]:
    load = LoadGenerator("127.0.0.1", sup.port, PATH, args.concurrency)
    running = asyncio.create_task(load.run())
    requests = [_deploy_request(sup.port, body) for body in bodies]
    reader, writer = await asyncio.open_connection("127.0.0.1", sup.port)  # kept alive
    try:
        await load.wait_all_on("1", 0.0)
        log(f"steady state: {args.steady_seconds} s at c={args.concurrency}")
        steady_from = time.perf_counter()
        await asyncio.sleep(args.steady_seconds)
        steady_to = time.perf_counter()
        ready_ms: list[float] = []
        answer_ms: list[float] = []
        windows: list[tuple[float, float]] = []
        for i in range(1, args.swaps + 1):
            version = str(1 + i % 2)
            sent = time.perf_counter()
            writer.write(requests[i % 2])  # on the socket now: no client library between
            status, text = await asyncio.wait_for(_response(reader), SWAP_LIMIT_S)
            answered = time.perf_counter()
            if status != 200:
                raise RuntimeError(f"redeploy {i} answered {status}: {text[:500]!r}")
            first = await load.wait_all_on(version, sent)
            windows.append((sent, sent + SWAP_WINDOW_S))
            ready_ms.append((first - sent) * 1000)
            answer_ms.append((answered - sent) * 1000)
            log(f"swap {i}: v{version} answering after {ready_ms[-1]:.1f} ms")
            await asyncio.sleep(args.pause)
        swaps_to = time.perf_counter()
    finally:
        writer.close()
        load.stop.set()
        await asyncio.wait_for(running, REQUEST_TIMEOUT_S * 2)
    steady = [a.ms for a in load.answers if steady_from <= a.done < steady_to]
    during = [a.ms for a in load.answers if steady_to <= a.done < swaps_to]
    in_windows = [a.ms for a in load.answers if any(f <= a.done <= t for f, t in windows)]
    p99_steady, p99_during = percentile(steady, 99), percentile(during, 99)
    result = {
        "swaps": args.swaps,
        "concurrency": args.concurrency,
        "documents_with_description_url": args.description,
        "data_file_kb": args.data_kb,
        "failed_calls": len(load.failures),
        "failures_sample": load.failures[:5],
        "calls": len(load.answers),
        "calls_steady": len(steady),
        "calls_during_swaps": len(during),
        "versions_answered": sorted({a.version for a in load.answers if a.version}),
        "swap_ready_ms_p50": round(statistics.median(ready_ms), 2),
        "swap_ready_ms_max": round(max(ready_ms), 2),
        "swap_ready_ms_min": round(min(ready_ms), 2),
        "redeploy_answer_ms_p50": round(statistics.median(answer_ms), 2),
        "p50_ms_steady": round(percentile(steady, 50), 3),
        "p99_ms_steady": round(p99_steady, 3),
        "p50_ms_during_swaps": round(percentile(during, 50), 3),
        "p99_ms_during_swaps": round(p99_during, 3),
        "p99_during_over_steady": round(p99_during / p99_steady, 2),
        "calls_in_swap_windows": len(in_windows),
        "p99_ms_in_swap_windows": round(percentile(in_windows, 99), 3),
        "max_ms_in_swap_windows": round(max(in_windows), 3),
        "max_ms_steady": round(max(steady), 3),
    }
    return result


def measure_swaps(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """The ``swaps`` section: hot swaps alternating between two versions under load."""
    served = root / "served"
    served.mkdir()
    with FileServer(served) as files:
        versions = [serve_version(files, f"v{v}", version_module(v), ["version"]) for v in (1, 2)]
        data = [serve_file(files, "data.bin", os.urandom(args.data_kb * 1024))]
        bodies = [
            swap_body(
                DEPLOYMENT,
                MODULE,
                v,
                ["version"],
                with_description=args.description,
                data_files=data if args.data_kb else None,
            )
            for v in versions
        ]
        sup = SupervisorProcess(root / "data", name="update-bench")
        sup.start()
        try:
            for body in (bodies[0], bodies[1], bodies[0]):  # both stored and compiled
                answer = sup.deploy(body)
                if answer.status_code != 200:
                    raise RuntimeError(f"deploy answered {answer.status_code}: {answer.text}")
            result = asyncio.run(_swaps(sup, bodies, args))
            status = sup.get("/api/v1/status").json()
            result["compiled"] = status["runtime"]["compiled"]
            result["retired"] = status["swaps"]["retired"]
            result["reused"] = status["reuse"]
            result["supervisor_alive_after"] = sup.proc is not None and sup.proc.poll() is None
            result["phases_ms_p50"] = phases(sup.log(), args.swaps)
        finally:
            sup.stop()
    result["targets"] = dict(TARGETS)
    result["meets_targets"] = {
        "swap_ready_ms_p50_max": result["swap_ready_ms_p50"] <= TARGETS["swap_ready_ms_p50_max"],
        "failed_calls": result["failed_calls"] == TARGETS["failed_calls"],
        "p99_during_over_steady_max": result["p99_during_over_steady"]
        <= TARGETS["p99_during_over_steady_max"],
    }
    return result


def phases(log_text: str, swaps: int) -> dict[str, float]:
    """Median of the supervisor's own timings of the last ``swaps`` deploys (its ``deployed``
    log lines): fetch, build, switch, persist."""
    rows = [
        [float(x) for x in m.group(1).split("/")]
        for m in re.finditer(r"phases_ms=([0-9./]+)", log_text)
    ][-swaps:]
    names = ("fetch", "build", "switch", "persist")
    return {
        n: round(statistics.median(r[i] for r in rows), 2)
        for i, n in enumerate(names)
        if rows and all(len(r) == 4 for r in rows)
    }


def machine() -> dict[str, Any]:
    """Where this ran."""
    from importlib.metadata import version

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "wasmtime": version("wasmtime"),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the sections and print their merged JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--swaps", type=int, default=20, help="hot swaps (at least 20)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--steady-seconds", type=float, default=5.0)
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between swaps")
    parser.add_argument(
        "--no-description",
        dest="description",
        action="store_false",
        help="documents without a description URL (nothing to download on a swap)",
    )
    parser.add_argument(
        "--data-kb",
        type=int,
        default=64,
        help="size of the data file both versions have (named by its sha256); 0: none",
    )
    parser.add_argument("--quick", action="store_true", help="2 s steady state, short pauses")
    parser.add_argument(
        "--rollout-devices",
        type=int,
        default=10,
        help="supervisors of the rollout section (at least 10; 0 skips the section)",
    )
    args = parser.parse_args(argv)
    if args.swaps < 20:
        parser.error("--swaps must be at least 20")
    if 0 < args.rollout_devices < 10:
        parser.error("--rollout-devices must be at least 10 (or 0 to skip the rollout)")
    if args.pause <= SWAP_WINDOW_S:
        parser.error(f"--pause must be longer than the {SWAP_WINDOW_S} s swap window")
    if args.quick:
        args.steady_seconds, args.pause = 2.0, 0.1
    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="wasmfleet-update-") as tmp:
        root = Path(tmp)
        (root / "swaps").mkdir()
        merge(report, measure_swaps(args, root / "swaps"))
    if args.rollout_devices:
        print(f"rollout over {args.rollout_devices} supervisors ...", file=sys.stderr)
        merge(report, rollout_section(args.rollout_devices))
    print(json.dumps(report, indent=2))
    return 0


def rollout_section(devices: int) -> dict[str, Any]:
    """The rollout's figures (``rollout_*``, ``rolled_back``, ``rollback_s``, ...), its
    targets and whether they were met."""
    found = measure_rollout(devices)
    for key in ("status", "reason", "error"):
        if key in found:
            found[f"rollout_{key}"] = found.pop(key)
    rollback = found.get("rollback_s")
    meets = {
        "rolled_back": found.get("rolled_back") is True,
        "rollback_s": rollback is not None and rollback <= ROLLOUT_TARGETS["rollback_s_max"],
        "failed_calls_on_untouched_copies": found.get("failed_calls_on_untouched_copies") == 0,
    }
    return {**found, "targets": ROLLOUT_TARGETS, "meets_targets": meets}


def merge(report: dict[str, Any], section: dict[str, Any]) -> None:
    """Add a section's keys to the report; ``targets`` and ``meets_targets`` are merged."""
    for key, value in section.items():
        if key in ("targets", "meets_targets"):
            report.setdefault(key, {}).update(value)
        else:
            report[key] = value


if __name__ == "__main__":
    sys.exit(main())
