"""Building a module from AssemblyScript with ``asc`` (the ``assemblyscript`` npm package).

Where ``asc`` comes from, first found wins:

1. the module folder's own ``node_modules/.bin/asc`` (its package.json lists assemblyscript
   as a devDependency: ``npm install`` there);
2. the shared copy of a wasmfleet checkout, ``tools/assemblyscript/node_modules/.bin/asc``
   (``./run setup`` installs it with ``npm ci`` from the committed package-lock.json);
3. ``asc`` on the PATH (``npm install -g assemblyscript``).

The module imports the guest library as ``"wasmfleet"``. Unless the folder has its own copy
(``node_modules/wasmfleet``), the build hands asc a lookup folder in which ``wasmfleet`` is the
library shipped with this wasmfleet (``wasmfleet/guest/assemblyscript``), so the build works
from any directory. The output is a reactor: asc's start function is exported as
``_initialize`` (which the supervisor calls once after instantiation), with ``memory``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmfleet
from wasmfleet.core.errors import BuildFailed

LANGUAGE = "assemblyscript"
SOURCE_SUFFIXES: tuple[str, ...] = (".ts",)
NEXT_STEPS = ("wasmfleet build", "npm test")
"""What ``wasmfleet new --lang assemblyscript`` tells the author to run next."""
ASC_PACKAGE = "assemblyscript@0.28"
"""What to install (the version tools/assemblyscript/package-lock.json pins is 0.28.20)."""
NODE_MAJOR = 20
"""The oldest Node.js that assemblyscript 0.28 declares it runs on."""
DEFAULT_ENTRY = "assembly/index.ts"
BUILD_TIMEOUT_S = 300.0
LIBRARY_NAME = "wasmfleet"
"""The name modules import the guest library by."""


def guest_library() -> Path:
    """The AssemblyScript guest library shipped with this wasmfleet (package.json, assembly/)."""
    return Path(wasmfleet.__file__).resolve().parent / "guest" / "assemblyscript"


def shared_tools() -> Path:
    """The folder where ``./run setup`` installs asc in a checkout (absent from a wheel)."""
    return Path(wasmfleet.__file__).resolve().parents[2] / "tools" / "assemblyscript"


def find_asc(folder: Path | None = None) -> Path | None:
    """The asc to use for ``folder``: its own, the checkout's shared one, or the PATH's."""
    candidates = [shared_tools() / "node_modules" / ".bin" / "asc"]
    if folder is not None:
        candidates.insert(0, folder / "node_modules" / ".bin" / "asc")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which("asc")
    return Path(found) if found else None


def _node_major(node: str) -> int | None:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.strip().lstrip("v")
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def missing_tools(folder: Path | None = None) -> list[str]:
    """What to install to build AssemblyScript (for ``folder``, when given); [] when ready."""
    missing: list[str] = []
    node = shutil.which("node")
    if node is None:
        missing.append(
            f"Node.js {NODE_MAJOR} or newer is not installed: install it "
            "(Debian: apt-get install nodejs npm)."
        )
    else:
        major = _node_major(node)
        if major is not None and major < NODE_MAJOR:
            missing.append(
                f"Node.js {major} is too old for AssemblyScript 0.28: install Node.js "
                f"{NODE_MAJOR} or newer."
            )
    if find_asc(folder) is None:
        missing.append(
            "the AssemblyScript compiler (asc) is not installed: run `npm install` in the "
            f"module folder (its package.json lists {ASC_PACKAGE.split('@')[0]}), or "
            f"`npm install -g {ASC_PACKAGE}`, or `./run setup` in a wasmfleet checkout."
        )
    return missing


def read_config(folder: Path) -> dict[str, Any] | None:
    """The folder's asconfig.json (None without one); BuildFailed when it is not JSON."""
    path = folder / "asconfig.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BuildFailed(f"{path} is not valid JSON ({err}): fix it or delete it.") from None
    if not isinstance(config, dict):
        raise BuildFailed(f"{path} must hold a JSON object (asc's configuration).")
    return config


def entries(folder: Path, config: dict[str, Any] | None) -> list[str]:
    """The entry files to pass on the command line: none when asconfig.json lists them."""
    listed = (config or {}).get("entries")
    if isinstance(listed, list) and listed:
        missing = [e for e in listed if not (folder / str(e)).is_file()]
        if missing:
            raise BuildFailed(
                f"asconfig.json lists {', '.join(map(str, missing))} as an entry, but "
                f"{folder} has no such file."
            )
        return []
    if not (folder / DEFAULT_ENTRY).is_file():
        raise BuildFailed(
            f"{folder} has no {DEFAULT_ENTRY}: put the module's exports there, or list its "
            'entry file under "entries" in asconfig.json.'
        )
    return [DEFAULT_ENTRY]


def asc_command(asc: Path, node: str, folder: Path, out: Path, lookup: Path | None) -> list[str]:
    """The command line that compiles ``folder`` to ``out``."""
    config = read_config(folder)
    command = [node, str(asc.resolve()), *entries(folder, config)]
    if config is not None:
        targets = config.get("targets")
        command += ["--config", "asconfig.json"]
        if isinstance(targets, dict) and "release" in targets:
            command += ["--target", "release"]
    command += ["--outFile", str(out.resolve()), "--exportStart", "_initialize", "--noColors"]
    if lookup is not None:
        command += ["--path", str(lookup)]
    return command


def hint(output: str, name: str) -> str:
    """One sentence on what to do about asc's output."""
    if f"~lib/{LIBRARY_NAME}" in output and "not found" in output:
        return (
            f'asc could not find the wasmfleet library: import it as "{LIBRARY_NAME}" '
            "(`wasmfleet build` tells asc where it is), or remove a broken "
            f"node_modules/{LIBRARY_NAME}."
        )
    if "TS6054" in output:
        return "an import names a file that does not exist: check its path (relative to the file)."
    if "AS111" in output:
        return 'an element named in asconfig.json "use" does not exist: check its full name.'
    return f"asc could not compile {name}: fix the first ERROR above (file(line,column))."


def build(folder: Path, name: str, out: Path, *, log: Callable[[str], None]) -> None:
    """Compile the AssemblyScript module in ``folder`` to ``out``: a reactor exporting
    ``_initialize`` and ``memory``. BuildFailed with asc's output and a hint."""
    folder = folder.resolve()
    missing = missing_tools(folder)
    if missing:
        raise BuildFailed(" ".join(missing))
    asc = find_asc(folder)
    node = shutil.which("node")
    if asc is None or node is None:  # missing_tools said otherwise a moment ago
        raise BuildFailed("asc or node disappeared while building: install them again.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wasmfleet-asc-") as scratch:
        lookup: Path | None = None
        if not (folder / "node_modules" / LIBRARY_NAME).exists():
            lookup = Path(scratch)
            _link_library(lookup / LIBRARY_NAME)
        command = asc_command(asc, node, folder, out, lookup)
        log("$ " + " ".join(command))
        try:
            done = subprocess.run(
                command,
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise BuildFailed(
                f"asc did not finish building {name} within {BUILD_TIMEOUT_S:.0f} s: "
                "look for a very large source or a compiler loop, and try again."
            ) from None
    output = (done.stdout + done.stderr).strip()
    for line in output.splitlines():
        log(line)
    if done.returncode != 0 or not out.is_file():
        raise BuildFailed(f"{output}\n{hint(output, name)}".strip())


def _link_library(target: Path) -> None:
    """Make ``target`` the guest library: a symlink, or a copy where links are not allowed."""
    source = guest_library()
    if not (source / "index.ts").is_file():
        raise BuildFailed(
            f"this wasmfleet install has no AssemblyScript guest library (no {source}): "
            "reinstall wasmfleet."
        )
    try:
        target.symlink_to(source, target_is_directory=True)
    except OSError:
        shutil.copytree(source, target)
