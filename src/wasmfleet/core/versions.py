"""Module references: ``name`` (the latest version), ``name@N`` (version N) or a module id.

Pure parsing, no store: ``parse_module_ref`` splits the text; the orchestrator's
``ModuleService.resolve`` finds the record it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from wasmfleet.core.errors import InvalidDocument


@dataclass(frozen=True, slots=True)
class ModuleRef:
    """A module name (or id) and the version asked for (None: the latest)."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def parse_module_ref(text: str) -> ModuleRef:
    """``fibo`` → (fibo, None); ``fibo@3`` → (fibo, 3); InvalidDocument for a bad version."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDocument(f"A module reference must be a name or name@VERSION, got {text!r}.")
    name, sep, version = text.strip().partition("@")
    if not sep:
        return ModuleRef(name)
    if not name:
        raise InvalidDocument(f"Module reference {text!r} has no name before '@'.")
    if not version.isdigit() or int(version) < 1:
        raise InvalidDocument(
            f"Module reference {text!r}: the version after '@' must be a whole number from 1 "
            "(e.g. fibo@3); leave it out to follow the latest version."
        )
    return ModuleRef(name, int(version))


def version_list(versions: list[int]) -> str:
    """``[1, 2, 3, 5]`` → ``1-3, 5`` (for messages naming the versions that exist)."""
    if not versions:
        return "none"
    runs: list[tuple[int, int]] = []
    for v in sorted(set(versions)):
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
