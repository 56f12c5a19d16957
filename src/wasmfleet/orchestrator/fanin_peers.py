"""What one orchestrator knows of the others on the fan-in channel (fanin.py).

Every notification another orchestrator sends says it is there, how many live event streams
it serves, and how late it is. From that: whether to publish heartbeats at all (someone is
there), whether to publish events (someone has a stream open), how late a notification is
against the least lag seen from its sender (so a constant clock difference between machines
cancels out), and whether a peer that streamed went quiet (its devices' heartbeats wait
unread there, or it died and they are moving: no reason to judge them yet).
"""

from __future__ import annotations

from wasmfleet.orchestrator.monitor import LAG_S

STREAMING_PER_S = 20.0
"""A peer sending at least this many notifications a second streams: its silence is news."""
ALONE_S = 3.0
"""With no other orchestrator heard for this long, heartbeats and events are not published:
nobody would read them (one orchestrator on PostgreSQL pays nothing for the channel)."""
GONE_S = 3.0
"""A peer silent this long is gone (its devices report elsewhere); its silence stops holding
judgement here."""


class PeerBook:
    """The other orchestrators, by origin, as their notifications describe them."""

    def __init__(self) -> None:
        self._last = -ALONE_S
        """When another orchestrator was last heard (monotonic; any notification of theirs)."""
        self._streams: dict[str, tuple[int, float]] = {}
        """Per peer: its live event streams when last heard, and when."""
        self._heard: dict[str, float] = {}
        """When each peer's last notification arrived (monotonic)."""
        self._rates: dict[str, tuple[float, int, float]] = {}
        """Per peer: (window start, notifications in it, last window's rate)."""
        self._floor: dict[str, float] = {}
        """Per peer: the least relay lag seen lately (its clock's offset)."""

    def heard(self, origin: str, streams: int, lag: float, now: float) -> float:
        """Note a notification from ``origin`` that took ``lag`` s by the clocks; how late
        it is against the least lag seen from that peer, which creeps up 1 ms per
        notification (a constant clock difference between machines cancels out)."""
        self._last = now
        self._streams[origin] = (streams, now)
        floor = min(self._floor.get(origin, lag), lag)
        self._floor[origin] = floor + 0.001
        self._heard[origin] = now
        start, count, rate = self._rates.get(origin, (now, 0, 0.0))
        if now - start >= 1.0:  # notifications per second from it, over the last second
            start, count, rate = now, 0, count / (now - start)
        self._rates[origin] = (start, count + 1, rate)
        return lag - floor

    def present(self, now: float) -> bool:
        """Whether another orchestrator was heard within ``ALONE_S`` (each says hello every
        second)."""
        return now - self._last < ALONE_S

    def watching(self, now: float) -> bool:
        """Whether another orchestrator had live event streams open (a dashboard, ``wasmfleet
        watch``) when it last spoke; every notification carries the count, and a stream that
        opens is announced at once."""
        for origin, (count, at) in list(self._streams.items()):
            if now - at >= ALONE_S:
                del self._streams[origin]  # gone (a restarted orchestrator has a new origin)
            elif count > 0:
                return True
        return False

    def quiet(self, now: float) -> bool:
        """True when an orchestrator that sent notifications within the last ``GONE_S`` has
        sent none for ``LAG_S``: it stalled (its devices' heartbeats wait unread there) or
        died (its devices move to another within a few heartbeats). Either way their
        silence here says nothing about them yet. Only a peer that streams
        (``STREAMING_PER_S`` notifications a second, hundreds of devices) counts: one with
        few devices is quiet between its heartbeats anyway."""
        for origin, at in list(self._heard.items()):
            silent = now - at
            if silent > GONE_S:
                del self._heard[origin]
                self._rates.pop(origin, None)
                self._floor.pop(origin, None)
            elif silent > LAG_S and self._rates.get(origin, (0, 0, 0.0))[2] >= STREAMING_PER_S:
                return True
        return False
