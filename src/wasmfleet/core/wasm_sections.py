"""Reading the section list of a WebAssembly binary (pure; no validation beyond framing)."""

from __future__ import annotations

START_SECTION = 8
_HEADER = b"\0asm"
_MAX_SECTIONS = 100_000


def section_ids(data: bytes) -> list[int]:
    """The ids of the binary's sections, in order; ValueError when the framing is broken."""
    if len(data) < 8 or data[:4] != _HEADER:
        raise ValueError("not a WebAssembly binary")
    ids: list[int] = []
    pos = 8
    while pos < len(data):
        if len(ids) >= _MAX_SECTIONS:
            raise ValueError("too many sections")
        section = data[pos]
        size, pos = _u32(data, pos + 1)
        pos += size
        if pos > len(data):
            raise ValueError("a section runs past the end of the binary")
        ids.append(section)
    return ids


def has_start_section(data: bytes) -> bool:
    """True when instantiating the binary runs a start function (or when it cannot tell)."""
    try:
        return START_SECTION in section_ids(data)
    except ValueError:
        return True


def _u32(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 u32 at ``pos``: (value, position after it)."""
    value = 0
    for shift in range(0, 35, 7):
        if pos >= len(data):
            raise ValueError("truncated section size")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("section size longer than 5 bytes")
