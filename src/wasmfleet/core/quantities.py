"""Quantities as Kubernetes spells them: the grammar of its ``resource.Quantity``, exactly.

Suffixes are case-sensitive::

    quantity ::= sign? number suffix?              sign ::= "+" | "-"
    number   ::= digits | digits "." digits? | "." digits
    suffix   ::= "m" | "k" | "M" | "G" | "T" | "P" | "E"     x 10^-3, 10^3 .. 10^18
               | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"      x 2^10 .. 2^60
               | ("e" | "E") sign? digits                    x 10^n  ("1e9")

Sizes also take ``KiB`` .. ``EiB`` (unambiguous, and what wasmfleet has always accepted).
``parse_quantity`` gives the exact value; what CPU and memory amounts mean for a step is in
``core.resources``, sizes of settings in ``service.setting_values``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MiB = 1 << 20
MAX_BYTES = 8 << 60
"""8Ei: the largest size accepted (Kubernetes keeps quantities in an int64)."""

_MAX_DIGITS = 40
_MAX_EXPONENT = 40
_GRAMMAR = re.compile(
    r"(?P<sign>[+-]?)(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?"
    r"(?:(?P<exp>[eE][+-]?[0-9]+)|(?P<suffix>[KMGTPE]iB?|[mkMGTPE])?)",
    re.ASCII,
)
DECIMAL_POWERS = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
"""Decimal suffix -> power of ten."""
BINARY_POWERS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
"""Binary suffix -> power of two."""
_LOOSE_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([kKmMgGtTpPE])[iI]?[bB]?\s*")


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact amount, ``numerator / denominator`` base units, and the suffix as written."""

    numerator: int
    denominator: int
    suffix: str
    """``""``, ``"m"``, ``"Mi"``, ``"MiB"``, ``"e9"`` ..."""

    def ceil(self, scale: int = 1) -> int:
        """The amount times ``scale`` rounded up to a whole number."""
        return -(-self.numerator * scale // self.denominator)

    def is_whole(self, scale: int = 1) -> bool:
        """True when the amount times ``scale`` is a whole number."""
        return self.numerator * scale % self.denominator == 0


def parse_quantity(text: str) -> Quantity | None:
    """A Kubernetes quantity (``"500m"``, ``"1.5"``, ``"512Mi"``, ``"1e9"``), or None."""
    found = _GRAMMAR.fullmatch(text)
    if found is None:
        return None
    whole, frac = found["int"], found["frac"] or ""
    if (not whole and not frac) or len(whole) + len(frac) > _MAX_DIGITS:
        return None
    numerator = int(whole + frac or "0")
    denominator = 10 ** len(frac)
    exponent, suffix = 0, found["suffix"] or ""
    if found["exp"]:
        exponent, suffix = int(found["exp"][1:]), found["exp"]
        if abs(exponent) > _MAX_EXPONENT:
            return None
    elif suffix in DECIMAL_POWERS:
        exponent = DECIMAL_POWERS[suffix]
    else:
        numerator <<= BINARY_POWERS[suffix[:2]]
    if exponent >= 0:
        numerator *= 10**exponent
    else:
        denominator *= 10**-exponent
    if found["sign"] == "-":
        numerator = -numerator
    return Quantity(numerator, denominator, suffix)


def spread_cores(millicores: int) -> tuple[int, ...]:
    """A total CPU ask on the per-core model: whole cores of 1000m, then one with the rest."""
    whole, rest = divmod(millicores, 1000)
    return (1000,) * whole + ((rest,) if rest else ())


def size_advice(text: str) -> str:
    """``"; write 64Mi (...) or 64M (...)"`` for a near-miss (``64MB``, ``1g``), else ``""``."""
    loose = _LOOSE_SIZE.fullmatch(text)
    if loose is None:
        return ""
    number, letter = loose.group(1), loose.group(2).upper()
    decimal = "k" if letter == "K" else letter
    power = DECIMAL_POWERS[decimal]
    return (
        f"; write {number}{letter}i ({number} x 2^{BINARY_POWERS[letter + 'i']} bytes) or "
        f"{number}{decimal} ({number} x 10^{power} bytes) — suffixes are case-sensitive, "
        "as in Kubernetes"
    )


def cpu_text(cores: Sequence[int]) -> str:
    """Per-core millicores, largest first, equal ones counted: ``2x1000m, 500m``."""
    runs: list[tuple[int, int]] = []
    for amount in sorted(cores, reverse=True):
        if runs and runs[-1][1] == amount:
            runs[-1] = (runs[-1][0] + 1, amount)
        else:
            runs.append((1, amount))
    return ", ".join(f"{n}x{a}m" if n > 1 else f"{a}m" for n, a in runs)


def show(value: Any) -> str:
    """A short repr of a value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def spelling(raw: Any) -> str:
    """The text of a scalar as a quantity: ints and floats as Python writes them ("" for
    what is no quantity at all: booleans, infinities, lists, objects)."""
    if isinstance(raw, bool):
        return ""
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return repr(raw) if math.isfinite(raw) else ""
    if isinstance(raw, str):
        return raw.strip()
    return ""
