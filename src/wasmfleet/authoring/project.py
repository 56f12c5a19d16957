"""A module folder's ``wasmfleet.toml``: its name, language and version.

``wasmfleet new`` writes it; ``wasmfleet build`` and the toolchains read it::

    name = "alarm"
    language = "c"            # c | rust | assemblyscript
    version = "0.1.0"

    [c]                       # optional, per language: extra compiler flags
    cflags = ["-DNDEBUG"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmfleet.authoring.guest_paths import language_of
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.names import is_safe_name

PROJECT_FILE = "wasmfleet.toml"
DEFAULT_VERSION = "0.1.0"


@dataclass(frozen=True, slots=True)
class Project:
    """What ``wasmfleet.toml`` says about a module folder."""

    folder: Path
    name: str
    language: str
    version: str = DEFAULT_VERSION
    options: dict[str, Any] = field(default_factory=dict)
    """The ``[<language>]`` table (toolchain options such as ``cflags``)."""


def read_project(folder: Path) -> Project:
    """The project in ``folder``; InvalidDocument with a sentence when it is missing or wrong."""
    path = folder / PROJECT_FILE
    if not path.is_file():
        where = "this folder" if folder == Path() else str(folder)
        raise InvalidDocument(
            f"{where} has no {PROJECT_FILE}, so it is not a module folder: give the folder "
            "that `wasmfleet new NAME --lang c|rust|assemblyscript` made, or write a "
            f'{PROJECT_FILE} with name = "...", language = "c" and version = "0.1.0".'
        )
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidDocument(f"{path} is not valid TOML: {err}.") from None
    except OSError as err:
        raise InvalidDocument(f"{path} cannot be read: {err.strerror}.") from None
    name = data.get("name")
    if not isinstance(name, str) or not is_safe_name(name):
        raise InvalidDocument(
            f"{path}: name must be a module name (letters, digits, '.', '_', '-'), got {name!r}."
        )
    try:
        language = language_of(str(data.get("language", "")))
    except ValueError as err:
        raise InvalidDocument(f"{path}: {err}") from None
    version = data.get("version", DEFAULT_VERSION)
    if not isinstance(version, str) or not version:
        raise InvalidDocument(f'{path}: version must be a string like "0.1.0", got {version!r}.')
    options = data.get(language, {})
    if not isinstance(options, dict):
        raise InvalidDocument(f"{path}: [{language}] must be a table of options.")
    return Project(folder=folder, name=name, language=language, version=version, options=options)
