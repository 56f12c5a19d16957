"""Benchmark the fan-in: heartbeats from one orchestrator to another through LISTEN/NOTIFY.

Run ``python bench/fanin.py [--devices 1000] [--seconds 10]`` with the project venv. It
prints one JSON object on stdout (progress on stderr); bench/README.md explains the keys.

A throw-away PostgreSQL (tests/postgres.py, as the tests use) and two processes, each with
the orchestrator's own ``FanIn`` (src/wasmfleet/orchestrator/fanin.py):

- the *sender* (this process) stands for orchestrator A: ``FanIn.beat`` for every heartbeat
  A received, exactly as the heartbeat route calls it;
- the *receiver* (a child process) stands for orchestrator B: its ``FanIn`` listens and feeds
  a real ``FleetMonitor`` watching every device (``heartbeat(remote=True)``).

Phases, in this order:

1. **Baseline, same run** (in the receiver): the in-process path, heartbeats handed straight
   to the monitor as fast as it takes them (what one orchestrator does with its own); and
   B's own share of the channel path, notifications decoded and fed with no database.
2. **Paced**: ``--devices`` devices x 2 heartbeats/s for ``--seconds`` (the issue's load),
   spread evenly; delivered/s and delivery latency (queued at A → read by B, per
   heartbeat: p50, p99, max), and losses.
3. **Table alternative**: the paced load written instead to a heartbeats table (an upsert per
   heartbeat, one transaction per 10 ms slice, a sequence number per write) that B reads every
   50 ms: "through the database" rather than through a notification channel.
4. **Flood**: as many heartbeats as the channel carries for ``--seconds`` (the sender keeps
   its queue topped up); delivered/s at B: the ceiling of this path on this machine. Last,
   because B goes on reading its backlog after the sender stops.
5. With ``--orchestrators``: two real orchestrator processes on the database, the paced load
   POSTed over HTTP to A's ``/api/v1/heartbeat`` (64 connections); what B relayed and how late.

Every wait is bounded; the child is stopped in a ``finally`` block.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.postgres importable
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from wasmfleet.core.device_wire import Heartbeat  # noqa: E402
from wasmfleet.orchestrator.fanin import FanIn, pack  # noqa: E402
from wasmfleet.orchestrator.monitor import FleetMonitor  # noqa: E402
from wasmfleet.orchestrator.settings import OrchestratorSettings  # noqa: E402
from wasmfleet.orchestrator.store import open_store  # noqa: E402

INTERVAL_S = 0.5
POLL_S = 0.05
"""How often the table alternative reads new heartbeats."""
TABLE = """
CREATE TABLE IF NOT EXISTS bench_beats (name TEXT PRIMARY KEY, seq BIGINT, at DOUBLE PRECISION,
                                        v BIGINT);
CREATE SEQUENCE IF NOT EXISTS bench_beats_v;
CREATE INDEX IF NOT EXISTS bench_beats_by_v ON bench_beats (v);
"""
UPSERT = (
    "INSERT INTO bench_beats (name, seq, at, v) VALUES (%s, %s, %s, nextval('bench_beats_v')) "
    "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, at = excluded.at, v = excluded.v"
)
BASELINE_BEATS = 50_000


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0, 2)


# -- the receiver (orchestrator B) -------------------------------------------------------


class _Recorder(FanIn):
    """A FanIn that also records, per phase, each heartbeat's delivery latency."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(conninfo, origin="receiver")
        self.phases: dict[str, dict[str, Any]] = {}
        self.last_rx = time.monotonic()

    async def received(self, payload: str) -> None:
        self.last_rx = time.monotonic()
        now = time.time()
        doc = orjson.loads(payload)
        for item in doc["i"]:
            phase = str(item[1]).split("-", 1)[0]
            book = self.phases.setdefault(phase, {"latency": [], "first": now, "last": now})
            book["latency"].append(now - float(doc["t"]))
            book["last"] = now
        await super().received(payload)


async def _baseline(monitor: FleetMonitor, names: list[str]) -> float:
    beats = [Heartbeat({"name": n, "seq": 1, "interval_s": INTERVAL_S}) for n in names]
    start = time.perf_counter()
    for i in range(BASELINE_BEATS):
        await monitor.heartbeat(beats[i % len(beats)], remote=True)
    return BASELINE_BEATS / (time.perf_counter() - start)


async def _decode_feed(monitor: FleetMonitor, names: list[str]) -> float:
    """B's own share of the channel: notifications decoded and fed, with no database."""
    probe = FanIn("postgresql://unused", origin="probe")
    probe.monitor = monitor
    usage = {"cpu": 0.1, "memory": 0.2, "memory_used_mb": 100, "memory_total_mb": 1000}
    items = [
        (time.time(), orjson.dumps(["b", names[i % len(names)], 10 + i, INTERVAL_S, usage]))
        for i in range(BASELINE_BEATS)
    ]
    payloads = pack("elsewhere", items)
    start = time.perf_counter()
    for payload in payloads:
        await probe.received(payload)
    return BASELINE_BEATS / (time.perf_counter() - start)


async def receiver(url: str, devices: int) -> None:
    """Listen until stdin says stop; print what arrived, as JSON."""
    settings = OrchestratorSettings(data_dir=Path("/tmp/wasmfleet-bench-fanin"), mdns=False)
    store = open_store(url)
    monitor = FleetMonitor(store, settings)
    names = [f"{ph}-{i:05d}" for ph in ("paced", "flood", "table") for i in range(devices)]
    for name in names:
        monitor.watch(name, pushes_every=INTERVAL_S)
    baseline = await _baseline(monitor, names)
    decode_feed = await _decode_feed(monitor, names)
    fan = _Recorder(url)
    await fan.start(monitor, _NoEvents())  # type: ignore[arg-type]
    for _ in range(200):
        if fan.state == "up":
            break
        await asyncio.sleep(0.05)
    poller = asyncio.create_task(_poll_table(url, fan, monitor))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    deadline = time.monotonic() + 60.0
    while time.monotonic() - fan.last_rx < 1.0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # read what is still on the way
    poller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await poller
    phases = {
        name: {
            "received": len(book["latency"]),
            "window_s": round(book["last"] - book["first"], 3),
            "latency_ms_p50": _pct(book["latency"], 0.50),
            "latency_ms_p99": _pct(book["latency"], 0.99),
            "latency_ms_max": _pct(book["latency"], 1.0),
        }
        for name, book in fan.phases.items()
    }
    stats = fan.stats()
    await fan.stop()
    store.close()
    out = {"baseline_per_s": round(baseline), "phases": phases, "monitor": monitor.relayed}
    out["decode_feed_per_s"] = round(decode_feed)
    out["out_of_order"] = stats["out_of_order"]
    print(json.dumps(out), flush=True)


async def _poll_table(url: str, fan: _Recorder, monitor: FleetMonitor) -> None:
    """The alternative: read the heartbeats table every POLL_S, feed the monitor the new rows."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        last = 0
        while True:
            await asyncio.sleep(POLL_S)
            rows = await (
                await conn.execute(
                    "SELECT name, seq, at, v FROM bench_beats WHERE v > %s ORDER BY v", (last,)
                )
            ).fetchall()
            now = time.time()
            for name, seq, at, v in rows:
                last = v
                fan.last_rx = time.monotonic()
                book = fan.phases.setdefault("table", {"latency": [], "first": now, "last": now})
                book["latency"].append(now - at)
                book["last"] = now
                beat = Heartbeat({"name": name, "seq": seq, "interval_s": INTERVAL_S})
                await monitor.heartbeat(beat, remote=True)


class _NoEvents:
    forward = None

    def deliver_remote(self, kind: str, data: dict[str, Any]) -> None:
        """Events are not part of this benchmark."""


# -- the sender (orchestrator A) -----------------------------------------------------------


async def _paced(fan: FanIn, devices: int, seconds: float) -> int:
    """``devices`` heartbeats every INTERVAL_S, spread in 10 ms slices; how many were queued."""
    rate = devices / INTERVAL_S
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            name, seq = f"paced-{sent % devices:05d}", sent // devices + 1
            fan.beat(Heartbeat({"name": name, "seq": seq, "interval_s": INTERVAL_S}))
            sent += 1
        await asyncio.sleep(0.01)
    return sent


async def _table(url: str, devices: int, seconds: float) -> int:
    """The paced load written to a table instead (one transaction per 10 ms slice)."""
    import psycopg

    rate = devices / INTERVAL_S
    start = time.monotonic()
    sent = 0
    async with await psycopg.AsyncConnection.connect(url, autocommit=False) as conn:
        while (elapsed := time.monotonic() - start) < seconds:
            due, rows = int(elapsed * rate), []
            while sent < due:
                rows.append((f"table-{sent % devices:05d}", sent // devices + 1, time.time()))
                sent += 1
            if rows:
                async with conn.cursor() as cur:
                    await cur.executemany(UPSERT, rows)
                await conn.commit()
            await asyncio.sleep(0.01)
    return sent


async def _flood(fan: FanIn, devices: int, seconds: float) -> int:
    """Keep the sender's queue topped up for ``seconds``; how many were queued."""
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        while len(fan._out) < 5000:
            i = sent % devices
            name = f"flood-{i:05d}"
            fan.beat(Heartbeat({"name": name, "seq": sent // devices + 1, "interval_s": 0.5}))
            sent += 1
        await asyncio.sleep(0.002)
    return sent


async def sender(url: str, devices: int, seconds: float, real: bool) -> dict[str, Any]:
    """Run the phases against a receiver child; the JSON of the whole run."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--role", "receiver", "--url", url, "--devices", str(devices)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 120)
        if line.strip() != "ready":
            raise RuntimeError(f"the receiver did not start: {line!r}")
        fan = FanIn(url, origin="sender")
        await fan.start(_monitor_stub(), _NoEvents())  # type: ignore[arg-type]
        for _ in range(100):  # the receiver's hello (every HELLO_S): then A publishes
            if fan.has_peers():
                break
            await asyncio.sleep(0.05)
        _say(f"paced: {devices} devices x {1 / INTERVAL_S:g}/s for {seconds:g} s")
        paced = await _paced(fan, devices, seconds)
        await _drain(fan)
        await asyncio.sleep(1.0)
        _say(f"table: the paced load written to a table, read every {POLL_S * 1000:g} ms")
        table = await _table(url, devices, seconds)
        await asyncio.sleep(1.0)
        _say(f"flood for {seconds:g} s")  # last: B is still reading its backlog afterwards
        flood = await _flood(fan, devices, seconds)
        await _drain(fan)
        await asyncio.sleep(1.0)
        sent_stats = fan.stats()
        await fan.stop()
        two = None
        if real:
            _say("two orchestrators: heartbeats over HTTP to A, relayed to B")
            two = await _orchestrators(url, devices, seconds)
        child.stdin.write("stop\n")
        child.stdin.flush()
        answer = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 60)
        got = json.loads(answer)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
    p, f = got["phases"].get("paced", {}), got["phases"].get("flood", {})
    t = got["phases"].get("table", {})
    return {
        "devices": devices,
        "offered_per_s": devices / INTERVAL_S,
        "seconds": seconds,
        "baseline_in_process_per_s": got["baseline_per_s"],
        "decode_feed_per_s": got["decode_feed_per_s"],
        "paced": {
            "queued": paced,
            "delivered": p.get("received", 0),
            "delivered_per_s": round(p.get("received", 0) / seconds),
            **{k: v for k, v in p.items() if k.startswith("latency")},
        },
        "flood": {
            "queued": flood,
            "delivered": f.get("received", 0),
            "delivered_per_s": round(f.get("received", 0) / max(f.get("window_s", 0), 1e-9)),
            "receiving_window_s": f.get("window_s"),
            **{k: v for k, v in f.items() if k.startswith("latency")},
        },
        "table_alternative": {
            "queued": table,
            "delivered": t.get("received", 0),
            "delivered_per_s": round(t.get("received", 0) / seconds),
            "poll_ms": POLL_S * 1000,
            **{k: v for k, v in t.items() if k.startswith("latency")},
        },
        "two_orchestrators": two,
        "notifications": sent_stats["notifications"],
        "dropped_at_sender": sent_stats["dropped"],
        "out_of_order_at_receiver": got["out_of_order"],
        "ratio_flood_to_in_process": round(
            f.get("received", 0) / max(f.get("window_s", 0), 1e-9) / got["baseline_per_s"], 3
        ),
    }


async def _orchestrators(url: str, devices: int, seconds: float) -> dict[str, Any]:
    """Two real orchestrators: heartbeats over HTTP to A at the paced rate; what B relays."""
    import httpx
    from tests.support import OrchestratorProcess

    from wasmfleet.orchestrator.store import DeviceRecord

    root = Path(tempfile.mkdtemp(prefix="wasmfleet-bench-fanin-"))
    args = ["--database-url", url, "--health-interval", "600"]  # judged by heartbeats only
    a = OrchestratorProcess(root / "a", name="a", args=args)
    b = OrchestratorProcess(root / "b", name="b", args=args)
    latencies: list[float] = []
    failures = 0
    try:
        a.start(60)
        b.start(60)
        # Stored after the start: an orchestrator health-checks every stored device as it
        # starts, and 1000 that do not answer delay its readiness by a minute here.
        store = open_store(url)
        for i in range(devices):
            store.upsert_device(DeviceRecord(name=f"hb-{i:05d}", addresses=["127.0.0.1"], port=9))
        store.close()

        def fanin(orch: OrchestratorProcess) -> dict[str, Any]:
            info: dict[str, Any] = orch.get("/api/v1/status").json()["orchestrator"]["fanin"]
            return info

        before = fanin(b)["received_heartbeats"]
        gate = asyncio.Semaphore(64)
        async with httpx.AsyncClient(
            base_url=a.url, limits=httpx.Limits(max_connections=64), timeout=5.0
        ) as client:

            async def one(i: int, seq: int) -> None:
                nonlocal failures
                body = {"name": f"hb-{i:05d}", "seq": seq, "interval_s": INTERVAL_S}
                body["usage"] = {"cpu": 0.1, "memory": 0.2}
                async with gate:
                    start = time.perf_counter()
                    try:
                        answer = await client.post("/api/v1/heartbeat", json=body)
                        ok = answer.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    latencies.append(time.perf_counter() - start)
                    failures += not ok

            rate, sent, tasks = devices / INTERVAL_S, 0, []
            begin = time.monotonic()
            while (elapsed := time.monotonic() - begin) < seconds:
                while sent < int(elapsed * rate):
                    tasks.append(asyncio.create_task(one(sent % devices, sent // devices + 1)))
                    sent += 1
                await asyncio.sleep(0.01)
            await asyncio.gather(*tasks)
            took = time.monotonic() - begin
        await asyncio.sleep(2.0)
        relayed = fanin(b)
        on_b = b.get("/api/v1/devices").json()
    finally:
        b.stop()
        a.stop()
    return {
        "http_sent": sent,
        "http_failed": failures,
        "http_per_s": round(sent / took),
        "http_latency_ms_p50": _pct(latencies, 0.50),
        "http_latency_ms_p99": _pct(latencies, 0.99),
        "relayed_to_b": relayed["received_heartbeats"] - before,
        "b_latency_ms_p50": relayed["latency_ms_p50"],
        "b_latency_ms_p99": relayed["latency_ms_p99"],
        "b_devices_judged_by_heartbeats": sum(d.get("monitoring") == "heartbeats" for d in on_b),
    }


def _monitor_stub() -> Any:
    class _Nobody:
        async def heartbeat(self, beat: Heartbeat, *, remote: bool = False) -> bool:
            return True

    return _Nobody()


async def _drain(fan: FanIn) -> None:
    for _ in range(600):
        if not fan._out:
            return
        await asyncio.sleep(0.05)


def main() -> None:
    """Parse arguments; run as the sender (default) or the receiver child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--orchestrators",
        action="store_true",
        help="also run two real orchestrators, heartbeats over HTTP to one (slow: see README)",
    )
    parser.add_argument("--role", choices=["sender", "receiver"], default="sender")
    parser.add_argument("--url", default=None, help="a PostgreSQL database (else a new server)")
    args = parser.parse_args()
    if args.role == "receiver":
        asyncio.run(receiver(args.url, args.devices))
        return
    import psycopg
    from tests.postgres import PostgresServer

    with PostgresServer() as pg:
        url = args.url or pg.create_database("fanin")
        open_store(url).close()  # the schema, before the receiver opens it
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TABLE.encode())
        result = asyncio.run(sender(url, args.devices, args.seconds, args.orchestrators))
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
