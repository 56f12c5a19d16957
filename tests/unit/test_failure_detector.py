"""Table tests of core.failure_detector: phi maths, the liveness state machine, flap damping.

Time is plain floats (seconds); nothing sleeps or reads a clock. Figures pinned with the
default settings and steady 0.5 s heartbeats: phi 8 after 2.5226 s of silence with a full
window (sigma at its 0.1 s floor) and 2.6532 s with only the bootstrap samples (sigma 0.125 s).
"""

from __future__ import annotations

import itertools
import math
import random

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.core.failure_detector import (
    PHI_MAX,
    DetectorSettings,
    Liveness,
    PhiAccrualDetector,
    Status,
    Transition,
)

LOG10_2 = math.log10(2.0)


def steady(beats: int, interval: float = 0.5, **settings: float) -> PhiAccrualDetector:
    """A detector fed ``beats + 1`` heartbeats every ``interval`` s from t = 0."""
    detector = PhiAccrualDetector(interval, DetectorSettings(**settings))  # type: ignore[arg-type]
    for k in range(beats + 1):
        detector.heartbeat(k * interval)
    return detector


def jittered(seed: int, beats: int = 500) -> tuple[PhiAccrualDetector, float]:
    """0.5 s heartbeats each delayed by up to 300 ms; returns the detector and the max phi
    seen at an arrival, just before recording it."""
    rng, detector, worst = random.Random(seed), PhiAccrualDetector(0.5), 0.0
    for k in range(beats):
        at = k * 0.5 + rng.uniform(0.0, 0.3)
        worst = max(worst, detector.phi(at))
        detector.heartbeat(at)
    return detector, worst


def akka_phi(elapsed: float, mean: float, std: float) -> float:
    """Akka's formula, written literally (two branches), as an oracle for moderate values."""
    y = (elapsed - mean) / std
    e = math.exp(-y * (1.5976 + 0.070566 * y * y))
    if elapsed > mean:
        return -math.log10(e / (1.0 + e))
    return -math.log10(1.0 - 1.0 / (1.0 + e))


def since_last(detector: PhiAccrualDetector, elapsed: float) -> float:
    last = detector.last_at
    assert last is not None
    return detector.phi(last + elapsed)


# --- phi maths --------------------------------------------------------------------------


@pytest.mark.parametrize("elapsed", [0.0, 0.5, 1.5, 1.9, 2.0, 2.1, 2.3, 2.5, 2.7, 3.0])
def test_phi_matches_akkas_two_branch_formula(elapsed: float) -> None:
    detector = steady(200)  # mean 0.5 + pause 1.5 = 2.0, std at its 0.1 floor
    expected = akka_phi(elapsed, 2.0, 0.1)
    assert since_last(detector, elapsed) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    "detector",
    [PhiAccrualDetector(0.5, started_at=0.0), steady(200), jittered(1)[0], steady(50, 2.0)],
    ids=["bootstrap", "steady", "jitter", "slow"],
)
def test_phi_grows_monotonically_with_silence(detector: PhiAccrualDetector) -> None:
    phis = [since_last(detector, k / 100) for k in range(3001)]  # 0 .. 30 s
    assert all(a <= b for a, b in itertools.pairwise(phis))
    centre = detector.mean_s + detector.settings.acceptable_pause_s
    near = [since_last(detector, centre + k / 100) for k in range(-20, 60)]
    assert all(a < b for a, b in itertools.pairwise(near))  # strictly, near the mean
    assert phis[0] < 0.01 and phis[-1] == PHI_MAX


@pytest.mark.parametrize(
    ("interval", "settings"),
    [(0.5, {}), (1.0, {"acceptable_pause_s": 0.0}), (2.0, {"acceptable_pause_s": 3.0})],
)
def test_phi_is_log10_2_at_mean_plus_pause(interval: float, settings: dict[str, float]) -> None:
    detector = steady(30, interval, **settings)
    at_centre = detector.mean_s + detector.settings.acceptable_pause_s
    assert since_last(detector, at_centre) == pytest.approx(LOG10_2, abs=1e-9)
    assert since_last(detector, at_centre + 0.05) > LOG10_2 + 0.05


@pytest.mark.parametrize(
    ("beats", "pinned"), [(0, 2.6532), (1, None), (10, None), (98, None), (200, 2.5226)]
)
def test_time_to_phi_8_with_steady_half_second_beats(beats: int, pinned: float | None) -> None:
    detector = steady(beats)
    to_dead = detector.time_to_phi(8.0)
    assert 2.0 <= to_dead <= 2.7
    if pinned is not None:
        assert to_dead == pytest.approx(pinned, abs=1e-4)
    assert since_last(detector, to_dead - 1e-6) < 8.0 <= since_last(detector, to_dead + 1e-6)


def test_time_to_phi_edges() -> None:
    detector = steady(10)
    assert detector.time_to_phi(0.0) == 0.0
    assert detector.time_to_phi(PHI_MAX * 2) == math.inf
    assert detector.time_to_phi(1.0) < detector.time_to_phi(8.0) < detector.time_to_phi(12.0)


@pytest.mark.parametrize("now", [1e6, 1e12, 1e300, math.inf, -1e300])
def test_phi_never_overflows_nor_raises(now: float) -> None:
    phi = steady(5).phi(now)
    assert 0.0 <= phi <= PHI_MAX
    assert phi == PHI_MAX if now > 0 else phi < 1e-100


def test_a_one_and_a_half_second_stall_stays_below_8() -> None:
    detector = steady(200)
    assert since_last(detector, 2.0) < 1.0  # a 2.0 s gap: not even suspect
    assert since_last(detector, 2.0) == pytest.approx(LOG10_2)


@pytest.mark.parametrize("seed", range(5))
def test_jittered_heartbeats_never_reach_8_and_death_is_still_fast(seed: int) -> None:
    detector, worst = jittered(seed)
    assert worst < 1.0  # not even suspect, at any arrival
    to_dead = detector.time_to_phi(8.0)
    assert 2.0 < to_dead <= 3.0
    assert since_last(detector, to_dead + 1e-6) >= 8.0


@pytest.mark.parametrize(
    ("gap", "recorded"), [(0.7, True), (1.0, True), (1.01, False), (2.0, False), (10.0, False)]
)
def test_only_gaps_up_to_the_cap_are_samples(gap: float, recorded: bool) -> None:
    detector = steady(200)  # the window is full of 0.5 s samples
    before = (detector.mean_s, detector.std_s, detector.samples)
    last = detector.last_at
    assert last is not None
    detector.heartbeat(last + gap)
    assert detector.last_at == last + gap  # the arrival counts either way
    assert ((detector.mean_s, detector.std_s, detector.samples) != before) is recorded


@pytest.mark.parametrize("back", [0.0, 0.2, 5.0, 1e9])
def test_out_of_order_heartbeats_are_ignored(back: float) -> None:
    detector = steady(10)
    before = (detector.last_at, detector.mean_s, detector.std_s, detector.samples)
    assert detector.last_at == 5.0
    detector.heartbeat(5.0 - back)
    assert (detector.last_at, detector.mean_s, detector.std_s, detector.samples) == before
    detector.heartbeat(5.5)
    assert detector.samples == before[3] + 1 and detector.mean_s == pytest.approx(0.5)


def test_bootstrap_started_at_and_reset() -> None:
    assert PhiAccrualDetector(0.5).phi(1e6) == 0.0  # no arrival yet: no opinion
    detector = PhiAccrualDetector(0.5, started_at=100.0)
    assert (detector.mean_s, detector.std_s, detector.samples) == (0.5, 0.125, 2)
    assert detector.phi(102.0) == pytest.approx(LOG10_2)
    assert detector.phi(102.6) < 8.0 <= detector.phi(102.7)
    detector = steady(200)
    detector.heartbeat(100.8)  # a 0.8 s sample changes the history
    detector.reset(500.0)
    assert (detector.mean_s, detector.std_s, detector.samples) == (0.5, 0.125, 2)
    assert detector.last_at == 500.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": 1.0}, "suspect_threshold < threshold"),
        ({"suspect_threshold": 0.0}, "0 < suspect_threshold"),
        ({"suspect_threshold": 9.0}, "suspect_threshold < threshold"),
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": 5000.0}, "threshold <= 1000"),
        ({"acceptable_pause_s": -0.1}, "acceptable_pause_s"),
        ({"min_std_s": 0.0}, "min_std_s"),
        ({"min_std_s": math.inf}, "min_std_s"),
        ({"window": 1}, "window must keep at least 2"),
        ({"max_sample_factor": 1.0}, "max_sample_factor"),
        ({"flap_count": 0}, "flap_count"),
        ({"flap_window_s": 0.0}, "flap_window_s"),
        ({"stable_s": -1.0}, "stable_s"),
    ],
)
def test_settings_validation(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        DetectorSettings(**changes)  # type: ignore[arg-type]
    assert isinstance(caught.value, ConfigurationError)
    assert str(caught.value).endswith(".")


def test_settings_edges_that_are_valid() -> None:
    DetectorSettings(acceptable_pause_s=0.0, stable_s=0.0, window=2, flap_count=1)
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="expected_interval_s"):
            PhiAccrualDetector(bad)


# --- Liveness: events in, transitions out ------------------------------------------------

Event = tuple[str, float]  # ("hb" | "tick", time)


def beats(start: float, end: float, every: float = 0.5) -> list[Event]:
    return [("hb", round(start + k * every, 6)) for k in range(int((end - start) / every) + 1)]


def ticks(start: float, end: float, every: float = 0.1) -> list[Event]:
    return [("tick", round(start + k * every, 6)) for k in range(int((end - start) / every) + 1)]


def run(liveness: Liveness, *segments: list[Event]) -> list[Transition]:
    """Feed events in time order (a heartbeat before a tick at the same instant)."""
    events = sorted((e for s in segments for e in s), key=lambda e: (e[1], e[0] == "tick"))
    out = []
    for kind, at in events:
        change = liveness.heartbeat(at) if kind == "hb" else liveness.tick(at)
        if change is not None:
            out.append(change)
    return out


A, S, D = "active", "suspect", "dead"
SEQUENCES: list[tuple[str, list[list[Event]], list[tuple[float, str, str]]]] = [
    ("no silence, no change", [beats(0, 30), ticks(0, 30)], []),
    ("active->suspect->dead", [beats(0, 10), ticks(0, 14)], [(12.2, A, S), (12.6, S, D)]),
    ("active->dead in one tick", [beats(0, 10), [("tick", 10.0), ("tick", 13.0)]], [(13.0, A, D)]),
    ("suspect->active", [beats(0, 10), [("hb", 12.3)], ticks(0, 14)], [(12.2, A, S), (12.3, S, A)]),
    (
        "suspect->active, then a real failure",
        [beats(0, 10), beats(12.3, 18.3), ticks(0, 21)],
        [(12.2, A, S), (12.3, S, A), (20.5, A, S), (20.9, S, D)],
    ),
    (
        "dead->active, then a real failure",
        [beats(0, 10), beats(20, 25), ticks(0, 28)],
        [(12.2, A, S), (12.6, S, D), (20.0, D, A), (27.2, A, S), (27.6, S, D)],
    ),
]


@pytest.mark.parametrize(
    ("segments", "expected"), [c[1:] for c in SEQUENCES], ids=[c[0] for c in SEQUENCES]
)
def test_liveness_sequences(
    segments: list[list[Event]], expected: list[tuple[float, str, str]]
) -> None:
    liveness = Liveness("dev-1", 0.5)
    changes = run(liveness, *segments)
    assert [(c.at, c.previous, c.status) for c in changes] == expected
    assert liveness.status == (expected[-1][2] if expected else "active")
    for change in changes:
        assert change.device == "dev-1"
        assert (
            f"phi {change.phi:.1f}" in change.reason or f"phi was {change.phi:.1f}" in change.reason
        )
        limit = {"suspect": 1.0, "dead": 8.0}.get(change.status)
        if limit is not None:
            assert change.phi >= limit and f">= {limit:g};" in change.reason


def test_transition_reasons_read_as_sentences() -> None:
    liveness = Liveness("dev-1", 0.5)
    (dead,) = run(liveness, beats(0, 10), [("tick", 12.61)])
    assert dead.reason == f"no heartbeat for 2.61 s (phi {dead.phi:.1f} >= 8; mean interval 0.50 s)"
    assert 8.0 <= dead.phi < 20.0
    back = liveness.heartbeat(14.0)
    assert (
        back is not None
        and back.reason == f"heartbeat received again after 4.00 s (phi was {back.phi:.1f})"
    )
    assert back.phi > dead.phi


def test_recovery_from_dead_resets_the_detector_but_from_suspect_does_not() -> None:
    from_dead, from_suspect = Liveness("a", 0.5), Liveness("b", 0.5)
    run(from_dead, beats(0, 10), [("hb", 10.8)], [("tick", 13.5), ("hb", 20.0)])
    assert (from_dead.detector.samples, from_dead.detector.std_s) == (2, 0.125)
    run(from_suspect, beats(0, 10), [("hb", 10.8)], [("tick", 13.0), ("hb", 13.1)])
    assert from_suspect.status == "active" and from_suspect.detector.samples == 23


@pytest.mark.parametrize(
    ("restored", "events", "expected"),
    [
        ("active", ticks(100, 104), [(102.2, A, S), (102.7, S, D)]),  # a bootstrap grace period
        ("suspect", ticks(100, 104), [(102.7, S, D)]),
        ("dead", ticks(100, 104), []),  # stays dead: no heartbeat
        (
            "dead",
            [*ticks(100, 104), ("hb", 105.0), *ticks(105, 108)],
            [(105.0, D, A), (107.2, A, S), (107.7, S, D)],
        ),
    ],
)
def test_restored_devices(restored: Status, events: list[Event], expected: list[object]) -> None:
    liveness = Liveness("dev-1", 0.5, status=restored, started_at=100.0)
    changes = run(liveness, events)
    assert [(c.at, c.previous, c.status) for c in changes] == expected
    marked = Liveness("dev-2", 0.5)
    marked.mark(restored, 100.0)
    assert [(c.at, c.previous, c.status) for c in run(marked, events)] == expected


# --- flap damping ------------------------------------------------------------------------


def fail_and_recover(liveness: Liveness, start: float, *, to_dead: bool = False) -> float:
    """Steady beats from ``start`` for 2 s, silence until suspect (or dead), then a beat."""
    silent = 2.6 if to_dead else 2.2
    run(liveness, beats(start, start + 2), [("tick", start + 2 + silent)])
    assert liveness.status == ("dead" if to_dead else "suspect")
    assert liveness.heartbeat(start + 2 + silent + 0.1) is not None
    return start + 2 + silent + 0.1


@pytest.mark.parametrize(
    ("starts", "to_dead", "counted", "expected"),
    [
        ((0, 10, 20), False, 3, [(0.0, False), (29.9, False), (30.1, True), (300.0, True)]),
        ((0, 10, 20), True, 3, [(0.0, False), (29.9, False), (30.1, True)]),
        ((0, 10), False, 2, [(0.0, True)]),
        ((0, 35, 70), False, 2, [(0.0, True)]),  # the first failure is 70 s before the last
        ((0, 5, 10, 15), False, 4, [(0.0, False), (12.5, False), (30.1, True)]),
    ],
)
def test_flap_damping(
    starts: tuple[int, ...], to_dead: bool, counted: int, expected: list[tuple[float, bool]]
) -> None:
    liveness = Liveness("dev-1", 0.5)
    for start in starts:
        recovered = fail_and_recover(liveness, float(start), to_dead=to_dead)
    assert liveness.failures_in_window(recovered) == counted
    for after, placeable in expected:
        ok, reason = liveness.placeable(recovered + after)
        assert ok is placeable
        if not ok:
            assert reason == (
                f"flapping: {counted} failures within 60 s; stable for {after:.1f} of 30 s"
            )
        else:
            assert reason == ""


def test_not_placeable_while_suspect_or_dead() -> None:
    liveness = Liveness("dev-1", 0.5)
    run(liveness, beats(0, 10), [("tick", 12.2)])
    assert liveness.placeable(12.3) == (False, "suspect: no heartbeat for 2.30 s (phi 2.9)")
    liveness.tick(12.6)
    ok, reason = liveness.placeable(13.0)
    assert not ok and reason.startswith("dead: no heartbeat for 3.00 s (phi ")
    assert liveness.failures_in_window(13.0) == 1  # suspect -> dead is one failure
    assert liveness.failures_in_window(72.1) == 1
    assert liveness.failures_in_window(72.3) == 0


def test_fail_declares_dead_at_once_and_counts_for_flapping() -> None:
    settings = DetectorSettings(flap_count=2, stable_s=10.0)
    live = Liveness("d", 0.5, settings, started_at=0.0)
    first = live.fail(1.0, "connection refused")
    assert first is not None and (first.previous, first.status) == ("active", "dead")
    assert first.reason == "connection refused"
    assert live.fail(1.5, "again") is None  # already dead: no second transition
    assert live.heartbeat(2.0) is not None
    assert live.fail(3.0, "refused") is not None
    assert live.heartbeat(4.0) is not None
    assert live.failures_in_window(4.0) == 2
    ok, why = live.placeable(5.0)
    assert not ok and why.startswith("flapping: 2 failures")
