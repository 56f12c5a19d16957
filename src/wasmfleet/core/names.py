"""Names that end up in file paths or URLs must be plain, safe names."""

from __future__ import annotations

import re

from wasmfleet.core.errors import InvalidDocument, InvalidMount

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]{0,127}")


def is_safe_name(name: str) -> bool:
    """True for a plain name: no separators, no '..', not hidden, at most 128 characters."""
    return bool(_SAFE.fullmatch(name)) and ".." not in name


def check_identifier(kind: str, name: object) -> str:
    """Return ``name`` if it can name a deployment or module, else raise InvalidDocument."""
    if not isinstance(name, str) or not name:
        raise InvalidDocument(f"{kind} must be a non-empty string, got {name!r}.")
    if not is_safe_name(name):
        raise InvalidDocument(
            f"{kind} {name!r} is not allowed: use letters, digits, '.', '_' or '-' "
            "(no '/', no '..', at most 128 characters)."
        )
    return name


def check_file_name(name: str, *, what: str = "file name") -> str:
    """Return ``name`` if it is a plain file name, else raise InvalidMount."""
    if not is_safe_name(name):
        raise InvalidMount(
            f"{what} {name!r} is not allowed: it must be a plain file name "
            "(no '/', no '..', not absolute, not hidden)."
        )
    return name
