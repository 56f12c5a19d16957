"""Who holds the supervisor's MQTT client id: presence, Last Will, and a probe before connecting.

Two supervisors started with the same ``--name`` use one client id, and MQTT lets the newcomer
take the session over: the broker drops the first connection without a word, and the two can
go on kicking each other out. So the client id is claimed in the open:

- **Presence.** ``wasmfleet/presence/<client id>`` holds a retained JSON message:
  ``{"state": "online", "instance", "host", "pid", "since"}`` published after every connect
  (``instance`` is random per process). The connection's **Last Will** is the same with
  ``"state": "offline"``: the broker publishes it when the connection ends without a
  DISCONNECT — at once for a killed process (its kernel closes the socket), after 1.5 x the
  keepalive (45 s) for a device that lost power or its network. A supervisor that stops
  publishes ``offline`` itself. (The supervisor does not subscribe to its own presence: amqtt
  0.12 sends every connecting client the retained messages of every filter that *any* client
  subscribed to, so the presence would reach every client of the demo's broker.)
- **Probe.** Before every connect with the real client id (the first and each reconnect), a
  probe client (clean session, its own id) reads the retained presence. Nothing, ``offline``,
  or this process's own instance: connect. ``online`` of another instance — or, once this
  process has held the client id, any message of another instance — ping it (``.../ping``,
  QoS 0) and wait ``ping_timeout`` (3 s) for the answer on ``.../pong/<probe>``. An answer
  means the name is taken: do not connect (``HoldOff``), look again every ``recheck_s``
  (30 s). No answer means the holder is gone (a killed process, a device that lost power, a
  frozen process whose connection the broker still holds) and this one takes over: a
  restart wins within the ping timeout, however recently the old one died. While held off,
  the holder must be silent at two checks in a row, so a supervisor that merely reconnects
  after a broker restart keeps its name.
- **Takeover anyway** (a holder too busy to answer for 3 s, or a client that is not a
  wasmfleet supervisor): the first one loses its connection, its reconnect probe finds the
  newcomer answering, and it holds off and says so instead of fighting back.

A probe the broker refuses (an ACL on client ids or on ``wasmfleet/presence/#``) cannot check:
the supervisor connects as before and logs why once. Presence is a courtesy between
supervisors, not a security mechanism: anything allowed to publish there can impersonate one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.messaging.client import paho_client
from wasmfleet.supervisor.mqtt_loop import NotNow

log = logging.getLogger("wasmfleet.supervisor.mqtt")
PRESENCE_PREFIX = "wasmfleet/presence"
PING_TIMEOUT_S = 3.0
RECHECK_S = 30.0
PROBE_TIMEOUT_S = 5.0
"""Connect, subscribe and read the retained presence within this, or give up checking."""
_SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class HoldOff(NotNow):
    """Do not connect now: the client id is taken. Look again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float, holder: Presence, kind: str) -> None:
        super().__init__(message, delay)
        self.holder = holder
        self.kind = kind
        """``in_use`` (at start), ``taken_over`` (after holding it), ``silent`` (a holder that
        stopped answering, given one more check before this one takes over)."""


@dataclass(frozen=True, slots=True)
class Presence:
    """A retained presence message: who holds a client id, or held it last."""

    online: bool
    instance: str
    host: str = ""
    pid: int = 0
    since: float = 0.0

    def to_bytes(self) -> bytes:
        """The JSON payload."""
        body = {
            "state": "online" if self.online else "offline",
            "instance": self.instance,
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
        }
        return json.dumps(body, sort_keys=True).encode()

    def describe(self) -> str:
        """``pid 123 on gw-1, online since 2026-01-01T10:00:00Z, instance 3f2a...``."""
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"pid {self.pid} on {self.host or '?'}, up since {since}, instance {self.instance}"

    def to_dict(self) -> dict[str, Any]:
        """For the status page."""
        return {"instance": self.instance, "host": self.host, "pid": self.pid, "since": self.since}


def parse_presence(payload: bytes) -> Presence | None:
    """A presence message, or None when the payload is not one."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("state") not in ("online", "offline"):
        return None
    instance = body.get("instance")
    if not isinstance(instance, str) or not instance:
        return None
    host, pid, since = body.get("host"), body.get("pid"), body.get("since")
    return Presence(
        online=body["state"] == "online",
        instance=instance,
        host=host if isinstance(host, str) else "",
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else 0,
        since=float(since) if isinstance(since, int | float) and not isinstance(since, bool) else 0,
    )


class NameClaim:
    """This process's claim on a client id: its presence, will, probe and ping answers."""

    def __init__(
        self,
        broker: BrokerAddress,
        client_id: str,
        *,
        ping_timeout: float = PING_TIMEOUT_S,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.ping_timeout = ping_timeout
        self.recheck_s = recheck_s
        self.instance = uuid.uuid4().hex
        self.topic = f"{PRESENCE_PREFIX}/{client_id}"
        self.ping_topic = f"{self.topic}/ping"
        self.me = Presence(True, self.instance, socket.gethostname(), os.getpid(), time.time())
        self.conflict: dict[str, Any] | None = None
        """Set while another supervisor holds the client id (the status page shows it)."""
        self.held_off = False
        self.had_connection = False
        self._silent_checks = 0
        self._lock = threading.Lock()
        self._probe_count = 0
        self._warned = False
        self.stopping = threading.Event()
        """Set when the supervisor stops: a probe in progress gives up."""

    @property
    def online(self) -> bytes:
        """The retained message published after connecting."""
        return self.me.to_bytes()

    @property
    def offline(self) -> bytes:
        """The Last Will, and the message published when stopping."""
        return Presence(False, self.instance, self.me.host, self.me.pid, self.me.since).to_bytes()

    def pong(self, payload: bytes) -> str | None:
        """The topic to answer a ping on (None for a payload that is not a ping)."""
        try:
            body = json.loads(payload)
        except ValueError:
            return None
        probe = body.get("probe") if isinstance(body, dict) else None
        if not isinstance(probe, str) or not _SAFE_ID.fullmatch(probe):
            return None
        return f"{self.topic}/pong/{probe}"

    def connected(self) -> None:
        """The broker accepted the client id: this process holds it."""
        self.had_connection = True
        self.held_off = False
        self.conflict = None
        self._silent_checks = 0

    def hold_off(self, err: HoldOff) -> bool:
        """Record who holds the client id; True when that is news (worth an error line)."""
        self.held_off = True
        before = self.conflict
        news = before is None or before["holder"]["instance"] != err.holder.instance
        self.conflict = {
            "kind": err.kind,
            "holder": err.holder.to_dict(),
            "message": err.message,
            "detected_at": before["detected_at"] if before and not news else time.time(),
        }
        return news

    # -- before each connect (a worker thread) --------------------------------------------

    def check(self) -> None:
        """Probe the broker; HoldOff when another live supervisor holds the client id."""
        with self._lock:
            self._probe_count += 1
            probe_id = f"{self.instance[:12]}-{self._probe_count}"
        try:
            holder, answered = _probe(self, probe_id, self._worth_asking)
        except _CannotCheck as err:
            if not self._warned:  # the same ACL answers the same way every time
                self._warned = True
                log.warning(
                    "cannot check whether another supervisor uses this MQTT client id; "
                    "connecting without the check",
                    extra={"client_id": self.client_id, "reason": str(err)},
                )
            return
        if holder is None or holder.instance == self.instance or not self._worth_asking(holder):
            self._silent_checks = 0
            return
        if answered is None:
            self._silent_checks += 1
            if self.held_off and self._silent_checks < 2:
                raise HoldOff(self._sentence(holder, silent=True), self.recheck_s, holder, "silent")
            log.warning(
                "the last holder of this MQTT client id does not answer: taking its session over",
                extra={"client_id": self.client_id, "holder": holder.describe()},
            )
            return
        self._silent_checks = 0
        kind = "taken_over" if self.had_connection else "in_use"
        raise HoldOff(self._sentence(answered, silent=False), self.recheck_s, answered, kind)

    def _worth_asking(self, holder: Presence) -> bool:
        """Ping the holder? When another instance is online, and, once this one held the
        client id, when another instance said anything since (an ``offline`` there may be a
        broker's mistake: amqtt 0.12 publishes the newcomer's will on a take-over)."""
        return holder.instance != self.instance and (holder.online or self.had_connection)

    def _sentence(self, holder: Presence, *, silent: bool) -> str:
        name = self.client_id.removeprefix("wasmfleet-")
        if silent:
            return (
                f"supervisor {name!r} ({holder.describe()}) held MQTT client id "
                f"{self.client_id!r} on {self.broker.url} and stopped answering; this one "
                f"takes the session over if it is still silent in {self.recheck_s:g} s."
            )
        what = "took over this supervisor's" if self.had_connection else "already holds the"
        return (
            f"another supervisor named {name!r} ({holder.describe()}) {what} MQTT session "
            f"(client id {self.client_id!r} on {self.broker.url}); this one does not take the "
            f"session back and has no triggers or publishing until that one stops (checked "
            f"every {self.recheck_s:g} s). Stop the other supervisor or give this one another "
            "--name."
        )


class _CannotCheck(Exception):
    """The probe could not read the presence (refused, ACL, no answer)."""


def _probe(
    claim: NameClaim, probe_id: str, worth_asking: Callable[[Presence], bool]
) -> tuple[Presence | None, Presence | None]:
    """(The retained presence, the holder's answer to a ping or None). Blocking; raises
    OSError when the broker cannot be reached, _CannotCheck when it does not let us look."""
    probe = _Probe(claim, probe_id)
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    client = probe.client
    rc = client.connect(claim.broker.host, claim.broker.port, keepalive=10)
    if rc != mqtt.MQTT_ERR_SUCCESS:
        raise OSError(mqtt.error_string(rc))
    try:
        reason = probe.next("connack", deadline)
        if reason is None or reason.is_failure:
            raise _CannotCheck(f"the broker refused the probe connection: {reason}")
        client.subscribe([(claim.topic, 0), (probe.pong_topic, 0)])
        reasons = probe.next("suback", deadline)
        if reasons is None or any(r.is_failure for r in reasons):
            raise _CannotCheck(f"the broker refused a subscription to {claim.topic}")
        # Retained messages come with the subscription; our own message published after it
        # comes back after them, so once it is here the retained presence (if any) is too.
        client.publish(probe.pong_topic, probe.echo, qos=0)
        holder: Presence | None = None
        echoed = False
        while not echoed and time.monotonic() < deadline and not claim.stopping.is_set():
            for topic, payload in probe.messages(deadline):
                if topic == claim.topic:
                    holder = parse_presence(payload)
                elif topic == probe.pong_topic and payload == probe.echo:
                    echoed = True
        if not echoed:
            raise _CannotCheck(f"the broker did not echo a message on {probe.pong_topic}")
        if holder is None or not worth_asking(holder):
            return holder, None
        return holder, probe.ping()
    finally:
        client.disconnect()
        for _ in range(3):  # send the DISCONNECT; paho then closes the socket
            if client.socket() is None:
                break
            client.loop(timeout=0.05)


class _Probe:
    """A short-lived client run on the calling thread (``loop``), collecting its events."""

    def __init__(self, claim: NameClaim, probe_id: str) -> None:
        self.claim = claim
        self.probe_id = probe_id
        self.pong_topic = f"{claim.topic}/pong/{probe_id}"
        self.echo = json.dumps({"echo": probe_id}).encode()
        self.events: list[tuple[str, Any, Any]] = []
        events = self.events
        client = paho_client(claim.broker, client_id=f"{claim.client_id}-probe-{probe_id}")
        client.on_connect = lambda c, u, f, reason, p: events.append(("connack", reason, None))
        client.on_subscribe = lambda c, u, mid, reasons, p: events.append(("suback", reasons, 0))
        client.on_message = lambda c, u, m: events.append(("message", m.topic, bytes(m.payload)))
        self.client = client

    def _running(self, until: float) -> bool:
        return time.monotonic() < until and not self.claim.stopping.is_set()

    def next(self, kind: str, until: float) -> Any:
        """Run the client until an event of ``kind`` (its value), or None at ``until``."""
        while self._running(until):
            for i, (what, value, _) in enumerate(self.events):
                if what == kind:
                    del self.events[i]
                    return value
            self.client.loop(timeout=0.05)
        return None

    def messages(self, until: float) -> list[tuple[str, bytes]]:
        """Run the client until messages arrived (or ``until``); take them."""
        while self._running(until):
            taken = [(str(t), bytes(p)) for what, t, p in self.events if what == "message"]
            if taken:
                self.events[:] = [e for e in self.events if e[0] != "message"]
                return taken
            self.client.loop(timeout=0.05)
        return []

    def ping(self) -> Presence | None:
        """Ask the holder to answer (once a second); its presence, or None after the timeout."""
        ping = json.dumps({"probe": self.probe_id}).encode()
        deadline = time.monotonic() + self.claim.ping_timeout
        while self._running(deadline):
            self.client.publish(self.claim.ping_topic, ping, qos=0)
            for topic, payload in self.messages(min(deadline, time.monotonic() + 1.0)):
                if topic == self.pong_topic and payload != self.echo:
                    answer = parse_presence(payload)
                    if answer is not None and answer.online:
                        return answer
        return None
