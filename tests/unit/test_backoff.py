"""Backoff: delays double up to the maximum, jitter spreads them below the ceiling."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmfleet.service.backoff import Backoff, backoff_delay


def test_the_ceiling_doubles_up_to_the_maximum_and_reset_starts_again() -> None:
    backoff = Backoff(1.0, 5.0, rng=lambda: 0.0)  # no jitter drawn: delay == ceiling

    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_jitter_keeps_each_delay_between_half_and_the_whole_ceiling() -> None:
    backoff = Backoff(1.0, 8.0, rng=lambda: 1.0)  # the most jitter: half the ceiling

    assert [backoff.next() for _ in range(4)] == [0.5, 1.0, 2.0, 4.0]


def test_two_loops_started_together_do_not_retry_in_lockstep() -> None:
    first = Backoff(1.0, 30.0, rng=random.Random(1).random)
    second = Backoff(1.0, 30.0, rng=random.Random(2).random)

    assert [first.next() for _ in range(6)] != [second.next() for _ in range(6)]


@given(
    first=st.floats(0.001, 10),
    factor=st.floats(1, 4),
    jitter=st.floats(0, 1),
    steps=st.integers(1, 40),
)
def test_every_delay_is_within_bounds(
    first: float, factor: float, jitter: float, steps: int
) -> None:
    maximum = first * 10
    backoff = Backoff(first, maximum, factor=factor, jitter=jitter)
    for _ in range(steps):
        ceiling = backoff.ceiling
        delay = backoff.next()
        assert ceiling * (1 - jitter) - 1e-12 <= delay <= ceiling <= maximum


@pytest.mark.parametrize(
    ("first", "maximum", "factor", "jitter"),
    [(0, 1, 2, 0.5), (2, 1, 2, 0.5), (1, 2, 0.5, 0.5), (1, 2, 2, 1.5)],
)
def test_nonsense_parameters_are_refused(
    first: float, maximum: float, factor: float, jitter: float
) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(first, maximum, factor=factor, jitter=jitter)


@given(attempt=st.integers(0, 10_000))
def test_stateless_delay_stays_under_the_maximum(attempt: int) -> None:
    delay = backoff_delay(attempt, 0.05, 1.0)
    assert 0 < delay <= 1.0
