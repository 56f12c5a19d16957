"""Building a Rust module: Debian's ``rustc`` for ``wasm32-wasi``, the guest crate by path.

A Rust module is one crate (``src/lib.rs``, a ``cdylib``) whose only dependency is the
guest crate ``wasmfleet`` shipped in this package (``guest/rust/wasmfleet``). ``build``
compiles both with ``rustc`` directly, no Cargo and no network: first the crate into an rlib,
cached in the folder's ``target/wasmfleet-guest/`` (Cargo's folder for intermediates) and
keyed by the compiler and the crate's sources, then the module against it (``--extern
wasmfleet=...``), size-optimised and stripped. The module exports ``_initialize`` (the crate
provides it) and ``memory``, like a C reactor.

The compiler is the first ``rustc`` whose sysroot has the ``wasm32-wasi`` standard library
(``lib/rustlib/wasm32-wasi``; ``wasm32-wasip1`` for Rust 1.78 and later): Debian's
``/usr/bin/rustc`` (packages ``rustc libstd-rust-dev-wasm32``) first, because a rustup
``rustc`` earlier on PATH usually lacks the target; then ``rustc`` on PATH.

For authors who prefer Cargo, ``build`` also keeps ``.cargo/config.toml`` in the module
folder (while it carries the marker line it wrote): it points Cargo at that compiler and
target and patches the ``wasmfleet`` dependency to the shipped crate, offline, so
``cargo build --release`` works there too (docs/guest-rust.md).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wasmfleet
from wasmfleet.core.errors import BuildFailed

LANGUAGE = "rust"
SOURCE_SUFFIXES: tuple[str, ...] = (".rs",)
DEBIAN_PACKAGES = "rustc libstd-rust-dev-wasm32"
TARGETS = ("wasm32-wasi", "wasm32-wasip1")
"""The WASI preview1 target's names: Rust 1.63 (Debian bookworm) has the first; Rust 1.78
added the second and 1.84 dropped the first."""
DEBIAN_RUSTC = Path("/usr/bin/rustc")
TIMEOUT = 600.0
"""Seconds one rustc run may take before the build fails."""
MAX_OUTPUT = 12_000
"""At most this many characters of the compiler's output go into a BuildFailed."""
CARGO_MARKER = "# Written by `wasmfleet build`"
EDITIONS = ("2015", "2018", "2021")
COMPILE_FLAGS = ("-C", "opt-level=s", "-C", "codegen-units=1", "-C", "panic=abort")


@dataclass(frozen=True, slots=True)
class Rustc:
    """A rustc that can build for WASI: its path, version line and target name."""

    path: str
    version: str
    target: str


def crate_dir() -> Path:
    """The guest crate ``wasmfleet`` shipped in this package (its Cargo.toml is here)."""
    return Path(wasmfleet.__file__).resolve().parent / "guest" / "rust" / "wasmfleet"


def _candidates() -> list[str]:
    found = [str(DEBIAN_RUSTC)] if DEBIAN_RUSTC.is_file() else []
    on_path = shutil.which("rustc")
    if on_path and Path(on_path).resolve() != DEBIAN_RUSTC.resolve():
        found.append(on_path)
    return found


def _ask(rustc: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            [rustc, *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _wasi_target(sysroot: Path) -> str | None:
    for target in TARGETS:
        lib = sysroot / "lib" / "rustlib" / target / "lib"
        if lib.is_dir() and any(lib.glob("libstd-*.rlib")):
            return target
    return None


def find_rustc() -> Rustc | None:
    """The rustc to build with (Debian's first), or None when none has a WASI target."""
    for path in _candidates():
        sysroot = _ask(path, "--print", "sysroot")
        version = _ask(path, "--version")
        if not sysroot or not version:
            continue
        target = _wasi_target(Path(sysroot))
        if target is not None:
            return Rustc(path=path, version=version, target=target)
    return None


def missing_tools() -> list[str]:
    """What to install to build Rust modules; [] when ready."""
    if find_rustc() is not None:
        if crate_dir().joinpath("src", "lib.rs").is_file():
            return []
        return [f"This wasmfleet install lacks its Rust guest crate ({crate_dir()}): reinstall it."]
    tried = ", ".join(_candidates()) or "none found"
    return [
        f"No rustc with the wasm32-wasi standard library (tried: {tried}): install Debian's "
        f"with `sudo apt-get install {DEBIAN_PACKAGES}` (or `rustup target add wasm32-wasip1`)."
    ]


def edition_of(folder: Path) -> str:
    """The Rust edition of the module in ``folder`` (its Cargo.toml; default 2021)."""
    cargo = folder / "Cargo.toml"
    if not cargo.is_file():
        return "2021"
    try:
        manifest = tomllib.loads(cargo.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise BuildFailed(f"{cargo} is not valid TOML ({err}): fix it or remove it.") from None
    edition = str(manifest.get("package", {}).get("edition", "2021"))
    if edition not in EDITIONS:
        raise BuildFailed(
            f"{cargo} asks for Rust edition {edition}; Debian's rustc 1.63 knows "
            f"{', '.join(EDITIONS)}: use one of them."
        )
    return edition


def _run(command: list[str], what: str, log: Callable[[str], None]) -> None:
    log(" ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"rustc took over {TIMEOUT:.0f} s to compile {what}.") from None
    except OSError as err:
        raise BuildFailed(f"Could not run {command[0]}: {err}.") from None
    output = (done.stderr + done.stdout).strip()
    if done.returncode != 0:
        if len(output) > MAX_OUTPUT:
            output = "...\n" + output[-MAX_OUTPUT:]
        raise BuildFailed(f"rustc could not compile {what}:\n{output}\n{_hint(output)}")
    if output:
        log(output)


def _hint(output: str) -> str:
    """One sentence on what to do about a failed compile."""
    if "WASMFLEET_EXPORT_ALLOC" in output:
        return (
            "Add `wasmfleet::export_alloc!();` to src/lib.rs: bytes functions need the "
            "exported alloc."
        )
    if "can't find crate" in output or "target may not be installed" in output:
        return f"The wasm32-wasi standard library is missing: apt-get install {DEBIAN_PACKAGES}."
    if "unresolved import" in output and "wasmfleet" in output:
        return "That name is not in the wasmfleet crate: see docs/guest-rust.md for its API."
    return "Fix what rustc reports above (file:line), then build again."


def _crate_sources() -> list[Path]:
    return [*sorted(crate_dir().rglob("*.rs")), crate_dir() / "Cargo.toml"]


def guest_rlib(rustc: Rustc, cache: Path, log: Callable[[str], None]) -> Path:
    """The guest crate compiled for ``rustc``'s target, cached under ``cache``."""
    digest = hashlib.sha256(f"{rustc.path}\n{rustc.version}\n{rustc.target}\n".encode())
    for source in _crate_sources():
        digest.update(source.relative_to(crate_dir()).as_posix().encode() + b"\0")
        digest.update(source.read_bytes())
    folder = cache / f"wasmfleet-{digest.hexdigest()[:16]}"
    rlib = folder / "libwasmfleet.rlib"
    if rlib.is_file():
        return rlib
    if cache.is_dir():
        for stale in cache.glob("wasmfleet-*"):
            shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        rustc.path, "--edition", "2021", "--crate-type", "rlib", "--crate-name", "wasmfleet",
        "--target", rustc.target, *COMPILE_FLAGS, "-o", str(rlib),
        str(crate_dir() / "src" / "lib.rs"),
    ]  # fmt: skip
    _run(command, "the wasmfleet guest crate", log)
    return rlib


def crate_name(name: str) -> str:
    """``name`` as a Rust crate name (letters, digits, underscores)."""
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"m_{cleaned}"


def build(folder: Path, name: str, out: Path, *, log: Callable[[str], None]) -> None:
    """Compile the module in ``folder`` (``src/lib.rs``) to ``out``, a wasm32-wasi reactor
    exporting ``_initialize`` and ``memory``; BuildFailed with rustc's output and a hint."""
    rustc = find_rustc()
    if rustc is None:
        raise BuildFailed(" ".join(missing_tools()))
    source = folder / "src" / "lib.rs"
    if not source.is_file():
        raise BuildFailed(
            f"{folder} has no src/lib.rs: a Rust module is a library crate "
            "(`wasmfleet new NAME --lang rust` makes one)."
        )
    edition = edition_of(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    rlib = guest_rlib(rustc, folder / "target" / "wasmfleet-guest", log)
    command = [
        rustc.path, "--edition", edition, "--crate-type", "cdylib",
        "--crate-name", crate_name(name), "--target", rustc.target, *COMPILE_FLAGS,
        "-C", "lto=fat", "-C", "strip=debuginfo",
        "--extern", f"wasmfleet={rlib}", "-L", f"dependency={rlib.parent}",
        "-o", str(out), str(source),
    ]  # fmt: skip
    _run(command, str(source), log)
    if not out.is_file():
        raise BuildFailed(f"rustc reported success but wrote no {out}.")
    write_cargo_config(folder, rustc, log)


def cargo_config(rustc: Rustc) -> str:
    """The ``.cargo/config.toml`` that lets Cargo build a module offline like ``build``."""
    return (
        f"{CARGO_MARKER} (remove this line to keep your own edits):\n"
        "# cargo uses the rustc that has the WASI target and the guest crate shipped with\n"
        "# wasmfleet, offline. Build: cargo build --release\n"
        "[build]\n"
        f'target = "{rustc.target}"\n'
        f'rustc = "{rustc.path}"\n\n'
        "[net]\n"
        "offline = true\n\n"
        "[patch.crates-io]\n"
        f'wasmfleet = {{ path = "{crate_dir()}" }}\n'
    )


def write_cargo_config(folder: Path, rustc: Rustc, log: Callable[[str], None]) -> None:
    """Keep ``folder/.cargo/config.toml`` up to date unless the author owns it."""
    if not (folder / "Cargo.toml").is_file():
        return
    config = folder / ".cargo" / "config.toml"
    if config.is_file() and not config.read_text(errors="replace").startswith(CARGO_MARKER):
        log(f"{config} is yours: left as it is (cargo may not find the wasmfleet crate)")
        return
    text = cargo_config(rustc)
    if config.is_file() and config.read_text(errors="replace") == text:
        return
    config.parent.mkdir(exist_ok=True)
    config.write_text(text, encoding="utf-8")
    log(f"wrote {config} (cargo build --release works offline there)")
