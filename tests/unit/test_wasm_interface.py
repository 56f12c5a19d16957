"""core.wasm_interface: imports, exports and memories read without wasmtime, checked against it."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from wasmfleet.core.errors import InvalidWasm
from wasmfleet.core.wasm_interface import FuncSignature, MemoryLimits, parse_interface

MODULES = Path(__file__).resolve().parents[2] / "modules"
BINARIES = sorted(MODULES.glob("*/*.wasm"))
ENGINE = wasmtime.Engine()


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


@pytest.mark.parametrize("path", BINARIES, ids=lambda p: p.name)
def test_every_example_module_reads_as_wasmtime_reads_it(path: Path) -> None:
    data = path.read_bytes()
    module = wasmtime.Module(ENGINE, data)
    interface = parse_interface(data)
    theirs = []
    for imp in module.imports:
        ty = imp.type
        if isinstance(ty, wasmtime.FuncType):
            sig = (tuple(map(str, ty.params)), tuple(map(str, ty.results)))
            theirs.append((imp.module, imp.name, "func", sig))
        else:
            theirs.append((imp.module, imp.name, type(ty).__name__[:-4].lower(), None))
    ours = [
        (
            i.module,
            i.name,
            i.kind,
            (i.signature.params, i.signature.results) if i.signature else None,
        )
        for i in interface.imports
    ]
    assert ours == theirs
    exported = {
        e.name: (tuple(map(str, e.type.params)), tuple(map(str, e.type.results)))
        for e in module.exports
        if isinstance(e.type, wasmtime.FuncType)
    }
    assert {n: (s.params, s.results) for n, s in interface.functions.items()} == exported
    memories = [e.type for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
    assert interface.memory is not None and interface.memory.minimum == memories[0].limits.min
    assert interface.has_initialize and interface.exports_memory and not interface.has_start


def test_the_kinds_signatures_and_limits_of_a_hand_written_module() -> None:
    data = wat(
        """(module
          (type $t (func (param i32 i64) (result f32)))
          (import "dht" "getTemperature" (func (result f32)))
          (import "env" "table" (table 1 funcref))
          (import "env" "g" (global i32))
          (memory (export "memory") 3 7)
          (func $own (type $t) f32.const 1)
          (func $start)
          (start $start)
          (export "own" (func $own))
          (export "reexported" (func 0))
          (export "_start" (func $start))
          (global (export "counter") (mut i32) (i32.const 0)))"""
    )
    interface = parse_interface(data)
    assert [(i.qualified, i.kind) for i in interface.imports] == [
        ("dht.getTemperature", "func"),
        ("env.table", "table"),
        ("env.g", "global"),
    ]
    assert interface.imports[0].signature == FuncSignature((), ("f32",))
    assert interface.functions == {
        "own": FuncSignature(("i32", "i64"), ("f32",)),
        "reexported": FuncSignature((), ("f32",)),
        "_start": FuncSignature((), ()),
    }
    assert ("counter", "global") in [(e.name, e.kind) for e in interface.exports]
    assert interface.memories == (MemoryLimits(3, 7),)
    assert interface.memory is not None and interface.memory.minimum_bytes == 3 * 65536
    assert interface.has_start and interface.has_command_start and not interface.has_initialize
    assert not interface.has_alloc


def test_an_imported_memory_is_read_as_one() -> None:
    interface = parse_interface(wat('(module (import "env" "memory" (memory 2 4)))'))
    assert interface.memories == (MemoryLimits(2, 4, imported=True),)
    assert interface.imports[0].kind == "memory" and not interface.exports_memory


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "does not start with \\0asm"),
        (b"hello world", "does not start with \\0asm"),
        (b"\0asm", "truncated"),
        (b"\0asm\x0d\x00\x01\x00", "component"),
        (b"\0asm\x02\x00\x00\x00", "unknown version"),
        (b"\0asm\x01\x00\x00\x00\x01\x05\x01", "truncated or corrupt"),
        (b"\0asm\x01\x00\x00\x00\x01\x01\x05", "more than its bytes can hold"),
        (b"\0asm\x01\x00\x00\x00\x01\x04\x01\x60\x01\x55", "value type (0x55)"),
        (b"\0asm\x01\x00\x00\x00\x01\x04\x01\x5f\x00\x00", "not a function type"),
        (b"\0asm\x01\x00\x00\x00\x07\x05\x01\x01f\x00\x00", "which it does not have"),
        (b"\0asm\x01\x00\x00\x00\x02\x06\x01\x01a\x01b\x09", "unknown kind 9"),
        (
            b"\0asm\x01\x00\x00\x00\x03\x02\x01\x05\x07\x05\x01\x01f\x00\x00",
            "past the 0 types",
        ),
        (b"\0asm\x01\x00\x00\x00\x01\x05\x01\x60\x00\x00\x00", "left over"),
    ],
)
def test_broken_input_is_refused_with_a_sentence(data: bytes, words: str) -> None:
    with pytest.raises(InvalidWasm) as err:
        parse_interface(data)
    assert words in err.value.message
    assert err.value.message.endswith((".", ")"))


def test_every_truncation_of_a_real_module_is_refused_or_read_never_crashes() -> None:
    data = (MODULES / "thermo" / "thermo.wasm").read_bytes()
    full = parse_interface(data)
    for cut in range(0, len(data), max(1, len(data) // 400)):
        try:
            partial = parse_interface(data[:cut])
        except InvalidWasm:
            continue
        assert len(partial.exports) <= len(full.exports)


def test_a_huge_announced_count_is_refused_without_looping() -> None:
    # a type section announcing 2**32-1 types in 5 bytes
    data = b"\0asm\x01\x00\x00\x00\x01\x05\xff\xff\xff\xff\x0f"
    with pytest.raises(InvalidWasm, match="more than its bytes can hold"):
        parse_interface(data)


def test_the_producers_section_names_the_language() -> None:
    interface = parse_interface((MODULES / "fibo" / "fibo.wasm").read_bytes())
    assert ("language", "C99") in interface.producers
