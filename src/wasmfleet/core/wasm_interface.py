"""What a WebAssembly binary imports and exports, read from its sections without wasmtime.

``parse_interface`` reads the type, import, function, memory, export and start sections of
a core module (the binary format of WebAssembly 1.0 and its later value types) into a
``WasmInterface``: every import with its module, name, kind and (for functions) signature,
every export with its kind and signature, the memories' limits in 64 KiB pages, and whether
a start function runs at instantiation. It validates only what it reads: code bodies are not
looked at (wasmtime validates them when a device compiles the module). Every count is checked
against the bytes that are left before a loop runs, so no input can make it loop for long;
broken input raises ``InvalidWasm`` with a sentence saying what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wasmfleet.core.errors import InvalidWasm
from wasmfleet.core.wasm_sections import CUSTOM_SECTION, START_SECTION, custom_name, sections

PAGE_BYTES = 64 * 1024
"""One page of Wasm linear memory."""
TYPE_SECTION, IMPORT_SECTION, FUNCTION_SECTION, MEMORY_SECTION, EXPORT_SECTION = 1, 2, 3, 5, 7
_VERSION_1 = b"\x01\x00\x00\x00"
_VALTYPES = {
    0x7F: "i32",
    0x7E: "i64",
    0x7D: "f32",
    0x7C: "f64",
    0x7B: "v128",
    0x70: "funcref",
    0x6F: "externref",
}
_KINDS = ("func", "table", "memory", "global", "tag")
Kind = Literal["func", "table", "memory", "global", "tag"]


@dataclass(frozen=True, slots=True)
class FuncSignature:
    """Parameter and result types of a function, as Wasm type names."""

    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True, slots=True)
class WasmImport:
    """One import: ``module.name``, its kind and, for a function, its signature."""

    module: str
    name: str
    kind: str
    signature: FuncSignature | None = None

    @property
    def qualified(self) -> str:
        """``module.name``."""
        return f"{self.module}.{self.name}"


@dataclass(frozen=True, slots=True)
class WasmExport:
    """One export: its name, kind and, for a function, its signature."""

    name: str
    kind: str
    signature: FuncSignature | None = None


@dataclass(frozen=True, slots=True)
class MemoryLimits:
    """A linear memory's size limits in 64 KiB pages (``maximum`` None: unbounded)."""

    minimum: int
    maximum: int | None = None
    imported: bool = False
    memory64: bool = False
    shared: bool = False

    @property
    def minimum_bytes(self) -> int:
        """The memory's initial size in bytes."""
        return self.minimum * PAGE_BYTES


@dataclass(frozen=True, slots=True)
class WasmInterface:
    """A module's imports, exports and memories, as ``parse_interface`` reads them."""

    imports: tuple[WasmImport, ...] = ()
    exports: tuple[WasmExport, ...] = ()
    memories: tuple[MemoryLimits, ...] = ()
    has_start: bool = False
    """A start section: instantiating the module runs one of its functions."""
    custom_sections: tuple[str, ...] = ()
    producers: tuple[tuple[str, str], ...] = ()
    """(field, tool or language) pairs of the ``producers`` section: ("language", "Rust"),
    ("processed-by", "clang"), ...; empty when the binary has none."""

    @property
    def functions(self) -> dict[str, FuncSignature]:
        """Exported functions by name."""
        return {e.name: e.signature for e in self.exports if e.signature is not None}

    def exports_function(self, name: str) -> bool:
        """Whether a function of that name is exported."""
        return any(e.name == name and e.kind == "func" for e in self.exports)

    @property
    def exports_memory(self) -> bool:
        """Whether a memory named ``memory`` is exported (host functions need it)."""
        return any(e.name == "memory" and e.kind == "memory" for e in self.exports)

    @property
    def has_initialize(self) -> bool:
        """Whether ``_initialize`` (the WASI reactor's constructor) is exported."""
        return self.exports_function("_initialize")

    @property
    def has_command_start(self) -> bool:
        """Whether ``_start`` (a WASI command's main) is exported."""
        return self.exports_function("_start")

    @property
    def has_alloc(self) -> bool:
        """Whether ``alloc`` is exported (the bytes ABI and host functions call it)."""
        return self.exports_function("alloc")

    @property
    def memory(self) -> MemoryLimits | None:
        """The module's first memory (defined or imported), None when it has none."""
        return self.memories[0] if self.memories else None


class _Reader:
    """A cursor over one section's payload; every read is bounded by the section's end."""

    def __init__(self, data: bytes, pos: int, end: int, where: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.where = where

    def fail(self, what: str) -> InvalidWasm:
        return InvalidWasm(
            f"The module's {self.where} section is malformed: {what} (at byte {self.pos}); "
            "rebuild the .wasm file, it may be truncated or not produced by a Wasm toolchain."
        )

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("it ends early")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uleb(self, bits: int = 32) -> int:
        value = 0
        for shift in range(0, bits + 7, 7):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if value >= 1 << bits:
                    raise self.fail(f"a number is larger than {bits} bits")
                return value
        raise self.fail("a LEB128 number is too long")

    def count(self, smallest: int) -> int:
        """A vector length, refused when its items (``smallest`` bytes each) cannot fit."""
        n = self.uleb()
        if n * smallest > self.end - self.pos:
            raise self.fail(f"it announces {n} entries, more than its bytes can hold")
        return n

    def name(self) -> str:
        length = self.uleb()
        if length > self.end - self.pos:
            raise self.fail("a name runs past the section")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("a name is not UTF-8") from None

    def valtype(self) -> str:
        code = self.byte()
        found = _VALTYPES.get(code)
        if found is None:
            raise InvalidWasm(
                f"The module uses a value type (0x{code:02x}) this platform does not run "
                f"(in its {self.where} section); build it for wasm32-wasi with the default "
                "features (no GC or typed function references)."
            )
        return found

    def limits(self) -> tuple[int, int | None, bool, bool]:
        flags = self.byte()
        if flags > 0x07:
            raise self.fail(f"unknown limits flags 0x{flags:02x}")
        bits = 64 if flags & 0x04 else 32
        minimum = self.uleb(bits)
        maximum = self.uleb(bits) if flags & 0x01 else None
        return minimum, maximum, bool(flags & 0x02), bool(flags & 0x04)

    def done(self) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} byte(s) are left over")


def parse_interface(data: bytes) -> WasmInterface:
    """The imports, exports and memories of the core module ``data``; InvalidWasm naming
    the problem when it is not one."""
    if data[:4] != b"\0asm":
        raise InvalidWasm(
            "This is not a WebAssembly binary (it does not start with \\0asm); check that the "
            "file is the .wasm your compiler wrote, not the source or a text (.wat) file."
        )
    if len(data) < 8:
        raise InvalidWasm("The WebAssembly binary is truncated: it ends inside its header.")
    if data[4:8] != _VERSION_1:
        kind = "a WebAssembly component" if data[6:8] == b"\x01\x00" else "an unknown version"
        raise InvalidWasm(
            f"The binary is {kind} (version bytes {data[4:8].hex()}), not a core module of "
            "version 1; build a core module for wasm32-wasi (preview1), not a component."
        )
    try:
        found = sections(data)
    except ValueError as err:
        raise InvalidWasm(
            f"The WebAssembly binary is truncated or corrupt: {err}; rebuild or download it again."
        ) from None
    types: list[FuncSignature] = []
    imports: list[WasmImport] = []
    imported_funcs: list[FuncSignature] = []
    defined_funcs: list[int] = []
    memories: list[MemoryLimits] = []
    raw_exports: list[tuple[str, int, int]] = []
    customs: list[str] = []
    has_start = False
    producers: tuple[tuple[str, str], ...] = ()
    for section in found:
        sid = section.id
        if sid == CUSTOM_SECTION:
            try:
                name, start = custom_name(data, section)
            except ValueError as err:
                raise InvalidWasm(f"A custom section of the module is malformed: {err}.") from None
            customs.append(name)
            if name == "producers":
                producers = _producers(_Reader(data, start, section.end, "producers"))
            continue
        if sid == START_SECTION:
            has_start = True
            continue
        reader = _Reader(data, section.payload, section.end, _SECTION_NAMES.get(sid, str(sid)))
        if sid == TYPE_SECTION:
            types = _types(reader)
        elif sid == IMPORT_SECTION:
            imports, memories = _imports(reader, types, imported_funcs)
        elif sid == FUNCTION_SECTION:
            defined_funcs = [reader.uleb() for _ in range(reader.count(1))]
            reader.done()
        elif sid == MEMORY_SECTION:
            for _ in range(reader.count(2)):
                minimum, maximum, shared, wide = reader.limits()
                memories.append(MemoryLimits(minimum, maximum, False, wide, shared))
            reader.done()
        elif sid == EXPORT_SECTION:
            for _ in range(reader.count(3)):
                export_name = reader.name()
                export_kind = reader.byte()
                raw_exports.append((export_name, export_kind, reader.uleb()))
            reader.done()
    exports = _exports(raw_exports, types, imported_funcs, defined_funcs)
    return WasmInterface(
        imports=tuple(imports),
        exports=exports,
        memories=tuple(memories),
        has_start=has_start,
        custom_sections=tuple(customs),
        producers=producers,
    )


_SECTION_NAMES = {
    TYPE_SECTION: "type",
    IMPORT_SECTION: "import",
    FUNCTION_SECTION: "function",
    4: "table",
    MEMORY_SECTION: "memory",
    6: "global",
    EXPORT_SECTION: "export",
    9: "element",
    10: "code",
    11: "data",
    12: "data count",
    13: "tag",
}


def _producers(reader: _Reader) -> tuple[tuple[str, str], ...]:
    """The producers section's (field, name) pairs; () when it is malformed (it is only
    informative: the checker uses it to word its advice for the module's language)."""
    pairs: list[tuple[str, str]] = []
    try:
        for _ in range(reader.count(2)):
            field = reader.name()
            for _ in range(reader.count(2)):
                pairs.append((field, reader.name()))
                reader.name()  # the version
    except InvalidWasm:
        return ()
    return tuple(pairs)


def _types(reader: _Reader) -> list[FuncSignature]:
    types: list[FuncSignature] = []
    for _ in range(reader.count(3)):
        form = reader.byte()
        if form != 0x60:
            raise InvalidWasm(
                f"The module's type section holds a type of form 0x{form:02x}, not a function "
                "type; build it for wasm32-wasi with the default features (no GC types)."
            )
        params = tuple(reader.valtype() for _ in range(reader.count(1)))
        results = tuple(reader.valtype() for _ in range(reader.count(1)))
        types.append(FuncSignature(params, results))
    reader.done()
    return types


def _imports(
    reader: _Reader, types: list[FuncSignature], funcs: list[FuncSignature]
) -> tuple[list[WasmImport], list[MemoryLimits]]:
    imports: list[WasmImport] = []
    memories: list[MemoryLimits] = []
    for _ in range(reader.count(4)):
        module = reader.name()
        name = reader.name()
        kind = reader.byte()
        if kind == 0:
            sig = _type_at(reader, types, reader.uleb())
            funcs.append(sig)
            imports.append(WasmImport(module, name, "func", sig))
            continue
        if kind == 1:
            reader.byte()  # the table's element type
            reader.limits()
        elif kind == 2:
            minimum, maximum, shared, wide = reader.limits()
            memories.append(MemoryLimits(minimum, maximum, True, wide, shared))
        elif kind == 3:
            reader.valtype()
            reader.byte()  # mutability
        elif kind == 4:
            reader.byte()  # the tag's attribute
            _type_at(reader, types, reader.uleb())
        else:
            raise reader.fail(f"import {module}.{name} has an unknown kind {kind}")
        imports.append(WasmImport(module, name, _KINDS[kind]))
    reader.done()
    return imports, memories


def _type_at(reader: _Reader, types: list[FuncSignature], index: int) -> FuncSignature:
    if index >= len(types):
        raise reader.fail(f"type index {index} is past the {len(types)} types declared")
    return types[index]


def _exports(
    raw: list[tuple[str, int, int]],
    types: list[FuncSignature],
    imported: list[FuncSignature],
    defined: list[int],
) -> tuple[WasmExport, ...]:
    out: list[WasmExport] = []
    for name, kind, index in raw:
        if kind >= len(_KINDS):
            raise InvalidWasm(f"The module's export {name!r} has an unknown kind {kind}.")
        if kind != 0:
            out.append(WasmExport(name, _KINDS[kind]))
            continue
        if index < len(imported):
            sig = imported[index]
        elif index - len(imported) < len(defined):
            type_index = defined[index - len(imported)]
            if type_index >= len(types):
                raise InvalidWasm(
                    f"The module's function {index} has type {type_index}, past the "
                    f"{len(types)} types declared; the binary is corrupt."
                )
            sig = types[type_index]
        else:
            raise InvalidWasm(
                f"The module exports {name!r} as function {index}, which it does not have; "
                "the binary is corrupt."
            )
        out.append(WasmExport(name, "func", sig))
    return tuple(out)
