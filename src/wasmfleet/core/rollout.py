"""A rollout: moving a deployment's copies to another module version in waves behind gates.

Pure rules, no I/O; the orchestrator (orchestrator/rollouts.py) stores the state after
every step and does the HTTP. Statuses and the events that move them::

    pending ──START──► running ──GATE_PASSED──► running ──COMPLETED──► succeeded
    pending | running ──PAUSE──► paused ──RESUME──► running
    running ──GATE_FAILED | REFUSED──► rolling_back ──ROLLED_BACK──► rolled_back
    pending | running | paused | succeeded | failed ──UNDO──► undoing ──ROLLED_BACK──► undone
    rolling_back | undoing ──BACK_FAILED──► failed

``GATE_FAILED`` is a health gate that did not pass, ``REFUSED`` an update a device refused
(the updater has already put that device back); both put every updated copy back on
the module it ran before. ``BACK_FAILED`` means putting copies back raised (not merely
that a dead device could not be reached: such a copy is *owed* and put back when the
device returns, and the rollout still ends ``rolled_back``). A move the table lacks
raises ``IllegalTransition``: a bug in the caller, never a user's mistake.

Waves (``plan_waves``): a canary wave first, then batches that grow by ``growth`` (or the
explicit sizes of ``waves``, the last one repeated). The gate (``judge``) compares the
previous version's metrics with the new one's under margins and says why in a sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.placement.filters import offers
from wasmfleet.core.state_table import next_state


class RolloutStatus(StrEnum):
    """Where a rollout is (stored and shown as these strings)."""

    PENDING = "pending"
    """Planned and stored; no copy changed yet."""
    RUNNING = "running"
    """Updating waves and gating them."""
    PAUSED = "paused"
    """Stopped by a user between waves; ``resume`` continues with the next wave."""
    SUCCEEDED = "succeeded"
    """Every wave passed its gate: every copy runs the new version."""
    ROLLING_BACK = "rolling_back"
    """A gate failed or a device refused: updated copies are being put back."""
    ROLLED_BACK = "rolled_back"
    """Every updated copy was put back (or is owed to a device that is down)."""
    UNDOING = "undoing"
    """A user asked to put every updated copy back."""
    UNDONE = "undone"
    """A user's undo finished."""
    FAILED = "failed"
    """Putting copies back failed; ``undo`` tries again."""


class RolloutEvent(StrEnum):
    """What happens to a rollout."""

    START = "start"
    GATE_PASSED = "gate_passed"
    COMPLETED = "completed"
    PAUSE = "pause"
    RESUME = "resume"
    GATE_FAILED = "gate_failed"
    REFUSED = "refused"
    UNDO = "undo"
    ROLLED_BACK = "rolled_back"
    BACK_FAILED = "back_failed"


_S = RolloutStatus
_E = RolloutEvent

TRANSITIONS: Mapping[tuple[RolloutStatus, RolloutEvent], RolloutStatus] = {
    (_S.PENDING, _E.START): _S.RUNNING,
    (_S.RUNNING, _E.GATE_PASSED): _S.RUNNING,
    (_S.RUNNING, _E.COMPLETED): _S.SUCCEEDED,
    (_S.PENDING, _E.PAUSE): _S.PAUSED,
    (_S.RUNNING, _E.PAUSE): _S.PAUSED,
    (_S.PAUSED, _E.RESUME): _S.RUNNING,
    (_S.RUNNING, _E.GATE_FAILED): _S.ROLLING_BACK,
    (_S.RUNNING, _E.REFUSED): _S.ROLLING_BACK,
    **{
        (s, _E.UNDO): _S.UNDOING
        for s in (_S.PENDING, _S.RUNNING, _S.PAUSED, _S.SUCCEEDED, _S.FAILED)
    },
    (_S.ROLLING_BACK, _E.ROLLED_BACK): _S.ROLLED_BACK,
    (_S.UNDOING, _E.ROLLED_BACK): _S.UNDONE,
    (_S.ROLLING_BACK, _E.BACK_FAILED): _S.FAILED,
    (_S.UNDOING, _E.BACK_FAILED): _S.FAILED,
}
"""(status, event) -> the status after it; every pair not listed is illegal."""


def advance(status: str, event: RolloutEvent) -> RolloutStatus:
    """The status after ``event``; IllegalTransition when the table does not allow it."""
    return next_state(TRANSITIONS, RolloutStatus, status, event, "rollout")


def allows(status: str, event: RolloutEvent) -> bool:
    """True when ``event`` is a legal move from ``status``."""
    return (RolloutStatus(status), event) in TRANSITIONS


ACTIVE = frozenset(s for (s, _) in TRANSITIONS if s is not _S.SUCCEEDED and s is not _S.FAILED)
"""Statuses of a rollout that still holds its deployment (one such rollout per deployment)."""
PUTTING_BACK = frozenset({_S.ROLLING_BACK, _S.UNDOING})
"""Statuses in which updated copies are being put back (resumed after a restart)."""
MOVING_FORWARD = frozenset({_S.PENDING, _S.RUNNING})
"""Statuses in which waves are being updated (resumed after a restart)."""


# --- options and waves ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RolloutOptions:
    """How a rollout proceeds; every field has a default a user may override."""

    canary: int = 1
    """Devices in the first wave."""
    growth: float = 2.0
    """Each later wave is this many times the previous one (rounded up)."""
    waves: tuple[int | None, ...] = ()
    """Explicit wave sizes (None = all the rest); the last size repeats. Overrides
    ``canary`` and ``growth`` when given."""
    pause_s: float = 10.0
    """How long each wave runs before its gate is judged (the observation window)."""
    max_error_rate_increase: float = 0.05
    """The new version's error rate may exceed the old one's by at most this (0.05 = 5
    percentage points)."""
    max_latency_increase: float = 0.5
    """The new version's median latency may exceed the old one's by at most this ratio
    (0.5 = 50 % slower)."""
    min_calls: int = 5
    """Calls to the new version below which error rate and latency are not judged."""
    probe_calls: int = 3
    """Calls the gate makes itself to every copy of a wave (with ``probe_args``)."""
    probe_args: tuple[tuple[str, str], ...] = ()
    """Query arguments of the gate's probe calls (e.g. ``(("n", "10"),)``)."""

    def to_dict(self) -> dict[str, object]:
        """The JSON form stored with the rollout and shown by the API."""
        return {
            "canary": self.canary,
            "growth": self.growth,
            "waves": ["all" if w is None else w for w in self.waves],
            "pause_s": self.pause_s,
            "max_error_rate_increase": self.max_error_rate_increase,
            "max_latency_increase": self.max_latency_increase,
            "min_calls": self.min_calls,
            "probe_calls": self.probe_calls,
            "probe_args": {k: v for k, v in self.probe_args},
        }


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(text: str | float | int, what: str = "pause") -> float:
    """Seconds from ``10``, ``10s``, ``500ms`` or ``2m``; InvalidDocument with a sentence."""
    if isinstance(text, bool):
        raise InvalidDocument(f"The {what} must be a duration such as 10s, 500ms or 2m.")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        found = _DURATION.match(text)
        if found is None:
            raise InvalidDocument(
                f"The {what} {text!r} is not a duration; write it like 10s, 500ms or 2m."
            )
        unit = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[found.group(2)]
        seconds = float(found.group(1)) * unit
    if not 0 <= seconds <= 3600:
        raise InvalidDocument(f"The {what} must be between 0 s and 1 h, not {seconds:g} s.")
    return seconds


def parse_waves(text: str | Sequence[object]) -> tuple[int | None, ...]:
    """Wave sizes from ``1,2,5,all`` (or a list of numbers and "all"); InvalidDocument."""
    items = [p.strip() for p in text.split(",")] if isinstance(text, str) else list(text)
    sizes: list[int | None] = []
    for item in items:
        if isinstance(item, str) and item.lower() == "all":
            sizes.append(None)
            continue
        number = item if isinstance(item, int) and not isinstance(item, bool) else None
        if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) <= 9:
            number = int(item)
        if number is None or number < 1:
            raise InvalidDocument(
                f"The wave size {item!r} is not a positive whole number or 'all'; "
                "write the waves like 1,2,5,all."
            )
        sizes.append(number)
    if not sizes:
        raise InvalidDocument("The waves are empty; write them like 1,2,5,all.")
    if None in sizes[:-1]:
        raise InvalidDocument("'all' can only be the last wave (it takes every device left).")
    return tuple(sizes)


def check_options(options: RolloutOptions) -> RolloutOptions:
    """The options unchanged, or InvalidDocument naming the first one out of range."""
    if options.canary < 1:
        raise InvalidDocument(f"The canary must be at least 1 device, not {options.canary}.")
    if not 1.0 <= options.growth <= 100.0:
        raise InvalidDocument(f"The growth must be between 1 and 100, not {options.growth:g}.")
    if not 0.0 <= options.max_error_rate_increase <= 1.0:
        raise InvalidDocument(
            "The maximum error-rate increase is a fraction of calls between 0 and 1 "
            f"(0.05 = 5 points), not {options.max_error_rate_increase:g}."
        )
    if not 0.0 <= options.max_latency_increase <= 100.0:
        raise InvalidDocument(
            "The maximum latency increase is a ratio between 0 and 100 (0.5 = 50 % slower), "
            f"not {options.max_latency_increase:g}."
        )
    if not 0 <= options.min_calls <= 100_000:
        raise InvalidDocument(f"min_calls must be between 0 and 100000, not {options.min_calls}.")
    if not 0 <= options.probe_calls <= 100:
        raise InvalidDocument(f"probe_calls must be between 0 and 100, not {options.probe_calls}.")
    parse_duration(options.pause_s)
    return options


def plan_waves(devices: Sequence[str], options: RolloutOptions) -> list[list[str]]:
    """The devices in waves, canary first, in the given order; every device exactly once."""
    ordered = list(dict.fromkeys(devices))
    waves: list[list[str]] = []
    at = 0
    size = options.canary
    for index in range(len(ordered)):  # at least one device per wave: bounded
        if at >= len(ordered):
            break
        if options.waves:
            wanted = options.waves[min(index, len(options.waves) - 1)]
            size = len(ordered) - at if wanted is None else wanted
        elif index > 0:
            size = max(size + 1, math.ceil(size * options.growth)) if options.growth > 1 else size
        waves.append(ordered[at : at + size])
        at += size
    return waves


# --- what a target device cannot run ----------------------------------------------------


def unrunnable(requires: frozenset[str], devices: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """Device → why it cannot run a module needing ``requires`` (placement's wording)."""
    reasons: dict[str, str] = {}
    for name, interfaces in sorted(devices.items()):
        missing = sorted(r for r in requires if not offers(interfaces, r))
        if missing:
            more = f" +{len(missing) - 1} more" if len(missing) > 1 else ""
            reasons[name] = f"{name} lacks {missing[0]}{more}"
    return reasons


# --- the health gate --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    """Calls to one version of a function over a window: how many, how many failed, how slow."""

    calls: int = 0
    errors: int = 0
    latency_ms: float | None = None
    """Median duration of the calls (or the QoA median), None when nothing was measured."""

    @property
    def error_rate(self) -> float:
        """Failed calls / calls (0 without calls)."""
        return self.errors / self.calls if self.calls else 0.0

    def to_dict(self) -> dict[str, object]:
        """The JSON form stored with a gate."""
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class GateInput:
    """What the orchestrator observed after a wave."""

    baseline: Metrics
    """The previous version (copies not yet updated, and updated ones before their update)."""
    candidate: Metrics
    """The new version, since each copy was updated."""
    dead: Mapping[str, str] = field(default_factory=dict)
    """Devices of the wave that are not active → their status sentence."""
    unanswered: Mapping[str, str] = field(default_factory=dict)
    """Devices of the wave whose copy did not answer → why."""


@dataclass(frozen=True, slots=True)
class GateResult:
    """A gate's decision and the sentence saying why."""

    passed: bool
    reason: str


def percent(rate: float) -> str:
    """0.125 → ``12.5 %``."""
    return f"{rate * 100:.3g} %"


def judge(seen: GateInput, options: RolloutOptions) -> GateResult:
    """Pass or fail a wave: devices alive, copies answering, errors and latency in margins."""
    if seen.dead:
        name, why = sorted(seen.dead.items())[0]
        return GateResult(False, f"device {name} stopped being active after its update ({why})")
    if seen.unanswered:
        name, why = sorted(seen.unanswered.items())[0]
        return GateResult(False, f"the copy on {name} did not answer ({why})")
    new, old = seen.candidate, seen.baseline
    if new.calls < max(options.min_calls, 1):
        return GateResult(
            True,
            f"the copies are alive and answer; {new.calls} call(s) to the new version "
            f"(fewer than {max(options.min_calls, 1)}) are too few to judge errors and latency",
        )
    limit = old.error_rate + options.max_error_rate_increase
    if new.error_rate > limit:
        return GateResult(
            False,
            f"the error rate of the new version is {percent(new.error_rate)} "
            f"({new.errors} of {new.calls} calls) against {percent(old.error_rate)} before, "
            f"more than the allowed increase of {percent(options.max_error_rate_increase)}",
        )
    if new.latency_ms is not None and old.latency_ms is not None and old.latency_ms > 0:
        allowed = old.latency_ms * (1 + options.max_latency_increase)
        if new.latency_ms > allowed:
            return GateResult(
                False,
                f"the median latency of the new version is {new.latency_ms:.3g} ms against "
                f"{old.latency_ms:.3g} ms before, more than the allowed increase of "
                f"{options.max_latency_increase * 100:.3g} %",
            )
    latency = "" if new.latency_ms is None else f", median {new.latency_ms:.3g} ms"
    before = "" if old.latency_ms is None else f" (before: {old.latency_ms:.3g} ms)"
    return GateResult(
        True,
        f"{new.calls} calls to the new version, error rate {percent(new.error_rate)} "
        f"(before: {percent(old.error_rate)}){latency}{before}",
    )


def median(values: Sequence[float]) -> float | None:
    """The median of ``values`` (the mean of the middle two for an even count), or None."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
