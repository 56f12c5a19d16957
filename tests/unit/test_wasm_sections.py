"""Reading a binary's sections: a start section is found, broken framing counts as one."""

from __future__ import annotations

import pytest
import wasmtime

from wasmfleet.core.wasm_sections import START_SECTION, has_start_section, section_ids

PLAIN = '(module (memory 1) (func (export "f") (result i32) (i32.const 1)))'
WITH_START = "(module (global $g (mut i32) (i32.const 0)) (func $s (global.set $g (i32.const 1)))"
WITH_START += " (start $s))"


def wasm(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def test_sections_in_order_and_the_start_section() -> None:
    assert section_ids(wasm(PLAIN)) == [1, 3, 5, 7, 10]  # type, function, memory, export, code
    assert START_SECTION in section_ids(wasm(WITH_START))
    assert not has_start_section(wasm(PLAIN))
    assert has_start_section(wasm(WITH_START))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0asm",
        b"nope\x01\0\0\0",
        wasm(PLAIN)[:-3],
        b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\xff",
    ],
)
def test_broken_framing_counts_as_a_start_section(data: bytes) -> None:
    with pytest.raises(ValueError):
        section_ids(data)
    assert has_start_section(data)  # unknown: treated as running guest code
