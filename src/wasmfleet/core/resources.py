"""What a step's ``resources`` mean: CPU in cores or millicores, memory in bytes, as in Kubernetes.

*CPU* (``parse_cpu``): a scalar is cores — ``1`` = ``"1"`` = ``1000m``, ``0.5`` = ``500m``,
``2.5`` = ``2500m`` — mapped onto the per-core model as whole cores of 1000m plus one core
with the rest (``2.5`` asks ``[1000, 1000, 500]``, see ``quantities.spread_cores``). A list
is the precise form: millicores per core, ROHE style (``[500, 100]``).
*Memory* (``parse_memory``): bytes, reserved in whole MiB rounded up (``512Mi`` = 512 MiB,
``512M`` = 512 x 10^6 bytes = 489 MiB); ``memory_mb`` (``parse_memory_mb``) is a whole
number of MiB, the canonical stored form. *Accelerator*: a whole percent.

Spellings that meant something else before (a bare ``cpu: 2`` was 2 millicores, ``512M``
was 512 MiB, a bare ``memory: 64`` was 64 MiB) add a warning to the ``warnings`` list the
caller passes — ``(field, sentence)`` pairs that ``merge_warnings`` turns into sentences —
or, when the new meaning cannot be what was meant, raise an ``InvalidDocument`` naming the
new spelling. The canonical form (per-core list, ``memory_mb``) never warns.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.quantities import (
    DECIMAL_POWERS,
    MAX_BYTES,
    MiB,
    Quantity,
    cpu_text,
    parse_quantity,
    show,
    size_advice,
    spelling,
    spread_cores,
)

MAX_CORES = 1024
MAX_MILLICORES = 1_000_000
"""The most one entry of a per-core list may ask (a device may declare big cores)."""
RESOURCE_KEYS = ("cpu", "memory", "memory_mb", "accelerator", "accelerator_pct")

Warnings = list[tuple[str, str]]
"""``(field, sentence)`` pairs collected while parsing (see ``merge_warnings``)."""

_CHANGED_SIZES = {"k": "Ki", "M": "Mi", "G": "Gi", "T": "Ti"}
"""Decimal suffixes that meant the binary unit before (``512M`` was 512 MiB)."""


def parse_resources(
    raw: Any, where: str, warnings: Warnings | None = None
) -> tuple[tuple[int, ...], int, int]:
    """(millicores per core, MiB, accelerator %) of a step's ``resources`` object."""
    resources = {} if raw is None else raw
    if not isinstance(resources, dict):
        raise InvalidDocument(
            f"{where} must be an object like {{cpu: 500m, memory: 64Mi}}, got {show(raw)}."
        )
    unknown = [str(k) for k in resources if k not in RESOURCE_KEYS]
    if unknown:
        raise InvalidDocument(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the allowed keys are: {', '.join(RESOURCE_KEYS)}."
        )
    for key, alias in (("memory", "memory_mb"), ("accelerator", "accelerator_pct")):
        if key in resources and alias in resources:
            raise InvalidDocument(f"{where} gives both '{key}' and '{alias}'; keep one.")
    cpu = parse_cpu(resources.get("cpu"), f"{where}.cpu", warnings)
    if "memory_mb" in resources:
        memory = parse_memory_mb(resources["memory_mb"], f"{where}.memory_mb")
    else:
        memory = parse_memory(resources.get("memory"), f"{where}.memory", warnings)
    accel = "accelerator_pct" if "accelerator_pct" in resources else "accelerator"
    return cpu, memory, parse_accelerator(resources.get(accel), f"{where}.{accel}")


def parse_cpu(raw: Any, where: str, warnings: Warnings | None = None) -> tuple[int, ...]:
    """Millicores per core from cores (``1``, ``0.5``, ``"2"``), ``"500m"`` or a per-core
    list of millicores (``[500, 100]``); None or 0: no CPU asked."""
    if raw is None:
        return ()
    if isinstance(raw, list):
        return _per_core(raw, where)
    millicores = _cpu_millicores(raw, where, warnings)
    return spread_cores(millicores)


_CPU_FORMS = 'cores (1, 0.5, "2"), millicores ("500m") or millicores per core ([500, 100])'


def _cpu_millicores(raw: Any, where: str, warnings: Warnings | None) -> int:
    text = spelling(raw)
    quantity = parse_quantity(text)
    if quantity is None or quantity.suffix.endswith("B"):
        spaced = "; write it without spaces" if isinstance(raw, str) and " " in raw.strip() else ""
        raise InvalidDocument(f"{where} must be {_CPU_FORMS}, got {show(raw)}{spaced}.")
    if quantity.numerator < 0:
        raise InvalidDocument(f"{where} cannot be negative, got {show(raw)}; write e.g. 500m.")
    if not quantity.is_whole(1000):
        raise InvalidDocument(
            f"{where} is {text}, finer than 1m (a thousandth of a core), which Kubernetes "
            f"does not allow either; write at least {quantity.ceil(1000)}m."
        )
    millicores = quantity.ceil(1000)
    if millicores > MAX_CORES * 1000:
        was = f" (a bare {raw} used to mean millicores: write {raw}m)" if type(raw) is int else ""
        raise InvalidDocument(
            f"{where} asks {millicores / 1000:g} cores; at most {MAX_CORES}{was}."
        )
    if warnings is not None and millicores:
        if type(raw) is int:
            warnings.append(
                (
                    where,
                    f"{raw} now means {_count(raw, 'whole core')} ({millicores}m), as in "
                    f"Kubernetes, not {_count(raw, 'millicore')} as before; write {raw}m if "
                    f'you meant millicores, or "{raw}" (quoted) to say cores without this warning',
                )
            )
        elif quantity.suffix == "m" and millicores > 1000:
            warnings.append(
                (
                    where,
                    f"{text} now means {millicores / 1000:g} cores "
                    f"({cpu_text(spread_cores(millicores))}), as in Kubernetes, not {text} on "
                    "a single core as before; write the "
                    f"per-core list [{millicores}] if you meant that",
                )
            )
    return millicores


def _per_core(items: list[Any], where: str) -> tuple[int, ...]:
    if len(items) > MAX_CORES:
        raise InvalidDocument(f"{where} asks for {len(items)} cores; at most {MAX_CORES}.")
    cores: list[int] = []
    for i, item in enumerate(items):
        amount = item if type(item) is int else None
        if isinstance(item, str):
            quantity = parse_quantity(item.strip())
            if quantity is not None and quantity.suffix == "m" and quantity.is_whole(1000):
                amount = quantity.ceil(1000)
        if amount is None:
            raise InvalidDocument(
                f'{where}[{i}] must be millicores for one core, like 500 or "500m" (a list '
                f"is millicores per core, e.g. [500, 100]; for whole cores write cpu: 2), "
                f"got {show(item)}."
            )
        if not 1 <= amount <= MAX_MILLICORES:
            raise InvalidDocument(
                f"{where} asks {amount} millicores on a core; each entry must be 1 .. "
                f"{MAX_MILLICORES} (1000 = one whole core)."
            )
        cores.append(amount)
    return tuple(cores)


def parse_memory(raw: Any, where: str, warnings: Warnings | None = None) -> int:
    """MiB to reserve (rounded up) for bytes as a Kubernetes quantity: ``"512Mi"``,
    ``"512M"``, ``"1e9"``, ``1073741824`` (None: 0)."""
    if raw is None:
        return 0
    text = spelling(raw)
    quantity = parse_quantity(text)
    if quantity is None:
        raise InvalidDocument(
            f'{where} must be bytes as a Kubernetes quantity like "512Mi" (512 x 2^20 '
            f'bytes) or "512M" (512 x 10^6 bytes), got {show(raw)}'
            f"{size_advice(raw if isinstance(raw, str) else '')}."
        )
    if quantity.numerator < 0:
        raise InvalidDocument(f"{where} cannot be negative, got {show(raw)}; write e.g. 64Mi.")
    if quantity.numerator == 0:
        return 0
    size = quantity.ceil()
    if size > MAX_BYTES:
        raise InvalidDocument(f"{where} is {text}, more than the largest memory, 8Ei.")
    plain = not isinstance(raw, str) or quantity.suffix == ""
    if plain and size < MiB:
        raise InvalidDocument(
            f"{where} is {text} bytes, as in Kubernetes; a bare number used to mean MiB: "
            f"write {text}Mi for {text} MiB (or {text}M for {text} x 10^6 bytes)."
        )
    if quantity.suffix == "m" and size < MiB:
        raise InvalidDocument(
            f"{where} is {text}: m means milli (a thousandth of a byte) in Kubernetes "
            f"quantities; write {text[:-1]}Mi (or {text[:-1]}M for 10^6 bytes each)."
        )
    mib = -(-size // MiB)
    changed = plain or quantity.suffix in ("m", *_CHANGED_SIZES)
    old = _old_memory_mb(quantity, plain) if changed else mib
    if warnings is not None and old != mib:
        was = f"{old}Mi" if plain else text[:-1] + _CHANGED_SIZES.get(text[-1], "Mi")
        warnings.append(
            (
                where,
                f"{text} now means {_bytes_text(quantity, plain)} ({mib}Mi reserved), as in "
                f"Kubernetes, not {old} MiB as before; write {was} if you meant {old} MiB",
            )
        )
    return mib


def _old_memory_mb(quantity: Quantity, plain: bool) -> int:
    """What a plain number (MiB) or a k/m/M/G/T size (binary units) reserved before."""
    if plain:
        return quantity.ceil()
    power = DECIMAL_POWERS[quantity.suffix]
    num, den = quantity.numerator, quantity.denominator
    if power >= 0:
        den *= 10**power  # num / den is now the number as written
    else:
        num *= 10**-power
    shift = {"m": 0, "M": 0, "k": -10, "G": 10, "T": 20}[quantity.suffix]
    if shift >= 0:
        num <<= shift
    else:
        den <<= -shift
    return -(-num // den)


def _bytes_text(quantity: Quantity, plain: bool) -> str:
    if plain:
        return f"{quantity.ceil()} bytes"
    power = DECIMAL_POWERS[quantity.suffix]
    number = quantity.numerator / quantity.denominator / 10**power
    return f"{number:g} x 10^{power} bytes"


def parse_memory_mb(raw: Any, where: str) -> int:
    """A whole number of MiB (``memory_mb: 64``, the canonical stored form; None: 0)."""
    if raw is None:
        return 0
    value = raw
    if isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit() and len(raw) < 40:
        value = int(raw.strip())
    if type(value) is not int or not 0 <= value <= MAX_BYTES // MiB:
        raise InvalidDocument(
            f"{where} must be a whole number of MiB like 64; for a quantity write memory: "
            f"64Mi (2^20 bytes each) or memory: 64M (10^6 bytes each), got {show(raw)}."
        )
    return value


def parse_accelerator(raw: Any, where: str) -> int:
    """A whole percent 0 .. 100 of the device's accelerator, ``50`` or ``"50%"`` (None: 0)."""
    if raw is None:
        return 0
    digits = raw.strip()[:-1] if isinstance(raw, str) and raw.strip().endswith("%") else ""
    if digits.isascii() and digits.isdigit() and len(digits) <= 3:
        raw = int(digits)
    if type(raw) is not int or not 0 <= raw <= 100:
        raise InvalidDocument(
            f"{where} must be a whole percent of the device's accelerator, 0 .. 100, "
            f"got {show(raw)}."
        )
    return raw


def merge_warnings(pairs: Warnings) -> tuple[str, ...]:
    """One sentence per distinct warning, naming every field it is about, in first-seen order."""
    fields: dict[str, list[str]] = {}
    for where, text in pairs:
        seen = fields.setdefault(text, [])
        if where not in seen:
            seen.append(where)
    return tuple(f"{', '.join(where)}: {text}." for text, where in fields.items())


def _count(number: int, word: str) -> str:
    return f"{number} {word}" if number == 1 else f"{number} {word}s"
