"""Compiling a generated C file to a wasm32-wasi reactor, the way modules/build.sh does.

The flags are build.sh's (a unit test keeps them in step) minus its ``-I modules/include``:
generated files include nothing outside libc. ``-lm`` is added for the math some models
use (wasi-libc keeps it in libc, so the binary is the same as build.sh's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from wasmfleet.ml.errors import CompileFailed, ToolchainMissing

DEBIAN_PACKAGES = "clang lld wasi-libc libclang-rt-dev-wasm32"
CFLAGS = (
    "--target=wasm32-wasi",
    "-mexec-model=reactor",
    "-O2",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Wl,--strip-debug",
    "-Wl,--stack-first",
    "-Wl,-z,stack-size=65536",
)
LIBS = ("-lm",)
TIMEOUT_S = 600


def _probe(clang: str, flag: str) -> str:
    """What ``clang --target=wasm32-wasi FLAG`` prints ('' when it fails)."""
    try:
        done = subprocess.run(
            [clang, "--target=wasm32-wasi", flag],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def check_toolchain(clang: str = "clang") -> str:
    """The clang binary's path; ToolchainMissing names the Debian package to install."""
    found = shutil.which(clang)
    if found is None:
        raise ToolchainMissing(
            f"'{clang}' not found. Install Debian's wasm toolchain: "
            f"apt-get install {DEBIAN_PACKAGES}"
        )
    if shutil.which("wasm-ld") is None:
        raise ToolchainMissing(
            "wasm-ld (the WebAssembly linker) not found. Install: apt-get install lld"
        )
    libc = _probe(found, "-print-file-name=libc.a")
    if not (libc.startswith("/") and Path(libc).is_file()):
        raise ToolchainMissing(
            "wasi-libc for wasm32-wasi not found (no libc.a in the sysroot). "
            "Install: apt-get install wasi-libc"
        )
    builtins = _probe(found, "-print-libgcc-file-name")
    if not (builtins and Path(builtins).is_file()):
        raise ToolchainMissing(
            f"compiler-rt builtins for wasm32 not found ({builtins or '?'}). "
            "Install: apt-get install libclang-rt-dev-wasm32"
        )
    return found


def compile_module(source: Path, output: Path, clang: str = "clang") -> str:
    """Compile ``source`` to ``output`` (written atomically); clang's warnings, if any.

    Runs in the source's directory with a relative file name, as build.sh does, so no
    absolute path ends up in the binary and both give the same bytes.
    """
    binary = check_toolchain(clang)
    output = output.resolve()
    tmp = output.with_name(output.name + f".tmp{os.getpid()}")
    try:
        done = subprocess.run(
            [binary, *CFLAGS, source.name, *LIBS, "-o", str(tmp)],
            cwd=source.resolve().parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise CompileFailed(
            f"clang took longer than {TIMEOUT_S} s on {source}; a smaller model "
            "(fewer or shallower trees) compiles faster."
        ) from None
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        detail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise CompileFailed(
            f"clang could not compile {source} (exit {done.returncode}); this is a bug in "
            f"the generated code, please report it with the model type:\n{detail}"
        )
    os.replace(tmp, output)
    return done.stderr.strip()
