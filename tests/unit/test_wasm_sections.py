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


def test_mutable_globals_are_counted_past_every_kind_of_initialiser() -> None:
    from wasmfleet.core.wasm_sections import mutable_globals

    def count(body: str) -> int | None:
        return mutable_globals(wasmtime.wat2wasm(f"(module {body})"))

    assert count("") == 0
    assert count("(global $sp (mut i32) (i32.const 65536))") == 1  # C and Rust: the stack
    assert (
        count(
            '(import "env" "g" (global i32))'  # imported: not the module's own state
            "(global (mut i64) (i64.const -1)) (global f32 (f32.const 1.5))"
            "(global (mut f64) (f64.const 2.5)) (global i32 (global.get 0))"
            "(global (mut funcref) (ref.null func)) (global (mut i32) (i32.const 300))"
        )
        == 4
    )
    data = bytearray(wasmtime.wat2wasm("(module (global (mut i32) (i32.const 7)))"))
    data[data.index(0x41)] = 0xFC  # an initialiser opcode it does not know: unknown, not 0
    assert mutable_globals(bytes(data)) is None
    assert mutable_globals(b"\0asm\x01\0\0\0\x06\x05\x01\x7f\x01\x41") is None  # cut short
