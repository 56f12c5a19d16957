"""Timing helpers shared by the sections of bench/ml.py."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """How long to measure: repeats per figure and the least time of one repeat."""

    repeats: int
    min_seconds: float
    quick: bool


def say(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def per_call_us(call: Callable[[], object], settings: Settings) -> list[float]:
    """µs per call of ``call``, one figure per repeat (each a loop of >= min_seconds)."""
    call()  # warm-up
    figures = []
    for _ in range(settings.repeats):
        calls = 0
        start = time.perf_counter()
        while True:
            call()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= settings.min_seconds:
                break
        figures.append(elapsed * 1e6 / calls)
    return figures


def median(figures: list[float], digits: int = 3) -> float:
    """The median, rounded."""
    return round(statistics.median(figures), digits)
