"""Resource quantities in manifests: CPU millicores per core, memory sizes, accelerator share.

CPU is a list of millicores per core (ROHE style: ``[500, 100]`` asks for two cores;
``"250m"`` is 250), memory is MB — MiB, as devices report it — as a number or a size
(``"64M"``, ``"1G"``, ``"512MiB"``), the accelerator a whole percent (``50`` or ``"50%"``).
Every problem is an ``InvalidDocument`` naming the field.
"""

from __future__ import annotations

import math
import re
from typing import Any

from wasmfleet.core.errors import InvalidDocument

MAX_CORES = 1024
MAX_MILLICORES = 1_000_000
_MILLI = re.compile(r"\s*(\d+)\s*m\s*")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
# MB here is MiB (2**20 bytes), as devices report their memory; "M" and "Mi" mean the same.
_MB_PER_UNIT = {
    prefix + suffix: factor
    for prefix, factor in (("k", 1 / 1024), ("m", 1), ("g", 1024), ("t", 1024 * 1024))
    for suffix in ("", "b", "i", "ib")
} | {"": 1}


def parse_cpu(raw: Any, where: str) -> tuple[int, ...]:
    """Millicores per core: ``[500, 100]``, ``250``, ``"250m"`` (None: no CPU asked)."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    hint = f"{where} must be a list of millicores per core like [500, 100], got {show(raw)}."
    cores: list[int] = []
    for item in items:
        milli = _MILLI.fullmatch(item) if isinstance(item, str) else None
        if milli is not None:
            item = int(milli.group(1))
        if type(item) is not int:
            raise InvalidDocument(hint)
        if not 1 <= item <= MAX_MILLICORES:
            raise InvalidDocument(
                f"{where} asks {item} millicores on a core; each entry must be 1 .. "
                f"{MAX_MILLICORES} (1000 = one whole core)."
            )
        cores.append(item)
    if len(cores) > MAX_CORES:
        raise InvalidDocument(f"{where} asks for {len(cores)} cores; at most {MAX_CORES}.")
    return tuple(cores)


def parse_memory(raw: Any, where: str) -> int:
    """MB (MiB) from a number or a size like ``"64M"``, ``"1G"`` (None: 0)."""
    if raw is None:
        return 0
    hint = f'{where} must be MB as a whole number or a size like "64M", "1G", "512MiB"'
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if type(raw) is int:
        if raw < 0:
            raise InvalidDocument(f"{hint}; it cannot be negative, got {raw}.")
        return raw
    size = _SIZE.fullmatch(raw) if isinstance(raw, str) else None
    if size is None or size.group(2).lower() not in _MB_PER_UNIT:
        raise InvalidDocument(f"{hint}, got {show(raw)}.")
    return math.ceil(float(size.group(1)) * _MB_PER_UNIT[size.group(2).lower()])


def parse_accelerator(raw: Any, where: str) -> int:
    """A whole percent 0 .. 100 of the device's accelerator, ``50`` or ``"50%"`` (None: 0)."""
    if raw is None:
        return 0
    if isinstance(raw, str) and raw.strip().endswith("%") and raw.strip()[:-1].isdigit():
        raw = int(raw.strip()[:-1])
    if type(raw) is not int or not 0 <= raw <= 100:
        raise InvalidDocument(
            f"{where} must be a whole percent of the device's accelerator, 0 .. 100, "
            f"got {show(raw)}."
        )
    return raw


def show(value: Any) -> str:
    """A short repr of a value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
