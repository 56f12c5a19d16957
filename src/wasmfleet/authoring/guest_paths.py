"""Where each language's guest library is: package data of the installed wasmfleet.

The paths come from the package itself (``wasmfleet/guest/...`` next to this code), never
from the current directory, so ``clang -I "$(wasmfleet guest-path c)"`` and ``wasmfleet build``
work from any folder, in a checkout (editable install) as in an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

import wasmfleet

LANGUAGES = ("c", "rust", "assemblyscript")
"""The languages a module can be written in, as ``wasmfleet.toml`` and ``--lang`` spell them."""

ALIASES = {"as": "assemblyscript", "rs": "rust", "ts": "assemblyscript"}
"""Other spellings accepted on the command line."""

_GUEST_FOLDERS = {
    "c": ("c",),  # the headers: wasmiot.h, wasmfleet.h, ...
    "rust": ("rust", "wasmfleet"),  # the crate `wasmfleet` (Cargo.toml, src/lib.rs)
    "assemblyscript": ("assemblyscript",),  # package.json, assembly/index.ts
}


def package_root() -> Path:
    """The folder of the installed ``wasmfleet`` package."""
    return Path(wasmfleet.__file__).resolve().parent


def language_of(name: str) -> str:
    """The language ``name`` spells (``as`` is assemblyscript); ValueError with a sentence."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in LANGUAGES:
        raise ValueError(f"unknown language {name!r}: use one of {', '.join(LANGUAGES)}.")
    return key


def guest_path(language: str) -> Path:
    """The guest library folder of ``language`` (it may be absent from this install)."""
    return package_root().joinpath("guest", *_GUEST_FOLDERS[language_of(language)])


def existing_guest_path(language: str) -> Path:
    """``guest_path`` when it exists; FileNotFoundError with a sentence otherwise."""
    path = guest_path(language)
    if not path.is_dir():
        raise FileNotFoundError(
            f"this wasmfleet install has no {language_of(language)} guest library "
            f"(no {path}); reinstall wasmfleet, or update it to a version that ships one."
        )
    return path


def templates_root() -> Path:
    """The folder of the scaffolds ``wasmfleet new`` copies (one sub-folder per language)."""
    return package_root() / "authoring" / "templates"
