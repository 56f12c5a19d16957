"""C modules: Debian's clang for wasm32-wasi, a reactor, the guest headers on the include path.

Flags are modules/build.sh's (``wasmfleet.ml.compile.CFLAGS``: ``-mexec-model=reactor -O2``,
debug info stripped, stack first) plus ``-I`` the installed guest headers
(``guest_paths.guest_path("c")``), the folder's ``src/`` and ``include/``, and the
``[c] cflags`` of wasmfleet.toml. Every ``*.c`` under ``src/`` (else in the folder itself) is
compiled, from inside the folder with relative names so no build path ends up in the binary.
When clang fails, ``hint`` turns what it said into one sentence: a missing reactor model
(``undefined symbol: main``), a misspelt or missing header, an undefined function, a missing
Debian package.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from wasmfleet.authoring.guest_paths import existing_guest_path
from wasmfleet.authoring.project import PROJECT_FILE, read_project
from wasmfleet.core.errors import BuildFailed

LANGUAGE = "c"
SOURCE_SUFFIXES = (".c", ".h")
CLANG = "clang"
TIMEOUT_S = 300
MAX_SOURCES = 500
OUTPUT_LINES = 30
"""Lines of clang's output kept in an error (its last ones)."""

_MISSING_HEADER = re.compile(r"fatal error: '([^']+)' file not found")
_UNDEFINED = re.compile(r"undefined symbol: (\S+)")
_NO_MAIN = {"main", "__main_argc_argv", "__original_main", "__main_void"}
_LIBC_HEADERS = {"stdio.h", "stdlib.h", "string.h", "stdint.h", "math.h", "stddef.h", "errno.h"}


def _debian() -> str:
    from wasmfleet.ml.compile import DEBIAN_PACKAGES

    return DEBIAN_PACKAGES


def missing_tools() -> list[str]:
    """What to install to build C modules ([] when clang, wasm-ld and wasi-libc are there)."""
    from wasmfleet.ml.compile import check_toolchain
    from wasmfleet.ml.errors import ToolchainMissing

    try:
        check_toolchain(CLANG)
    except ToolchainMissing as err:
        return [f"{err.message} (sudo apt-get install {_debian()} installs all of it)."]
    return []


def sources(folder: Path) -> list[Path]:
    """The C files to compile, relative to ``folder``: ``src/**/*.c``, else ``*.c``."""
    src = folder / "src"
    found = sorted(src.rglob("*.c")) if src.is_dir() else sorted(folder.glob("*.c"))
    files = [p.relative_to(folder) for p in found if p.is_file()]
    if len(files) > MAX_SOURCES:
        raise BuildFailed(f"{folder} has {len(files)} C files; at most {MAX_SOURCES} are built.")
    return files


def command(folder: Path, out: Path, files: list[Path]) -> list[str]:
    """The clang command line that builds ``files`` (relative to ``folder``) into ``out``."""
    from wasmfleet.ml.compile import CFLAGS, LIBS

    includes = ["-I", str(existing_guest_path("c"))]
    for extra in ("src", "include"):
        if (folder / extra).is_dir():
            includes += ["-I", extra]
    cflags = read_project(folder).options.get("cflags", []) if _has_project(folder) else []
    if not isinstance(cflags, list) or not all(isinstance(f, str) for f in cflags):
        raise BuildFailed(f'[c] cflags in {PROJECT_FILE} must be a list of strings like ["-DX"].')
    return [CLANG, *CFLAGS, *includes, *cflags, *map(str, files), *LIBS, "-o", str(out)]


def _has_project(folder: Path) -> bool:
    return (folder / PROJECT_FILE).is_file()


def build(folder: Path, name: str, out: Path, *, log: Callable[[str], None]) -> None:
    """Compile the C module in ``folder`` to ``out`` (a wasm32-wasi reactor); BuildFailed
    carries clang's own output and a hint."""
    missing = missing_tools()
    if missing:
        raise BuildFailed(" ".join(missing))
    files = sources(folder)
    if not files:
        raise BuildFailed(
            f"{folder} has no .c file to build: put the module's source in src/{name}.c "
            "(`wasmfleet new NAME --lang c` writes one)."
        )
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    argv = command(folder, tmp, files)
    log(f"clang {len(files)} file(s): {', '.join(map(str, files))}")
    try:
        done = subprocess.run(
            argv, cwd=folder, capture_output=True, text=True, check=False, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise BuildFailed(f"clang ran longer than {TIMEOUT_S} s on {folder}; stopped.") from None
    output = (done.stderr + done.stdout).strip()
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        tail = "\n".join(output.splitlines()[-OUTPUT_LINES:])
        sentence = hint(output, folder)
        raise BuildFailed(
            f"clang could not build {name} (exit {done.returncode}):\n{tail}"
            + (f"\nhint: {sentence}" if sentence else "")
        )
    for line in output.splitlines()[:OUTPUT_LINES]:
        log(line)  # warnings
    os.replace(tmp, out)


def hint(output: str, folder: Path | None = None) -> str | None:
    """One sentence on what to do about clang's (or wasm-ld's) ``output``, or None."""
    if "wasm-ld" in output and "unable to execute" in output:
        return "wasm-ld (the WebAssembly linker) is missing: sudo apt-get install lld."
    if "libclang_rt.builtins-wasm32" in output:
        return "compiler-rt for wasm32 is missing: sudo apt-get install libclang-rt-dev-wasm32."
    if "crt1" in output and "cannot open" in output:
        return "wasi-libc is missing: sudo apt-get install wasi-libc."
    symbols = _UNDEFINED.findall(output)
    if any(s in _NO_MAIN for s in symbols):
        return (
            "the module has no main(), so it must be built as a reactor: pass "
            "-mexec-model=reactor to clang (wasmfleet build does; check [c] cflags in "
            "wasmfleet.toml), and the host calls _initialize, then your exported functions."
        )
    if symbols:
        return (
            f"{symbols[0]} is declared but defined nowhere: define it, or if it is a host "
            "function, declare it as an import (WASMIOT_IMPORT(module, name); wasmiot.h and "
            "wasmfleet.h declare every host function devices offer)."
        )
    headers = _MISSING_HEADER.findall(output)
    if headers:
        return _header_hint(headers[0], folder)
    return None


def _header_hint(header: str, folder: Path | None) -> str:
    if header in _LIBC_HEADERS:
        return f"{header} comes with wasi-libc, which is missing: sudo apt-get install wasi-libc."
    try:
        guest = existing_guest_path("c")
    except FileNotFoundError:
        return f"{header} is not found and this wasmfleet install has no C guest headers."
    ours = sorted(p.name for p in guest.glob("*.h"))
    local = sorted(p.name for p in (folder / "src").glob("*.h")) if folder else []
    close = difflib.get_close_matches(Path(header).name, [*ours, *local], n=1, cutoff=0.6)
    meant = f"did you mean {close[0]}? " if close else ""
    return (
        f"{meant}{header} is neither a wasmfleet guest header ({', '.join(ours)}, in {guest}) "
        "nor in the module's src/."
    )
