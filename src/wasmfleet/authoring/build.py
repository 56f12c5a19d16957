"""``wasmfleet build``: a module folder to ``build/NAME.wasm`` and ``build/description.json``.

1. ``wasmfleet.toml`` says the language; its toolchain module
   (``authoring/toolchain_<c|rust|as>.py``, imported only now) says what is missing to
   build it and compiles it.
2. The ``@wasmfleet`` declarations in the sources (``core.source_decl``) are read before
   compiling, so a mistake in them costs no compile; they become ``description.json``
   (``core.describe_gen``). A hand-written ``description.json`` in the folder wins: it is
   copied, with a note.
3. The checker (``core.module_check``), when this install has it, compares the binary with the
   description; its findings are printed, and errors make the build fail after writing both
   files (the module would be refused at deploy).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from wasmfleet.authoring.project import Project, read_project
from wasmfleet.core.describe_gen import describe_declarations
from wasmfleet.core.errors import BuildFailed
from wasmfleet.core.source_decl import ModuleDecl, parse_sources

TOOLCHAINS = {"c": "toolchain_c", "rust": "toolchain_rust", "assemblyscript": "toolchain_as"}
"""Language -> its toolchain module in ``wasmfleet.authoring``."""
SKIPPED_FOLDERS = frozenset({"build", "target", "node_modules", "tests"})
"""Folders whose files are never read for declarations (outputs, dependencies, tests)."""
MAX_SOURCE_FILES = 2000
MAX_SOURCE_BYTES = 8 * 1024 * 1024
DESCRIPTION = "description.json"
CHECKER = "wasmfleet.core.module_check"

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What a build wrote and what the checker found."""

    name: str
    wasm: Path
    description: Path
    functions: tuple[str, ...]
    notes: tuple[str, ...] = ()
    findings: tuple[Any, ...] = ()
    """The checker's findings (``.level``, ``.code``, ``.message``); () when not checked."""
    checked: bool = False

    @property
    def ok(self) -> bool:
        """True when the checker found no error (or did not run)."""
        return not any(getattr(f, "level", "") == "error" for f in self.findings)


def load_toolchain(language: str) -> ModuleType:
    """The toolchain module of ``language``; BuildFailed when this install lacks it."""
    module = f"wasmfleet.authoring.{TOOLCHAINS[language]}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module:
            raise
        raise BuildFailed(
            f"the {language} toolchain module is not installed ({module}); update wasmfleet "
            "to a version that builds this language."
        ) from None


def source_texts(folder: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    """Every source file of the module (relative name -> text), in name order; outputs,
    dependencies, tests and hidden folders are not read."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith("."))
        found += [Path(root, f) for f in files if Path(f).suffix in suffixes]
        if len(found) > MAX_SOURCE_FILES:
            raise BuildFailed(f"{folder} has over {MAX_SOURCE_FILES} source files; not read.")
    texts: dict[str, str] = {}
    total = 0
    for path in sorted(found):
        text = path.read_text(encoding="utf-8", errors="replace")
        total += len(text)
        if total > MAX_SOURCE_BYTES:
            raise BuildFailed(f"the sources in {folder} pass {MAX_SOURCE_BYTES} bytes; not read.")
        texts[path.relative_to(folder).as_posix()] = text
    return texts


def build_folder(folder: Path, out_dir: Path | None = None, *, log: Log = print) -> BuildResult:
    """Build the module in ``folder`` into ``out_dir`` (default ``folder/build``)."""
    folder = folder.resolve()
    project = read_project(folder)
    toolchain = load_toolchain(project.language)
    missing = toolchain.missing_tools()
    if missing:
        raise BuildFailed(f"cannot build {project.language} here: " + " ".join(missing))
    out_dir = (out_dir or folder / "build").resolve()
    hand_written = folder / DESCRIPTION
    texts = source_texts(folder, tuple(toolchain.SOURCE_SUFFIXES))
    declared = parse_sources(texts)
    notes: list[str] = []
    if not hand_written.is_file() and not declared.functions:
        raise BuildFailed(
            f"no function is declared in the sources of {project.name} "
            f"({', '.join(texts) or 'none found'}): write '// @wasmfleet function NAME' above "
            f"each exported function (docs/declarations.md), or put a hand-written "
            f"{DESCRIPTION} in {folder}."
        )
    name, version = _identity(project, declared, notes)
    wasm = out_dir / f"{name}.wasm"
    log(f"building {name} {version} ({project.language}) from {folder}")
    toolchain.build(folder, name, wasm, log=log)
    log(f"wrote {wasm} ({wasm.stat().st_size} bytes)")
    description = out_dir / DESCRIPTION
    if hand_written.is_file():
        doc = _hand_written(hand_written, description, declared, notes)
    else:
        doc = describe_declarations(declared, name, version)
        _write_json(description, doc)
    functions = tuple(_function_names(doc))
    log(f"wrote {description} ({len(functions)} function(s): {', '.join(functions)})")
    for note in notes:
        log(f"note: {note}")
    findings, checked = check(wasm, doc, log)
    return BuildResult(name, wasm, description, functions, tuple(notes), findings, checked)


def _identity(project: Project, declared: ModuleDecl, notes: list[str]) -> tuple[str, str]:
    name, version = declared.name or project.name, declared.version or project.version
    if declared.name and declared.name != project.name:
        notes.append(
            f"the sources declare module {declared.name}, wasmfleet.toml says {project.name}: "
            f"building {declared.name}."
        )
    return name, version


def _hand_written(
    source: Path, target: Path, declared: ModuleDecl, notes: list[str]
) -> dict[str, Any]:
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BuildFailed(f"{source} is not valid JSON: {err}.") from None
    if not isinstance(doc, dict):
        raise BuildFailed(f"{source} must hold a JSON object (an OpenAPI description).")
    shutil.copyfile(source, target)
    ignored = " (the @wasmfleet declarations are not used)" if declared.functions else ""
    notes.append(f"copied the hand-written {source.name}{ignored}; delete it to generate one.")
    return doc


def _function_names(doc: dict[str, Any]) -> list[str]:
    from wasmfleet.core.openapi import description_operations

    return list(description_operations(doc))


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def check(wasm: Path, description: dict[str, Any], log: Log) -> tuple[tuple[Any, ...], bool]:
    """The checker's findings on the pair, printed; ((), False) when this install has none."""
    try:
        checker = importlib.import_module(CHECKER)
    except ModuleNotFoundError as err:
        if err.name != CHECKER:
            raise
        return (), False
    report = checker.check_module(wasm.read_bytes(), description)
    findings = tuple(report.findings)
    for finding in findings:
        log(f"{finding.level}: {finding.message} [{finding.code}]")
    errors = sum(1 for f in findings if f.level == "error")
    warnings = len(findings) - errors
    log(f"checked: {errors} error(s), {warnings} warning(s)" if findings else "checked: ok")
    return findings, True
