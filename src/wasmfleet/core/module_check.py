"""The module checker: a .wasm (and its description) against what devices offer (pure).

``check_module`` reads the binary (``core.wasm_interface``) and reports ``Finding``s with
stable codes (docs/module-check.md says what each means and how to fix it):

- ``not_wasm``: the bytes are not a WebAssembly core module;
- ``unknown_import``: an import no device offers (with "did you mean" for near misses);
- ``import_signature``: a known host function imported with a signature devices do not offer;
- ``not_offered``: a host function only some devices offer (naming the device option);
- ``no_reactor``: a WASI command (``_start``, no ``_initialize``), with the fix per language;
- ``memory_limit``: the module's initial memory is above the device's memory limit;
- ``missing_export``, ``undescribed_export``, ``param_count``, ``param_type``,
  ``result_type``, ``pointer_result``: the description against the exports
  (``core.function_check``).

How severe an import or memory finding is depends on who asks (``Audience``): a device
(``"device"``: it cannot run the module, every finding is an error), an author
(``"author"``, ``wasmfleet module check``: a typo is an error, a function only some devices
offer a warning) or an orchestrator storing modules for a whole fleet (``"fleet"``: devices
differ, so import and memory findings are warnings; description mismatches stay errors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from wasmfleet.core import host_catalog
from wasmfleet.core.describe import INTERNAL_EXPORTS
from wasmfleet.core.errors import InvalidDocument, InvalidWasm, Unprocessable
from wasmfleet.core.function_check import (
    DescribedFunction,
    Finding,
    Level,
    check_function,
    from_operation,
)
from wasmfleet.core.openapi import description_operations
from wasmfleet.core.wasm_interface import (
    PAGE_BYTES,
    FuncSignature,
    MemoryLimits,
    WasmExport,
    WasmImport,
    WasmInterface,
    parse_interface,
)

__all__ = ["CheckReport", "Finding", "ModuleCheckFailed", "check_interface", "check_module"]

Audience = Literal["device", "author", "fleet"]
DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024
"""A device's default cap on a module's linear memory (``runtime.limits.RuntimeLimits``)."""
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Everything the checker found about one module, and the interface it read."""

    findings: tuple[Finding, ...]
    interface: WasmInterface = field(default_factory=WasmInterface)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that stop the module from working."""
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings worth reading that do not stop it."""
        return tuple(f for f in self.findings if f.level == "warning")

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "findings": [{level, code, message}]}`` for JSON output."""
        return {"ok": self.ok, "findings": [f.to_dict() for f in self.findings]}


class ModuleCheckFailed(Unprocessable):
    """A module or its description does not fit (422); ``findings`` lists every error, the
    code is the first one's."""

    def __init__(self, subject: str, errors: Iterable[Finding]) -> None:
        self.findings = tuple(errors)
        first = self.findings[0] if self.findings else None
        text = " ".join(f.message for f in self.findings)
        super().__init__(
            f"{subject} does not fit: {text}",
            code=first.code if first is not None else None,
        )

    def to_dict(self) -> dict[str, object]:
        """The shared error shape plus every finding."""
        body = super().to_dict()
        error = body["error"]
        assert isinstance(error, dict)
        error["findings"] = [f.to_dict() for f in self.findings]
        return body


def check_module(
    wasm: bytes,
    description: Mapping[str, Any] | None,
    *,
    lacking: frozenset[str] = frozenset(),
    audience: Audience = "author",
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT,
) -> CheckReport:
    """Check a binary and (when given) its OpenAPI description; ``lacking`` names the needs
    (``host_catalog.NEEDS``) the target device does not meet."""
    try:
        interface = parse_interface(wasm)
    except InvalidWasm as err:
        return CheckReport((Finding("error", "not_wasm", err.message),))
    return check_interface(
        interface,
        description,
        lacking=lacking,
        audience=audience,
        memory_limit_bytes=memory_limit_bytes,
    )


def check_interface(
    interface: WasmInterface,
    description: Mapping[str, Any] | None,
    *,
    lacking: frozenset[str] = frozenset(),
    audience: Audience = "author",
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT,
) -> CheckReport:
    """``check_module`` for an interface already read."""
    findings = [
        *check_imports(interface.imports, lacking, audience),
        *check_model(interface),
        *check_memory(interface, memory_limit_bytes, audience),
    ]
    if description is not None:
        findings += check_description(interface.functions, description)
    return CheckReport(tuple(findings), interface)


def check_deployed(
    functions: Mapping[str, FuncSignature],
    memory_pages: int,
    described: Iterable[DescribedFunction],
    memory_limit_bytes: int,
) -> list[Finding]:
    """What a device checks at deploy beside imports: reactor model, memory, and the
    deployment's functions against the exports (``functions``)."""
    interface = WasmInterface(
        exports=tuple(WasmExport(name, "func", sig) for name, sig in functions.items()),
        memories=(MemoryLimits(memory_pages),) if memory_pages else (),
    )
    return [
        *check_model(interface),
        *check_memory(interface, memory_limit_bytes, "device"),
        *check_functions(functions, described),
    ]


def check_imports(
    imports: Iterable[WasmImport], lacking: frozenset[str], audience: Audience = "author"
) -> list[Finding]:
    """Imports against the host catalogue: unknown names, wrong signatures, needs."""
    strict: Level = "warning" if audience == "fleet" else "error"
    found: list[Finding] = []
    needed: dict[str, list[str]] = {}
    for imp in imports:
        if imp.kind != "func":
            found.append(_non_function_import(imp, strict))
            continue
        if imp.module == host_catalog.WASI_MODULE:
            if not host_catalog.is_wasi(imp.module, imp.name):
                found.append(_unknown(imp, strict, "it is not a WASI preview1 function"))
            continue
        entry = host_catalog.find(imp.module, imp.name)
        if entry is None:
            found.append(_unknown(imp, strict, "no device offers it"))
            continue
        if imp.signature not in entry.signatures:
            offered = " or ".join(str(s) for s in entry.signatures)
            found.append(
                Finding(
                    strict,
                    "import_signature",
                    f"The module imports {imp.qualified} as {imp.signature}, but devices offer "
                    f"it as {offered}; declare the import with that signature (the wasmfleet "
                    "guest libraries have it right) and rebuild.",
                )
            )
            continue
        if entry.needs is not None:
            needed.setdefault(entry.needs, []).append(imp.qualified)
    for need, names in needed.items():
        if need in lacking:
            level: Level = strict
        elif audience == "device":
            continue
        else:
            level = "warning"
        found.append(_not_offered(need, names, level, lacked=need in lacking))
    return found


def _non_function_import(imp: WasmImport, level: Level) -> Finding:
    fix = (
        " (clang: drop -Wl,--import-memory; the module must define and export its memory)"
        if imp.kind == "memory"
        else ""
    )
    return Finding(
        level,
        "unknown_import",
        f"The module imports {imp.qualified}, a {imp.kind}; devices provide only functions"
        f"{fix}. Define it inside the module instead and rebuild.",
    )


def _unknown(imp: WasmImport, level: Level, why: str) -> Finding:
    close = host_catalog.suggest(imp.module, imp.name)
    hint = ""
    if close:
        first = host_catalog.find(*close[0].split(".", 1))
        where = f" (offered by {host_catalog.offered_by(first)})" if first is not None else ""
        others = f", or {' or '.join(close[1:])}" if len(close) > 1 else ""
        hint = f" Did you mean {close[0]}{where}{others}?"
    return Finding(
        level,
        "unknown_import",
        f"The module imports {imp.qualified} {imp.signature}, but {why}.{hint} Fix the import's "
        "name in the source (or remove the call) and rebuild; docs/module-check.md lists "
        "the host functions.",
    )


def _not_offered(need: str, names: list[str], level: Level, *, lacked: bool) -> Finding:
    info = host_catalog.NEEDS.get(need)
    by = info.offered_by if info is not None else f"a device with {need}"
    listed = ", ".join(names)
    if lacked:
        lacks = info.lacks if info is not None else f"this device has no {need}"
        text = f"The module imports {listed}, but {lacks}. Deploy it to {by}."
    else:
        text = f"The module imports {listed}, which only {by} offers; deploy it to such a device."
    return Finding(level, "not_offered", text)


def check_model(interface: WasmInterface) -> list[Finding]:
    """A WASI command (``_start`` without ``_initialize``) instead of a reactor."""
    if interface.has_initialize or not interface.has_command_start:
        return []
    return [
        Finding(
            "error",
            "no_reactor",
            "The module is a WASI command (it exports _start, not _initialize): its functions "
            "would run without its constructors, and _start would run main and exit. Build it "
            f"as a reactor: {_reactor_fix(interface)}.",
        )
    ]


_REACTOR_FIXES = {
    "c": "clang: add -mexec-model=reactor and leave out main()",
    "rust": 'Rust: make it a library with crate-type = ["cdylib"] (src/lib.rs, no main) and '
    "build for wasm32-wasip1 (or wasm32-wasi)",
    "assemblyscript": "AssemblyScript: asc ... --exportStart _initialize (not _start)",
}


def _reactor_fix(interface: WasmInterface) -> str:
    language = _language(interface)
    if language is not None:
        return _REACTOR_FIXES[language]
    return "; ".join(_REACTOR_FIXES.values())


def _language(interface: WasmInterface) -> str | None:
    """ "c", "rust" or "assemblyscript" when the producers section tells, else None."""
    text = " ".join(value.lower() for _, value in interface.producers)
    if "rust" in text:
        return "rust"
    if "assemblyscript" in text:
        return "assemblyscript"
    if "clang" in text or any(value.upper().startswith("C") for _, value in interface.producers):
        return "c"
    return None


def check_memory(
    interface: WasmInterface, limit_bytes: int, audience: Audience = "author"
) -> list[Finding]:
    """The module's initial memory against the device's memory limit."""
    memory = interface.memory
    if memory is None or memory.minimum_bytes <= limit_bytes:
        return []
    size = memory.minimum_bytes / MiB
    limit = limit_bytes / MiB
    pages = max(1, limit_bytes // PAGE_BYTES)
    level: Level = "warning" if audience == "fleet" else "error"
    whose = "the default device limit" if audience != "device" else "this device's limit"
    return [
        Finding(
            level,
            "memory_limit",
            f"The module's memory starts at {memory.minimum} pages ({size:.1f} MiB), above "
            f"{whose} of {limit:.0f} MiB, so it cannot be instantiated. Make its initial "
            f"memory at most {pages} pages (clang: -Wl,--initial-memory=BYTES and smaller "
            "static arrays; Rust: -C link-arg=--initial-memory=BYTES; AssemblyScript: "
            "--initialMemory PAGES), or start the supervisor with a larger --memory-limit.",
        )
    ]


def check_description(
    functions: Mapping[str, FuncSignature], description: Mapping[str, Any]
) -> list[Finding]:
    """An OpenAPI description against the module's exported functions."""
    if not isinstance(description, Mapping):
        raise InvalidDocument("A module description must be a JSON object (OpenAPI 3).")
    described = [
        from_operation(name, op) for name, (_, op) in description_operations(description).items()
    ]
    return check_functions(functions, described, undescribed=True)


def check_functions(
    functions: Mapping[str, FuncSignature],
    described: Iterable[DescribedFunction],
    *,
    undescribed: bool = False,
) -> list[Finding]:
    """Described functions against the exports; with ``undescribed``, also a warning for
    each callable export the description leaves out."""
    found: list[Finding] = []
    names: set[str] = set()
    for fn in described:
        names.add(fn.name)
        found += check_function(fn, functions)
    if undescribed:
        for name in sorted(functions):
            if name in names or name in INTERNAL_EXPORTS or name.startswith("_"):
                continue
            found.append(
                Finding(
                    "warning",
                    "undescribed_export",
                    f"The module exports {name}, which its description does not describe, so "
                    "it cannot be called over HTTP; describe it, or stop exporting it if it "
                    "is internal.",
                )
            )
    return found
