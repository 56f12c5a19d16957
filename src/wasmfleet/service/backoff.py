"""Exponential backoff with jitter: the one way every wasmfleet retry loop waits.

Without jitter, every supervisor that lost its orchestrator retries at the same instants and
they all arrive together when it comes back. Each delay here is drawn uniformly from
``[(1 - jitter) * d, d]`` where ``d`` doubles from ``first`` up to ``maximum``, so the
retries spread out while a loop still never waits longer than ``maximum``.
"""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """The delays of one retry loop: ``next()`` after a failure, ``reset()`` after a success."""

    __slots__ = ("_ceiling", "_random", "factor", "first", "jitter", "maximum")

    def __init__(
        self,
        first: float,
        maximum: float,
        *,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if first <= 0 or maximum < first or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(
                "backoff needs 0 < first <= maximum, factor >= 1 and 0 <= jitter <= 1 "
                f"(got first={first}, maximum={maximum}, factor={factor}, jitter={jitter})"
            )
        self.first = first
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._random = rng
        self._ceiling = first

    @property
    def ceiling(self) -> float:
        """The longest the next delay can be."""
        return self._ceiling

    def next(self) -> float:
        """The delay before the next attempt (then the ceiling grows)."""
        ceiling = self._ceiling
        self._ceiling = min(self.maximum, ceiling * self.factor)
        return ceiling * (1.0 - self.jitter * self._random())

    def reset(self) -> None:
        """Start again from ``first`` (the last attempt succeeded)."""
        self._ceiling = self.first


def backoff_delay(attempt: int, first: float, maximum: float, jitter: float = 0.5) -> float:
    """The jittered delay before retry number ``attempt`` (0-based) of a loop without state."""
    ceiling = min(maximum, first * 2.0 ** min(attempt, 60))
    return ceiling * (1.0 - jitter * random.random())
