"""Reading the section list of a WebAssembly binary (pure; no validation beyond framing)."""

from __future__ import annotations

from typing import NamedTuple

CUSTOM_SECTION = 0
START_SECTION = 8
_HEADER = b"\0asm"
_MAX_SECTIONS = 100_000


class Section(NamedTuple):
    """One section: its id, where it starts (the id byte), where its payload starts, its end."""

    id: int
    start: int
    payload: int
    end: int


def sections(data: bytes) -> list[Section]:
    """The binary's sections, in order; ValueError when the framing is broken."""
    if len(data) < 8 or data[:4] != _HEADER:
        raise ValueError("not a WebAssembly binary")
    found: list[Section] = []
    pos = 8
    while pos < len(data):
        if len(found) >= _MAX_SECTIONS:
            raise ValueError("too many sections")
        start = pos
        size, pos = read_u32(data, pos + 1)
        end = pos + size
        if end > len(data):
            raise ValueError("a section runs past the end of the binary")
        found.append(Section(data[start], start, pos, end))
        pos = end
    return found


def section_ids(data: bytes) -> list[int]:
    """The ids of the binary's sections, in order; ValueError when the framing is broken."""
    return [section.id for section in sections(data)]


def custom_name(data: bytes, section: Section) -> tuple[str, int]:
    """A custom section's name and where its content starts; ValueError when malformed."""
    length, pos = read_u32(data, section.payload)
    if pos + length > section.end:
        raise ValueError("a custom section's name runs past the section")
    try:
        return data[pos : pos + length].decode("utf-8"), pos + length
    except UnicodeDecodeError:
        raise ValueError("a custom section's name is not UTF-8") from None


def has_start_section(data: bytes) -> bool:
    """True when instantiating the binary runs a start function (or when it cannot tell)."""
    try:
        return START_SECTION in section_ids(data)
    except ValueError:
        return True


GLOBAL_SECTION = 6
_CONST_IMMEDIATES = {0x41: -1, 0x42: -1, 0x43: 4, 0x44: 8, 0x23: -1, 0xD0: 1, 0xD2: -1}
"""Opcodes of a global's constant initialiser -> their immediate's size (-1: one LEB128)."""
_CONST_ARITHMETIC = frozenset((0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E))
"""The extended-const additions (i32/i64 add, sub, mul): no immediate."""


def mutable_globals(data: bytes) -> int | None:
    """How many mutable globals the module defines (imported ones not counted), or None when
    the global section holds something this reader does not know (count it as many)."""
    try:
        found = [s for s in sections(data) if s.id == GLOBAL_SECTION]
        if not found:
            return 0
        section = found[0]
        count, pos = read_u32(data, section.payload)
        mutable = 0
        for _ in range(count):
            if pos + 2 > section.end:
                return None
            mutable += data[pos + 1] == 1  # (valtype, mut) then the initialiser
            pos = _skip_const_expr(data, pos + 2, section.end)
            if pos < 0:
                return None
        return mutable
    except ValueError:
        return None


def _skip_const_expr(data: bytes, pos: int, end: int) -> int:
    """Where a constant expression starting at ``pos`` ends (after its 0x0B), or -1."""
    while pos < end:
        op = data[pos]
        pos += 1
        if op == 0x0B:
            return pos
        if op in _CONST_ARITHMETIC:
            continue
        size = _CONST_IMMEDIATES.get(op)
        if size is None:
            return -1
        if size >= 0:
            pos += size
        else:
            while pos < end and data[pos] & 0x80:  # a LEB128 (signed or not: same length)
                pos += 1
            pos += 1
    return -1


def read_u32(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 u32 at ``pos``: (value, position after it)."""
    value = 0
    for shift in range(0, 35, 7):
        if pos >= len(data):
            raise ValueError("a LEB128 number runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("a LEB128 number is longer than 5 bytes")


def u32_bytes(value: int) -> bytes:
    """``value`` (0 to 2**32-1) as unsigned LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
