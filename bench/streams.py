"""Stream throughput through Mosquitto: one Wasm function on a supervisor vs a Python passthrough.

A producer publishes N numbered messages to ``bench/in`` as fast as paho takes them; a *path*
moves each one to ``bench/out``; a consumer counts what arrives there. The rate is messages
received over the time from the first publish to the last arrival; ``lost`` counts the
numbers that never arrived (within the idle timeout). One JSON object on stdout, progress
on stderr; the broker and every client are stopped in ``finally`` blocks.

Paths are context managers registered in ``PATHS`` by name: while one is entered, it moves
messages from its source topic to its target topic at the given QoS. ``baseline`` is a
Python subscriber that republishes each message. ``wasm`` is a real supervisor (its own
process, ``--broker``) with the ``relay`` module deployed as a triggered step: each message
runs ``relay`` through the bytes ABI and its output is published to the target topic. The
report's ``qos0_msgs_per_s``/``qos1_msgs_per_s`` are the Wasm path's,
``baseline_qos*_msgs_per_s`` the passthrough's, and ``wasm_cost_qos*`` how much slower the
Wasm path is (``1 - wasm/baseline``; the target is at most 0.30). ``wasm`` speaks MQTT 5 with
Mosquitto (``--mqtt-protocol auto``: every result carries its call's ``traceparent``);
``wasm311`` is the same supervisor told to speak 3.1.1, so ``wasm_over_wasm311_qos*`` is
what MQTT 5 and traces cost.

    .venv/bin/python bench/streams.py [--messages 5000] [--rounds 3] [--payload 100] [--quick]

Each path runs ``--rounds`` times, alternating with the others; a rate is the median of its
rounds, and ``runs`` lists every round.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.messaging.client import paho_client

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make tests.mqtt importable
    sys.path.insert(0, str(REPO))

from tests.mqtt import MOSQUITTO, MosquittoProcess, mosquitto_available  # noqa: E402
from tests.support import SupervisorProcess, module_file_server, readme_body  # noqa: E402

SOURCE, TARGET = "bench/in", "bench/out"
QOS_LEVELS = (0, 1)

PathFactory = Callable[[BrokerAddress, str, str, int], AbstractContextManager[None]]
"""(broker, source topic, target topic, qos) -> a context that moves messages while entered."""


def say(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def connected(broker: BrokerAddress, name: str, timeout: float = 10.0) -> Iterator[Any]:
    """A paho client connected to ``broker`` with its network thread running."""
    client = paho_client(broker, client_id=f"bench-{name}")
    ready = threading.Event()
    client.on_connect = lambda *args: ready.set()
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        if not ready.wait(timeout):
            raise RuntimeError(f"{name}: no CONNACK from {broker.url} within {timeout} s")
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def subscribe(client: Any, topic: str, qos: int, timeout: float = 10.0) -> None:
    """Subscribe and wait for the SUBACK."""
    done = threading.Event()
    client.on_subscribe = lambda *args: done.set()
    client.subscribe(topic, qos=qos)
    if not done.wait(timeout):
        raise RuntimeError(f"no SUBACK for {topic} within {timeout} s")


@contextlib.contextmanager
def passthrough(broker: BrokerAddress, source: str, target: str, qos: int) -> Iterator[None]:
    """The no-Wasm baseline: a Python subscriber that republishes each message to ``target``."""
    with connected(broker, "passthrough") as client:
        client.on_message = lambda c, u, msg: c.publish(target, msg.payload, qos=qos)
        subscribe(client, source, qos)
        yield


def wasm_relay(broker: BrokerAddress, source: str, target: str, qos: int) -> Iterator[None]:
    """``relay`` on a supervisor speaking MQTT 5 with Mosquitto (auto): results carry traces."""
    return relay_over(broker, source, target, qos, "auto")


def wasm_relay_311(broker: BrokerAddress, source: str, target: str, qos: int) -> Iterator[None]:
    """``relay`` on a supervisor told to speak MQTT 3.1.1 (no properties, no traces)."""
    return relay_over(broker, source, target, qos, "3.1.1")


@contextlib.contextmanager
def relay_over(
    broker: BrokerAddress, source: str, target: str, qos: int, protocol: str
) -> Iterator[None]:
    """A supervisor running ``relay`` as a step triggered by ``source`` publishing to ``target``."""
    with (
        tempfile.TemporaryDirectory(prefix="wasmfleet-bench-relay-") as tmp,
        module_file_server(Path(tmp)) as files,
    ):
        # A name of its own per round: the client id's persistent session must not carry
        # over, or the broker would hand this round the QoS 1 messages that the baseline's
        # round published to the source topic while the last supervisor was gone.
        sup = SupervisorProcess(
            Path(tmp) / "supervisor",
            name=f"relay-q{qos}-{uuid.uuid4().hex[:8]}",
            args=["--broker", broker.url, "--log-level", "warning", "--mqtt-protocol", protocol],
        )
        sup.start()
        try:
            body = readme_body(files, "bench", "relay", functions=["relay"])
            body["instructions"]["modules"]["relay"]["relay"].update(
                trigger={"topic": source, "qos": qos},
                publish={"topic": target, "qos": qos, "retain": False},
            )
            answer = sup.deploy(body)
            if answer.status_code != 200:
                raise RuntimeError(f"deploying relay failed: {answer.status_code} {answer.text}")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                if source in sup.get("/api/v1/status").json()["streams"]["active"]:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"the supervisor did not subscribe to {source} within 15 s")
            yield
        finally:
            sup.stop()


PATHS: dict[str, PathFactory] = {
    "baseline": passthrough,
    "wasm": wasm_relay,
    "wasm311": wasm_relay_311,
}


class Consumer:
    """Counts the numbered messages that reach the target topic."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.last = 0.0
        self.lock = threading.Lock()

    def on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        number = int(msg.payload[:10])
        with self.lock:
            self.seen.add(number)
            self.last = time.perf_counter()

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


def measure(
    broker: BrokerAddress, path: PathFactory, qos: int, messages: int, payload: int, idle: float
) -> dict[str, Any]:
    """Push ``messages`` through ``path`` at ``qos``; rate and losses."""
    consumer = Consumer()
    padding = b"x" * max(0, payload - 10)
    with connected(broker, f"consumer-q{qos}") as sink, path(broker, SOURCE, TARGET, qos):
        sink.on_message = consumer.on_message
        subscribe(sink, TARGET, qos)
        with connected(broker, f"producer-q{qos}") as producer:
            started = time.perf_counter()
            for i in range(messages):
                producer.publish(SOURCE, b"%010d" % i + padding, qos=qos)
            last_count, last_change = -1, time.perf_counter()
            deadline = started + max(60.0, messages / 100)
            while time.perf_counter() < deadline:
                count = consumer.count()
                if count >= messages:
                    break
                if count != last_count:
                    last_count, last_change = count, time.perf_counter()
                elif time.perf_counter() - last_change > idle:
                    break
                time.sleep(0.01)
    received = consumer.count()
    elapsed = max(consumer.last - started, 1e-9) if received else 0.0
    return {
        "msgs_per_s": round(received / elapsed, 1) if received else 0.0,
        "received": received,
        "lost": messages - received,
        "seconds": round(elapsed, 4),
    }


def mosquitto_version() -> str:
    """``mosquitto version 2.0.x`` (its first line of -h)."""
    try:
        out = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def main(argv: list[str] | None = None) -> int:
    """Measure every registered path at QoS 0 and 1 and print one JSON object."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, help="messages per measurement (default 5000)")
    parser.add_argument("--payload", type=int, default=100, help="bytes per message (>= 10)")
    parser.add_argument("--idle", type=float, default=3.0, help="give up after S s of no news")
    parser.add_argument("--quick", action="store_true", help="1000 messages (for a smoke test)")
    parser.add_argument("--path", action="append", choices=sorted(PATHS), help="paths to run")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of every path, alternating; rates are their medians (default 3, 1 --quick)",
    )
    args = parser.parse_args(argv)
    reason = mosquitto_available()
    if reason is not None:
        say(f"bench/streams.py {reason}")
        return 2
    messages = args.messages or (1000 if args.quick else 5000)
    rounds = max(1, args.rounds or (1 if args.quick else 3))
    names = args.path or sorted(PATHS)
    report: dict[str, Any] = {
        "benchmark": "streams",
        "messages": messages,
        "rounds": rounds,
        "payload_bytes": max(args.payload, 10),
        "broker": mosquitto_version(),
    }
    lost: dict[str, int] = {}
    details: dict[str, Any] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="wasmfleet-bench-streams-") as tmp:
        broker_process = MosquittoProcess(Path(tmp) / "mosquitto").start()
        try:
            broker = parse_broker_url(broker_process.url)
            # Paths alternate within each round, so a slow spell of the shared machine
            # falls on both sides of the comparison instead of on one.
            for round_no in range(1, rounds + 1):
                for qos in QOS_LEVELS:
                    for name in names:
                        say(f"round {round_no}/{rounds}, {name}: {messages} messages at qos {qos}")
                        result = measure(
                            broker, PATHS[name], qos, messages, args.payload, args.idle
                        )
                        samples.setdefault(f"{name}_qos{qos}", []).append(result)
        finally:
            broker_process.stop()
    for key, results in samples.items():
        rates = [r["msgs_per_s"] for r in results]
        report[f"{key}_msgs_per_s"] = round(statistics.median(rates), 1)
        lost[key] = sum(r["lost"] for r in results)
        details[key] = {k: [r[k] for r in results] for k in ("msgs_per_s", "lost", "seconds")}
    for name in names:
        for qos in QOS_LEVELS:
            base = report.get(f"baseline_qos{qos}_msgs_per_s")
            if name != "baseline" and base:
                ratio = report[f"{name}_qos{qos}_msgs_per_s"] / base
                report[f"{name}_over_baseline_qos{qos}"] = round(ratio, 3)
    for qos in QOS_LEVELS:
        if f"wasm_qos{qos}_msgs_per_s" in report:
            report[f"qos{qos}_msgs_per_s"] = report[f"wasm_qos{qos}_msgs_per_s"]
        if f"wasm_over_baseline_qos{qos}" in report:
            report[f"wasm_cost_qos{qos}"] = round(1 - report[f"wasm_over_baseline_qos{qos}"], 3)
        five = report.get(f"wasm_qos{qos}_msgs_per_s")
        old = report.get(f"wasm311_qos{qos}_msgs_per_s")
        if five and old:
            report[f"wasm_over_wasm311_qos{qos}"] = round(five / old, 3)
    total_lost = sum(lost.values())
    report["targets"] = {
        "qos0_msgs_per_s": 5000,
        "qos1_msgs_per_s": 2000,
        "lost": 0,
        "wasm_cost_max": 0.30,
    }
    report["met"] = {
        "qos0_msgs_per_s": report.get("qos0_msgs_per_s", 0) >= 5000,
        "qos1_msgs_per_s": report.get("qos1_msgs_per_s", 0) >= 2000,
        "lost": total_lost == 0,
        "wasm_cost": all(report.get(f"wasm_cost_qos{q}", 1.0) <= 0.30 for q in QOS_LEVELS),
    }
    report["lost_by_run"] = lost
    report["lost"] = total_lost
    report["runs"] = details
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
