"""Watching the fleet: heartbeats and health polls in, device status changes out.

Every device has a ``Liveness`` (``core.failure_detector``): a phi-accrual detector fed by
the heartbeats a wasmfleet supervisor pushes (every 500 ms by default) or, for a device
that does not push (the original wasmiot supervisor), by its successful health polls. A
tick every ``monitor_tick_s`` evaluates phi; each transition (``active → suspect →
dead``, and back) is written to the device's status log with the phi value. A death is
handed to the healer, which moves the device's work; a recovery asks the healer to fence
stale copies on the device and to retry degraded deployments.

If the orchestrator itself stalls (its event loop blocked for a second), the round is
skipped: heartbeats that queued up during the stall must be read before anyone is
declared dead for silence the orchestrator caused.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from wasmfleet.core.device_wire import Heartbeat
from wasmfleet.core.errors import NotLeader
from wasmfleet.core.failure_detector import (
    DetectorSettings,
    Liveness,
    PhiAccrualDetector,
    Transition,
)
from wasmfleet.orchestrator.metrics import UsageBook
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import Store

log = logging.getLogger(__name__)

LAG_S = 0.25
"""A detector tick this late means the event loop was held (the orchestrator was busy or
paused): heartbeats that arrived meanwhile wait in socket buffers, unread."""
CALM_S = 1.0
"""After such a lag, no device is judged for this long, so the heartbeats that waited are
read first (a busy orchestrator must not declare its fleet dead; docs/scale-out.md)."""
LOG_LAG_S = 0.5
"""Lags at least this long are logged (shorter ones are only counted in skipped_rounds)."""
HOLD_LOG_S = 10.0
"""Holds are logged at most this often (all are counted in ``holds``)."""
HEALTH_WRITE_S = 5.0
"""Heartbeat usage is written to the store at most this often per device."""
HEALTH_FLUSH_S = 1.0
"""Heartbeat usage due to be written waits at most this long, to be written with the
usage of other devices in one transaction (a transaction per device cost more than the rest
of the heartbeat route at a thousand devices)."""


OnTransition = Callable[[Transition], Awaitable[None]]


class FleetMonitor:
    """One failure detector per device; records transitions and tells the listener."""

    def __init__(
        self,
        store: Store,
        settings: OrchestratorSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.detector = DetectorSettings(
            threshold=settings.phi_threshold,
            suspect_threshold=settings.suspect_phi,
            acceptable_pause_s=settings.acceptable_pause_s,
            flap_count=settings.flap_count,
            flap_window_s=settings.flap_window_s,
            stable_s=settings.stable_s,
        )
        self._poll_detector = replace(
            self.detector,
            acceptable_pause_s=settings.acceptable_pause_s + settings.health_timeout_s,
        )
        self._live: dict[str, Liveness] = {}
        self._push: dict[str, float] = {}
        """Devices that push heartbeats, with the interval they announced."""
        self._health_written: dict[str, float] = {}
        self._health_due: dict[str, tuple[dict[str, Any], datetime]] = {}
        """Usage to write at the next flush, by device (the latest per device)."""
        self._health_flusher: asyncio.Task[None] | None = None
        self._streams: dict[str, dict[str, int]] = {}
        """The last message counters each device reported (devices with a broker)."""
        self.listeners: list[OnTransition] = []
        self.heartbeats = 0
        """Heartbeats devices sent to this orchestrator."""
        self.held_until = 0.0
        """No device is judged before this time (``hold``; the loop's own lag in ``run``)."""
        self.peers_quiet: Callable[[float], bool] | None = None
        """Whether an orchestrator that relays heartbeats here went quiet just now (fanin.py):
        the devices it hears are not judged meanwhile."""
        self.relayed = 0
        """Heartbeats other orchestrators received and relayed here (fanin.py)."""
        self.skipped_rounds = 0
        self.holds = 0
        """Times judging was held after a calm spell (``hold``)."""
        self._hold_logged = -HOLD_LOG_S
        self.usage: UsageBook | None = None
        """Where heartbeats' CPU and memory usage go for GET /api/v1/devices/{key}/usage."""
        self.acting: Callable[[], contextvars.Context | None] | None = None
        """The leader elector's ``context`` (docs/scale-out.md): transitions are written and
        told to the listeners only while this orchestrator leads, under its fence; a follower
        keeps judging in memory and ``adopt`` catches up when it gains the lead. None: a lone
        monitor, always acting."""
        self._unwritten: set[str] = set()
        """Devices whose transitions were judged while this process could not act as leader."""

    # -- what others ask -------------------------------------------------------------

    def status(self, name: str) -> str | None:
        """The detector's status of a device (None when not watched)."""
        live = self._live.get(name)
        return live.status if live is not None else None

    def pushes(self, name: str) -> bool:
        """True when the device sends heartbeats (so health polls are not needed)."""
        return name in self._push

    def describe(self, name: str) -> dict[str, Any]:
        """What the monitor knows of a device, for views."""
        live = self._live.get(name)
        if live is None:
            return {"monitoring": None, "phi": None, "placeable": False}
        now = self.clock()
        placeable, why = live.placeable(now)
        last = live.detector.last_at
        return {
            "monitoring": "heartbeats" if name in self._push else "polls",
            "phi": round(live.detector.phi(now), 2),
            "last_heard_s": None if last is None else round(now - last, 3),
            "placeable": placeable,
            **({"unplaceable_because": why} if why else {}),
            **({"streams": self._streams[name]} if name in self._streams else {}),
        }

    def live_devices(self) -> dict[str, Liveness]:
        """Every watched device's liveness (read-only: for /metrics)."""
        return self._live

    def unplaceable(self) -> dict[str, str]:
        """Devices the detector says are up but must not get new work (flapping), with why."""
        now = self.clock()
        out: dict[str, str] = {}
        for name, live in self._live.items():
            if live.status == "active":
                ok, why = live.placeable(now)
                if not ok:
                    out[name] = why
        return out

    # -- events in -------------------------------------------------------------------

    def watch(self, name: str, status: str = "active", *, pushes_every: float = 0.0) -> None:
        """Start watching a device: by its heartbeats when it says it pushes them (and knows
        this orchestrator), else by polls until its first heartbeat arrives."""
        live = self._live.get(name)
        if live is None:
            interval = pushes_every or self.settings.health_interval_s
            self._live[name] = self._new(name, status, interval, poll=not pushes_every)
            if pushes_every:
                self._push[name] = pushes_every
        elif pushes_every and self._push.get(name) != pushes_every:
            self._switch(name, live, pushes_every)

    def forget(self, name: str | None = None) -> None:
        """Stop watching one device (or all, with None)."""
        names = list(self._live) if name is None else [name]
        for key in names:
            self._live.pop(key, None)
            self._push.pop(key, None)
            if self.usage is not None:
                self.usage.forget(key)

    async def load(self) -> None:
        """Watch every stored device: after a restart each gets a grace period, not trust."""
        devices = await asyncio.to_thread(self.store.list_devices)
        for device in devices:
            status = "dead" if device.status in ("dead", "inactive") else "active"
            self._live[device.name] = self._new(
                device.name, status, self.settings.health_interval_s, poll=True
            )

    async def heartbeat(self, beat: Heartbeat, *, remote: bool = False) -> bool:
        """Record a heartbeat; False when the device is not known (it must register).

        ``remote``: received by another orchestrator (fanin.py), which stores its usage."""
        live = self._live.get(beat.name)
        if live is None:
            device = await asyncio.to_thread(self.store.get_device, beat.name)
            if device is None:
                return False
            self.watch(beat.name)
            live = self._live[beat.name]
        now = self.clock()
        if remote:
            self.relayed += 1
        else:
            self.heartbeats += 1
        if self.usage is not None:
            self.usage.record(beat.name, beat.usage)
        if beat.streams is not None:
            self._streams[beat.name] = beat.streams
        if self._push.get(beat.name) != beat.interval_s:
            # First heartbeat (or a new cadence): judge by the pushed interval from now on.
            live = self._switch(beat.name, live, beat.interval_s)
        transition = live.heartbeat(now)
        if transition is not None:
            await self._apply(transition)
        if remote:
            return True
        if now - self._health_written.get(beat.name, -HEALTH_WRITE_S) >= HEALTH_WRITE_S:
            self._health_written[beat.name] = now
            self._health_due[beat.name] = (beat.usage, datetime.now(UTC))
            flusher = self._health_flusher
            if flusher is None or flusher.done():
                self._health_flusher = asyncio.get_running_loop().create_task(
                    self._write_health(),
                    name="heartbeat-health",
                    context=contextvars.Context(),  # a record of the device: never fenced
                )
        return True

    async def _write_health(self) -> None:
        """Write the usage of heartbeats that is due, one transaction every HEALTH_FLUSH_S,
        until none is due."""
        while self._health_due:
            await asyncio.sleep(HEALTH_FLUSH_S)
            due, self._health_due = self._health_due, {}
            beats = [(name, usage, at) for name, (usage, at) in due.items()]
            try:
                await asyncio.to_thread(self.store.record_heartbeat_health, beats)
            except Exception as err:  # usage only: the next heartbeats bring it again
                log.warning("could not record the usage of %d devices: %s", len(beats), err)

    async def polled(self, name: str) -> None:
        """A health poll of a device succeeded."""
        live = self._live.get(name)
        if live is None:
            self.watch(name)
            live = self._live[name]
        if name in self._push and live.status == "dead":
            # It answers polls but stopped pushing (restarted without an orchestrator
            # URL?): judge it by polls until heartbeats resume.
            self._push.pop(name, None)
            live.detector = PhiAccrualDetector(
                self.settings.health_interval_s, self._poll_detector, started_at=self.clock()
            )
        now = self.clock()
        last = live.detector.last_at
        if (
            name not in self._push
            and live.status == "active"
            and last is not None
            and now - last < self.settings.health_interval_s / 2
        ):
            return  # a poll right after registering: not a sample of the polling cadence
        transition = live.heartbeat(now)
        if transition is not None:
            await self._apply(transition)

    async def declare_dead(self, name: str, reason: str) -> None:
        """Strong evidence (refused connections): dead now, without waiting for phi."""
        live = self._live.get(name)
        if live is None or live.status == "dead":
            return
        transition = live.fail(self.clock(), reason)
        if transition is not None:
            await self._apply(transition)

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluate every detector each tick, forever."""
        tick = self.settings.monitor_tick_s
        while True:
            asleep = self.clock()
            await asyncio.sleep(tick)
            now = self.clock()
            late = now - asleep - tick  # the loop's own delay, not this round's work
            if late > LAG_S:
                if late >= LOG_LAG_S:
                    log.warning(
                        "the orchestrator's event loop was held for %.2f s; judging no device "
                        "for %.1f s while the heartbeats that waited are read",
                        late,
                        CALM_S,
                    )
                self.hold(CALM_S, now, why=f"the event loop was held for {late:.2f} s")
            if self.peers_quiet is not None and self.peers_quiet(now):
                self.hold(CALM_S, now, why="an orchestrator that relays heartbeats went quiet")
            if now < self.held_until:
                self.skipped_rounds += 1
                continue
            try:
                await self.catch_up()
                await self.evaluate(now)
            except Exception:  # the monitor must survive anything
                log.exception("monitor round failed")

    def hold(self, seconds: float, now: float | None = None, *, why: str = "") -> None:
        """Judge no device for ``seconds``: heartbeats are late on their way here (the loop
        was held, or another orchestrator relays them late) — not evidence against devices.
        A hold after a calm spell is logged (at most every ``HOLD_LOG_S``) with ``why``."""
        at = self.clock() if now is None else now
        if at >= self.held_until:
            self.holds += 1
            if at - self._hold_logged >= HOLD_LOG_S:
                self._hold_logged = at
                log.info("judging no device for %.1f s: %s", seconds, why or "asked to")
        self.held_until = max(self.held_until, at + seconds)

    async def evaluate(self, now: float) -> None:
        """One round: every device's phi against the thresholds. The transitions found are
        written together: one device's write does not delay judging the next ones."""
        found = [t for live in list(self._live.values()) if (t := live.tick(now)) is not None]
        if len(found) == 1:
            await self._apply(found[0])
        elif found:
            await asyncio.gather(*(self._apply(t) for t in found))

    # -- internals -----------------------------------------------------------------------

    def _new(self, name: str, status: str, interval: float, *, poll: bool) -> Liveness:
        settings = self._poll_detector if poll else self.detector
        return Liveness(
            name,
            interval,
            settings,
            status=status,  # type: ignore[arg-type]
            started_at=self.clock(),
        )

    def _switch(self, name: str, live: Liveness, interval: float) -> Liveness:
        """Judge a device by its pushed cadence; its status and flap history stay."""
        live.detector = PhiAccrualDetector(interval, self.detector, started_at=self.clock())
        self._push[name] = interval
        log.info("device pushes heartbeats every %g s", interval, extra={"device": name})
        return live

    async def adopt(self) -> int:
        """Leadership gained: watch every stored device (new ones with a grace period), and
        record as transitions where this monitor's judgement, from heartbeats or polls it
        received, differs from the stored status (a device that died or came back while
        another orchestrator led); how many."""
        self._unwritten.clear()
        devices = await asyncio.to_thread(self.store.list_devices)
        now, changed = self.clock(), 0
        for device in devices:
            live = self._live.get(device.name)
            if live is None:
                status = "dead" if device.status in ("dead", "inactive") else "active"
                self._live[device.name] = self._new(
                    device.name, status, self.settings.health_interval_s, poll=True
                )
                continue
            if (
                device.status == live.status
                or device.status not in ("active", "suspect", "dead")
                or live.detector.last_at is None  # no evidence of its own yet
            ):
                continue
            reason = f"judged {live.status} by the orchestrator that leads now"
            phi = live.detector.phi(now)
            await self._record(
                Transition(device.name, device.status, live.status, phi, now, reason)  # type: ignore[arg-type]
            )
            changed += 1
        return changed

    async def _apply(self, transition: Transition) -> None:
        if self.acting is None:
            await self._record(transition)
            return
        context = self.acting()
        if context is None:  # not leading: the leader writes it, or ``catch_up`` when we lead
            self._unwritten.add(transition.device)
            return
        try:
            await asyncio.get_running_loop().create_task(self._record(transition), context=context)
        except NotLeader:  # the lease moved on meanwhile: nothing was written
            self._unwritten.add(transition.device)

    def catch_up_later(self) -> None:
        """Make the next round run ``adopt`` (after it failed)."""
        self._unwritten.add("")

    async def catch_up(self) -> None:
        """Leading (again): write the judgements made while this process could not act."""
        context = self.acting() if self.acting is not None else None
        if context is None or not self._unwritten:
            return
        try:
            await asyncio.get_running_loop().create_task(self.adopt(), context=context)
        except Exception:
            self.catch_up_later()
            raise

    async def _record(self, transition: Transition) -> None:
        name = transition.device
        await asyncio.to_thread(
            self.store.set_device_status,
            name,
            transition.status,
            transition.reason,
            at=datetime.now(UTC),
        )
        level = logging.INFO if transition.status == "active" else logging.WARNING
        log.log(
            level,
            "device %s: %s",
            transition.status,
            transition.reason,
            extra={"device": name, "phi": round(transition.phi, 2)},
        )
        for listener in self.listeners:
            try:
                await listener(transition)
            except Exception:
                log.exception("status listener failed", extra={"device": name})
