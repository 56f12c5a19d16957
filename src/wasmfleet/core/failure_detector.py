"""Phi accrual failure detection of devices, and each device's liveness state machine.

Pure: callers pass timestamps (seconds, floats, one monotonic clock); nothing here reads a clock.

The maths is the phi accrual detector of Hayashibara, Défago, Yared and Katayama (SRDS 2004) in
the form Akka uses (``akka.remote.PhiAccrualFailureDetector``):

* The next heartbeat interval is modelled as a normal distribution fitted to a sliding window of
  the last ``window`` inter-arrival times: mean ``mu = mean(window) + acceptable_pause_s``
  (tolerates a GC pause or a slow link), deviation ``sigma = max(std(window), min_std_s)`` (a
  perfectly regular device, std 0, must not die a millisecond after a late beat).
* With ``t`` the silence since the last arrival, ``phi = -log10 P(interval > t)``: phi 1 is a
  ~10 % chance that the beat is merely late, phi 8 a ~1e-8 chance.
* The normal tail uses the logistic approximation of the normal CDF (Bowling et al. 2009), as
  Akka does: ``y = (t - mu) / sigma``, ``z = y * (1.5976 + 0.070566 * y**2)``, ``e = exp(-z)``,
  ``P ~ e / (1 + e)``. Akka's two branches (``-log10(e / (1 + e))`` above the mean,
  ``-log10(1 - 1 / (1 + e))`` below) are the same number, ``log10(1 + exp(z))``, computed here
  as a softplus, ``(max(z, 0) + log1p(exp(-|z|))) / ln 10``, which cannot overflow; phi is
  capped at ``PHI_MAX``. At ``t == mu``, phi = log10 2 ~ 0.30.
* Bootstrap (Akka's first-heartbeat estimate): the window starts with ``expected ± expected/4``
  (mean = expected interval, std = expected / 4), so phi means something from the first beat.
* Like Cassandra's ``ArrivalWindow`` (which drops intervals above ``cassandra.fd_max_interval_ms``;
  its phi is otherwise exponential, only this rule is borrowed), intervals over
  ``max_sample_factor * expected_interval_s`` are not recorded: a stall is an event, not a
  sample; recording it would widen sigma and slow the next detection.

Defaults with steady 0.5 s beats: mu = 2.0 s, sigma = 0.1 s (the floor); phi 1 (suspect) after
~2.13 s of silence, phi 8 (dead) after ~2.52 s (~2.65 s with only the bootstrap, sigma 0.125 s).

``Liveness`` is one device's state machine: ``active`` -> ``suspect`` -> ``dead`` as phi crosses
``suspect_threshold`` and ``threshold``; a heartbeat brings it back to ``active`` (from ``dead``
with a fresh detector: an outage says nothing about the rhythm). Flap damping: ``flap_count``
failures within ``flap_window_s`` keep a device out of placement until up for ``stable_s``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

from wasmfleet.core.errors import ConfigurationError

Status = Literal["active", "suspect", "dead"]

PHI_MAX = 1000.0  # phi is capped here: finite, far above any sensible threshold

_LN10 = math.log(10.0)
_Y_LIMIT = 1e6  # |y| past this is phi ~0 or PHI_MAX anyway; keeps y**3 finite


class InvalidDetectorSettings(ConfigurationError, ValueError):
    """A failure-detector setting is out of range; the message names it and its bounds."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidDetectorSettings(message)


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Tuning of the phi accrual detector and of flap damping (see the module docstring)."""

    threshold: float = 8.0
    suspect_threshold: float = 1.0
    acceptable_pause_s: float = 1.5
    min_std_s: float = 0.1
    window: int = 100
    max_sample_factor: float = 2.0
    flap_count: int = 3
    flap_window_s: float = 60.0
    stable_s: float = 30.0

    def __post_init__(self) -> None:
        # Chained comparisons with a finite bound also reject NaN and infinity.
        _require(
            0 < self.suspect_threshold < self.threshold <= PHI_MAX,
            f"Failure detector thresholds must satisfy 0 < suspect_threshold < threshold <= "
            f"{PHI_MAX:g}; got suspect_threshold={self.suspect_threshold:g}, "
            f"threshold={self.threshold:g}.",
        )
        _require(0 <= self.acceptable_pause_s < math.inf, "acceptable_pause_s must be >= 0 s.")
        _require(0 < self.min_std_s < math.inf, "min_std_s must be more than 0 s (and finite).")
        _require(self.window >= 2, f"window must keep at least 2 samples, not {self.window}.")
        _require(1 < self.max_sample_factor < math.inf, "max_sample_factor must be more than 1.")
        _require(self.flap_count >= 1, f"flap_count must be at least 1, not {self.flap_count}.")
        _require(0 < self.flap_window_s < math.inf, "flap_window_s must be more than 0 s.")
        _require(0 <= self.stable_s < math.inf, "stable_s must be 0 s or more (and finite).")


DEFAULT_SETTINGS = DetectorSettings()


def _phi(elapsed: float, mean: float, std: float) -> float:
    y = min(max((elapsed - mean) / std, -_Y_LIMIT), _Y_LIMIT)
    z = y * (1.5976 + 0.070566 * y * y)
    return min((max(z, 0.0) + math.log1p(math.exp(-abs(z)))) / _LN10, PHI_MAX)


class PhiAccrualDetector:
    """Suspicion level (phi) of one heartbeat source, from its recent inter-arrival times."""

    def __init__(
        self,
        expected_interval_s: float,
        settings: DetectorSettings = DEFAULT_SETTINGS,
        *,
        started_at: float | None = None,
    ) -> None:
        _require(
            math.isfinite(expected_interval_s) and expected_interval_s > 0,
            f"expected_interval_s must be more than 0 seconds, not {expected_interval_s!r}.",
        )
        self.expected_interval_s = expected_interval_s
        self.settings = settings
        self._max_sample_s = settings.max_sample_factor * expected_interval_s
        self._intervals: deque[float] = deque(maxlen=settings.window)
        self._mean = self._std = 0.0
        self._last_at: float | None = started_at
        self._bootstrap()

    def _bootstrap(self) -> None:
        self._intervals.clear()
        self._intervals.extend((self.expected_interval_s * 0.75, self.expected_interval_s * 1.25))
        self._update()

    def _update(self) -> None:
        n = len(self._intervals)
        self._mean = math.fsum(self._intervals) / n
        self._std = math.sqrt(math.fsum((x - self._mean) ** 2 for x in self._intervals) / n)

    @property
    def mean_s(self) -> float:
        """Mean of the recorded inter-arrival times (without the acceptable pause)."""
        return self._mean

    @property
    def std_s(self) -> float:
        """Standard deviation of the recorded intervals, never below ``min_std_s``."""
        return max(self._std, self.settings.min_std_s)

    @property
    def last_at(self) -> float | None:
        """Time of the last (possibly virtual) arrival, or None before any."""
        return self._last_at

    @property
    def samples(self) -> int:
        """Intervals in the window, the two bootstrap samples included until pushed out."""
        return len(self._intervals)

    def heartbeat(self, at: float) -> None:
        """Record an arrival; stale (``at <= last``) and non-finite ones are ignored."""
        last = self._last_at
        if not math.isfinite(at) or (last is not None and at <= last):
            return
        if last is not None and at - last <= self._max_sample_s:
            self._intervals.append(at - last)
            self._update()
        self._last_at = at

    def reset(self, at: float) -> None:
        """Forget the history (back to the bootstrap samples), with ``at`` as the last arrival."""
        self._bootstrap()
        self._last_at = at

    def _phi_after(self, elapsed: float) -> float:
        return _phi(max(elapsed, 0.0), self._mean + self.settings.acceptable_pause_s, self.std_s)

    def phi(self, now: float) -> float:
        """Suspicion at ``now``: 0.0 before any arrival, else ``-log10 P(interval > elapsed)``."""
        if self._last_at is None:
            return 0.0
        return self._phi_after(now - self._last_at)

    def time_to_phi(self, phi: float) -> float:
        """Silence (seconds after the last arrival) at which phi reaches ``phi``; inf if never."""
        if not phi > 0:
            return 0.0
        if phi > PHI_MAX:
            return math.inf
        lo, hi = 0.0, self._mean + self.settings.acceptable_pause_s + self.std_s
        while self._phi_after(hi) < phi:
            lo, hi = hi, hi * 2
        for _ in range(100):  # halves the bracket down to float resolution
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self._phi_after(mid) < phi else (lo, mid)
        return hi


@dataclass(frozen=True, slots=True)
class Transition:
    """A device changed status; ``reason`` is a sentence for the status log."""

    device: str
    previous: Status
    status: Status
    phi: float
    at: float
    reason: str


class Liveness:
    """One device's state machine: events in (heartbeat, tick), transitions out."""

    def __init__(
        self,
        device: str,
        expected_interval_s: float,
        settings: DetectorSettings = DEFAULT_SETTINGS,
        *,
        status: Status = "active",
        started_at: float | None = None,
    ) -> None:
        self.device = device
        self.settings = settings
        self.detector = PhiAccrualDetector(expected_interval_s, settings, started_at=started_at)
        self._status: Status = status
        self._failures: deque[float] = deque()  # entries into suspect/dead, within a window
        self._last_recovery: float | None = None

    @property
    def status(self) -> Status:
        """The device's current status."""
        return self._status

    def _move(self, status: Status, phi: float, at: float, reason: str) -> Transition:
        previous, self._status = self._status, status
        return Transition(self.device, previous, status, phi, at, reason)

    def heartbeat(self, at: float) -> Transition | None:
        """Record a heartbeat; a suspect or dead device comes back to active."""
        detector, last = self.detector, self.detector.last_at
        stale = not math.isfinite(at) or (last is not None and at < last)
        if self._status == "active" or stale:
            detector.heartbeat(at)
            return None
        phi = detector.phi(at)
        if self._status == "dead":
            detector.reset(at)
        else:
            detector.heartbeat(at)
        self._last_recovery = at
        after = "" if last is None else f" after {at - last:.2f} s"
        return self._move("active", phi, at, f"heartbeat received again{after} (phi was {phi:.1f})")

    def tick(self, now: float) -> Transition | None:
        """Re-evaluate phi at ``now``; active -> suspect/dead and suspect -> dead."""
        last, settings = self.detector.last_at, self.settings
        if self._status == "dead" or last is None:
            return None
        phi = self.detector.phi(now)
        status: Status
        if phi >= settings.threshold:
            status, limit = "dead", settings.threshold
        elif self._status == "active" and phi >= settings.suspect_threshold:
            status, limit = "suspect", settings.suspect_threshold
        else:
            return None
        if self._status == "active":
            self._count_failure(now)
        reason = (
            f"no heartbeat for {now - last:.2f} s (phi {phi:.1f} >= {limit:g}; "
            f"mean interval {self.detector.mean_s:.2f} s)"
        )
        return self._move(status, phi, now, reason)

    def fail(self, at: float, reason: str) -> Transition | None:
        """Strong evidence of death (a refused connection): dead now, counted as a failure."""
        if self._status == "dead":
            return None
        if self._status == "active":
            self._count_failure(at)
        return self._move("dead", self.detector.phi(at), at, reason)

    def _count_failure(self, at: float) -> None:
        self._failures.append(at)
        while self._failures[0] < at - self.settings.flap_window_s:
            self._failures.popleft()

    def failures_in_window(self, now: float) -> int:
        """Failures (entries into suspect or dead) in the ``flap_window_s`` up to ``now``."""
        start = now - self.settings.flap_window_s
        return sum(1 for at in self._failures if start <= at <= now)

    def placeable(self, now: float) -> tuple[bool, str]:
        """Whether new work may go to this device now, and if not, why."""
        if self._status != "active":
            last, phi = self.detector.last_at, self.detector.phi(now)
            silence = "no heartbeat yet" if last is None else f"no heartbeat for {now - last:.2f} s"
            return False, f"{self._status}: {silence} (phi {phi:.1f})"
        settings, failures = self.settings, self._failures
        if len(failures) >= settings.flap_count:
            since = self._last_recovery if self._last_recovery is not None else failures[-1]
            stable = now - since
            if stable < settings.stable_s:
                return False, (
                    f"flapping: {len(failures)} failures within {settings.flap_window_s:g} s; "
                    f"stable for {stable:.1f} of {settings.stable_s:g} s"
                )
        return True, ""

    def mark(self, status: Status, at: float) -> None:
        """Set the status directly (restoring stored state); never counted as a failure.

        Non-active -> ``active`` restarts the detector at ``at`` (a grace period); a suspect or
        active device without arrivals gets ``at`` as a virtual one; ``dead`` waits for a beat.
        """
        previous, self._status = self._status, status
        if status == "active" and previous != "active":
            self.detector.reset(at)
            self._last_recovery = at
        elif status != "dead" and self.detector.last_at is None:
            self.detector.reset(at)
