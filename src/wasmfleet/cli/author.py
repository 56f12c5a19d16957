"""``wasmfleet new``, ``wasmfleet build`` and ``wasmfleet guest-path``: writing a module.

``new`` copies a scaffold (``authoring/templates/<language>/``), replacing ``__NAME__`` (the
module name) and ``__IDENT__`` (the name as an identifier: ``-`` and ``.`` become ``_``) in
file names and texts, and dropping a ``.tmpl`` suffix (template files that must not look
like code of wasmfleet's own, e.g. ``test___NAME__.py.tmpl``). ``build`` is
``authoring.build``; ``guest-path`` prints a guest library's folder for hand-made builds.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Annotated

import typer

from wasmfleet.authoring.guest_paths import (
    LANGUAGES,
    existing_guest_path,
    language_of,
    templates_root,
)
from wasmfleet.cli.client_errors import fail
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.names import is_safe_name

TEMPLATE_SUFFIX = ".tmpl"
MAX_TEMPLATE_FILES = 200
NEXT_STEPS = ("wasmfleet build", "python -m pytest tests")
"""What to run in a new module folder, unless the language's toolchain module has its own
``NEXT_STEPS``."""

LangOpt = Annotated[
    str,
    typer.Option("--lang", "-l", help=f"The module's language: {', '.join(LANGUAGES)}."),
]


def _language(name: str) -> str:
    try:
        return language_of(name)
    except ValueError as err:
        fail(str(err)[0].upper() + str(err)[1:])


def identifier(name: str) -> str:
    """``name`` as an identifier of C, Rust and AssemblyScript (``my-mod`` -> ``my_mod``)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"m_{ident}" if ident[0].isdigit() else ident


def next_steps(language: str) -> tuple[str, ...]:
    """The commands to run in a new folder: the toolchain's ``NEXT_STEPS``, else the default."""
    from wasmfleet.authoring.build import load_toolchain

    try:
        steps = getattr(load_toolchain(language), "NEXT_STEPS", NEXT_STEPS)
    except WasmfleetError:  # no toolchain module for it in this install
        return NEXT_STEPS
    return tuple(steps)


def scaffold(name: str, language: str, target: Path) -> list[Path]:
    """Copy the ``language`` scaffold to ``target`` for module ``name``; the files written."""
    source = templates_root() / language
    if not source.is_dir():
        raise FileNotFoundError(
            f"this wasmfleet install has no {language} scaffold (no {source}); update wasmfleet."
        )
    replacements = {"__NAME__": name, "__IDENT__": identifier(name)}
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if len(files) > MAX_TEMPLATE_FILES:
        raise FileNotFoundError(f"the {language} scaffold has over {MAX_TEMPLATE_FILES} files.")
    written: list[Path] = []
    for path in files:
        relative = path.relative_to(source).as_posix()
        for old, new in replacements.items():
            relative = relative.replace(old, new)
        relative = relative.removesuffix(TEMPLATE_SUFFIX)
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            out.write_bytes(data)  # binary files are copied as they are
        else:
            for old, new in replacements.items():
                text = text.replace(old, new)
            out.write_text(text, encoding="utf-8")
        shutil.copymode(path, out)
        written.append(out)
    return written


def new(
    name: Annotated[str, typer.Argument(help="The module's name (letters, digits, . _ -).")],
    lang: LangOpt = "c",
    parent: Annotated[
        Path, typer.Option("--dir", help="Make the folder NAME inside this one.", file_okay=False)
    ] = Path("."),
) -> None:
    """Make a module folder NAME: source with @wasmfleet declarations, a test, a README."""
    language = _language(lang)
    if not is_safe_name(name):
        fail(
            f"{name!r} is not a module name: use letters, digits, '.', '_' or '-' (no '/', "
            "no '..', not starting with '.', at most 128 characters)."
        )
    target = parent / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(f"{target} already exists and is not an empty folder; pick another name or --dir.")
    try:
        written = scaffold(name, language, target)
    except FileNotFoundError as err:
        fail(str(err))
    except OSError as err:
        fail(f"could not write {target}: {err.strerror} ({err.filename}).")
    typer.echo(f"made {target}/ ({language}): {len(written)} files")
    for path in written:
        typer.echo(f"  {path.relative_to(target).as_posix()}")
    typer.echo("next:")
    typer.echo(f"  cd {target}")
    for step in next_steps(language):
        typer.echo(f"  {step}")


def build(
    folder: Annotated[
        Path, typer.Argument(help="The module folder (holds wasmfleet.toml).", file_okay=False)
    ] = Path("."),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write NAME.wasm and description.json here.", file_okay=False
        ),
    ] = None,
) -> None:
    """Build a module folder: FOLDER/build/NAME.wasm and description.json, then check them."""
    from wasmfleet.authoring.build import build_folder

    try:
        result = build_folder(folder, out, log=typer.echo)
    except WasmfleetError as err:
        fail(err.message)
    if not result.ok:
        fail(f"{result.name} built, but the checker found errors above: a device would refuse it.")


def guest_path(
    lang: Annotated[str, typer.Argument(help=f"One of {', '.join(LANGUAGES)}.")],
) -> None:
    """Print the folder of a language's guest library: clang -I "$(wasmfleet guest-path c)"."""
    try:
        typer.echo(str(existing_guest_path(_language(lang))))
    except FileNotFoundError as err:
        fail(str(err))
