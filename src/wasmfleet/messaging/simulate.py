"""Simulated sensors and controllers on MQTT (seed 001's sensor/controller roles).

A *sensor* publishes readings at a steady rate: a thermometer's JSON readings
(``{"sensor", "seq", "ts", "celsius"}``: a slow mean-reverting drift, a little noise and an
occasional spike, reproducible with a seed) or a camera's JPEG frames (the files the
supervisor's simulated camera serves). A *controller* subscribes to a topic filter and
reports every command it receives. Both use paho-mqtt (``messaging.client.paho_client``).

Pacing follows an absolute schedule — message ``i`` is due at ``start + i / rate`` — so
the achieved rate does not drift with the time each publish takes. Every loop is bounded by
a count or a duration, or stops on Ctrl-C; every wait for the broker has a timeout.
"""

from __future__ import annotations

import json
import math
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.core.errors import ConfigurationError, Unavailable
from wasmfleet.messaging.client import paho_client

CONNECT_TIMEOUT = 5.0
DRAIN_TIMEOUT = 10.0
MAX_LAG = 1.0
"""Seconds a sender may fall behind its schedule before the schedule restarts (no bursts)."""

_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*([a-z]+))?\s*$", re.IGNORECASE)
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PER |= {"h": 3600.0, "hour": 3600.0}


def parse_rate(text: str, what: str = "--rate") -> float:
    """``5/s``, ``0.5``, ``120/min``, ``10/h`` → messages per second (ConfigurationError)."""
    match = _RATE.match(text or "")
    unit = (match.group(2) or "s").lower() if match else ""
    if match is None or unit not in _PER:
        raise ConfigurationError(
            f"{what} {text!r} is not a rate; give messages per second or per minute, "
            "e.g. 5/s, 0.5/s or 120/min."
        )
    rate = float(match.group(1)) / _PER[unit]
    if rate <= 0 or rate > 100_000:
        raise ConfigurationError(
            f"{what} {text!r} is out of range; use more than 0 and at most 100000/s."
        )
    return rate


def format_rate(rate: float) -> str:
    """12.0 → '12/s', 0.5 → '0.5/s'."""
    return f"{rate:.6g}/s"


class TemperatureReadings:
    """One simulated thermometer: drift + noise + rare spikes, the same values for a seed.

    The drift is an Ornstein-Uhlenbeck process around ``base`` (it wanders about ±1 °C over
    tens of minutes); each reading adds N(0, ``noise``) and, with ``spike_probability``, a
    one-reading spike of 3-8 °C either way (a sensor glitch, or the sun on the housing).
    Values depend only on the seed, the index and ``interval`` (the seconds between readings),
    never on the wall clock, so a seeded run is reproducible.
    """

    def __init__(
        self,
        sensor: str = "sim-temperature",
        *,
        seed: int | None = None,
        interval: float = 1.0,
        base: float = 21.0,
        noise: float = 0.05,
        spike_probability: float = 0.01,
        reversion_s: float = 600.0,
        volatility: float = 0.05,
    ) -> None:
        self.sensor = sensor
        self.base = base
        self.noise = noise
        self.spike_probability = spike_probability
        self.seq = 0
        self.spikes = 0
        self._random = random.Random(seed)
        self._drift = 0.0
        self._pull = min(1.0, interval / reversion_s)
        self._step = volatility * math.sqrt(interval)

    def next_celsius(self) -> float:
        """The next value in °C (two decimals)."""
        rnd = self._random
        self._drift += -self._pull * self._drift + rnd.gauss(0.0, self._step)
        value = self.base + self._drift + rnd.gauss(0.0, self.noise)
        if rnd.random() < self.spike_probability:
            self.spikes += 1
            value += rnd.choice((-1.0, 1.0)) * rnd.uniform(3.0, 8.0)
        self.seq += 1
        return round(value, 2)

    def reading(self, ts: float) -> dict[str, Any]:
        """The next reading as the JSON object published: sensor, seq, ts, celsius."""
        celsius = self.next_celsius()
        return {"sensor": self.sensor, "seq": self.seq, "ts": round(ts, 3), "celsius": celsius}


class Source(Protocol):
    """What a simulated sensor publishes."""

    kind: str

    def payload(self, ts: float) -> bytes:
        """The next message."""
        ...


class TemperatureSource:
    """JSON readings of a ``TemperatureReadings``."""

    kind = "temperature"

    def __init__(self, readings: TemperatureReadings) -> None:
        self.readings = readings

    def payload(self, ts: float) -> bytes:
        """The next reading, JSON-encoded."""
        return json.dumps(self.readings.reading(ts), separators=(",", ":")).encode()


class CameraSource:
    """JPEG frames of a simulated camera: a folder's, in name order, round robin (default:
    the bundled scene, a figure walking through a room, so frames differ)."""

    kind = "camera"

    def __init__(self, folder: Path | None = None) -> None:
        from wasmfleet.runtime.host.camera import SimulatedCamera, bundled_scene

        if folder is not None and not folder.is_dir():
            raise ConfigurationError(f"--camera-dir {folder} is not a folder of .jpg files.")
        self._camera = SimulatedCamera(folder or bundled_scene())

    def payload(self, ts: float) -> bytes:
        """The next frame."""
        return self._camera.capture_jpeg()


class Pacer:
    """Waits until message ``i`` is due at ``start + i / rate`` (restarts if far behind)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._base = 0

    def wait(self, i: int, until: float | None = None) -> bool:
        """Sleep until message ``i`` is due; False if that is after ``until`` (no sleep then)."""
        due = self._start + (i - self._base) * self.interval
        now = self._clock()
        if now - due > MAX_LAG:  # stalled (a suspended laptop, a slow broker): no catch-up burst
            self._start, self._base, due = now, i, now
        if until is not None and due > until:
            return False
        if due > now:
            self._sleep(due - now)
        return True


@dataclass
class PublishSummary:
    """What a simulated sensor did."""

    topic: str
    qos: int
    rate_asked: float
    sent: int = 0
    acked: int = 0
    elapsed: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Messages per second achieved (sent over the time from first to last send)."""
        if self.sent < 2 or self.elapsed <= 0:
            return 0.0
        return (self.sent - 1) / self.elapsed

    def line(self) -> str:
        """The one-line summary printed at the end."""
        acked = str(self.acked) if self.qos else "n/a"
        return (
            f"sent {self.sent}, acked {acked} to {self.topic} (qos {self.qos}) in "
            f"{self.elapsed:.2f} s: {self.rate:.2f} msg/s achieved, "
            f"{format_rate(self.rate_asked)} asked" + (" (interrupted)" if self.interrupted else "")
        )


def connect(client: mqtt.Client, broker: BrokerAddress, timeout: float = CONNECT_TIMEOUT) -> None:
    """Connect and start the network thread; Unavailable with a sentence when it fails."""
    answered = threading.Event()
    outcome: list[Any] = []

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any = None) -> None:
        outcome.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise Unavailable(f"Cannot reach the MQTT broker at {broker.url}: {reason}.") from None
    client.loop_start()
    if not answered.wait(timeout):
        _close(client)
        raise Unavailable(f"The MQTT broker at {broker.url} did not answer within {timeout:g} s.")
    if outcome[0].is_failure:
        _close(client)
        raise Unavailable(f"The MQTT broker at {broker.url} refused the connection: {outcome[0]}.")


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def publish_stream(
    broker: BrokerAddress,
    topic: str,
    source: Source,
    *,
    rate: float,
    count: int | None = None,
    duration: float | None = None,
    qos: int = 1,
    drain_timeout: float = DRAIN_TIMEOUT,
    on_ready: Callable[[], None] | None = None,
) -> PublishSummary:
    """Publish ``source``'s messages to ``topic`` at ``rate``/s until count, duration or Ctrl-C
    (``on_ready`` is called once connected)."""
    summary = PublishSummary(topic=topic, qos=qos, rate_asked=rate)
    lock = threading.Lock()

    def on_publish(c: Any, userdata: Any, mid: int, reason: Any = None, props: Any = None) -> None:
        with lock:
            summary.acked += 1

    client = paho_client(broker)
    client.on_publish = on_publish
    client.max_inflight_messages_set(100)
    connect(client, broker)
    if on_ready is not None:
        on_ready()
    pacer = Pacer(rate)
    started = time.monotonic()
    until = None if duration is None else started + duration
    first = last = started
    try:
        i = 0
        while (count is None or i < count) and pacer.wait(i, until):
            now = time.monotonic()
            if i == 0:
                first = now
            info = client.publish(topic, source.payload(time.time()), qos=qos)
            if info.rc == mqtt.MQTT_ERR_SUCCESS or (qos and info.rc == mqtt.MQTT_ERR_NO_CONN):
                summary.sent += 1  # QoS 1/2 messages wait in paho's queue while reconnecting
                last = now
            i += 1
        _drain(summary, lock, drain_timeout)
    except KeyboardInterrupt:
        summary.interrupted = True
        _drain(summary, lock, min(drain_timeout, 2.0))
    finally:
        summary.elapsed = max(0.0, last - first)
        _close(client)
    return summary


def _drain(summary: PublishSummary, lock: threading.Lock, timeout: float) -> None:
    """Wait (bounded) until every sent message is acknowledged."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lock:
            if summary.acked >= summary.sent:
                return
        time.sleep(0.01)


def describe_payload(payload: bytes, limit: int = 300) -> str:
    """A payload on one line: text as is (newlines escaped, long text cut), binary as a size."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text):
        kind = "image/jpeg" if payload.startswith(b"\xff\xd8\xff") else "binary"
        return f"<{len(payload)} bytes, {kind}>"
    line = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(line) > limit:
        return f"{line[:limit]}... (+{len(line) - limit} chars)"
    return line


def receive_commands(
    broker: BrokerAddress,
    topic_filter: str,
    on_message: Callable[[str, bytes], None],
    *,
    qos: int = 1,
    count: int | None = None,
    duration: float | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Subscribe to ``topic_filter``; call ``on_message(topic, payload)`` for each message
    until ``count`` messages, ``duration`` seconds or Ctrl-C. Returns how many arrived."""
    inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
    granted: queue.Queue[list[Any]] = queue.Queue()
    client = paho_client(broker)
    client.on_message = lambda c, u, msg: inbox.put((msg.topic, bytes(msg.payload)))
    client.on_subscribe = lambda c, u, mid, codes, props=None: granted.put(list(codes))
    connect(client, broker)
    # Subscribe again after every reconnect: a clean session forgets subscriptions.
    client.on_connect = lambda c, u, f, reason, props=None: c.subscribe(topic_filter, qos=qos)
    client.subscribe(topic_filter, qos=qos)
    received = 0
    try:
        try:
            codes = granted.get(timeout=CONNECT_TIMEOUT)
        except queue.Empty:
            raise Unavailable(
                f"The MQTT broker at {broker.url} did not confirm the subscription to "
                f"{topic_filter!r} within {CONNECT_TIMEOUT:g} s."
            ) from None
        if any(getattr(code, "is_failure", False) for code in codes):
            raise Unavailable(
                f"The MQTT broker at {broker.url} refused the subscription to {topic_filter!r}."
            )
        if on_ready is not None:
            on_ready()
        deadline = None if duration is None else time.monotonic() + duration
        while count is None or received < count:
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                topic, payload = inbox.get(timeout=wait)
            except queue.Empty:
                continue
            received += 1
            on_message(topic, payload)
    except KeyboardInterrupt:
        pass
    finally:
        _close(client)
    return received
