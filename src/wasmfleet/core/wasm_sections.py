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
