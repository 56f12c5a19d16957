"""Module references: ``name`` (the latest version), ``name@N`` (version N) or a module id.

Pure parsing, no store: ``parse_module_ref`` splits the text; the orchestrator's
``ModuleService.resolve`` finds the record it names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wasmfleet.core.bounds import MAX_DB_INT
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
    digits = version.isascii() and version.isdigit() and len(version) <= len(str(MAX_DB_INT))
    if not digits or not 1 <= int(version) <= MAX_DB_INT:
        raise InvalidDocument(
            f"Module reference {text!r}: the version after '@' must be a whole number from 1 "
            f"to {MAX_DB_INT} (e.g. fibo@3); leave it out to follow the latest version."
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


def carry_versions(
    old_steps: Sequence[Mapping[str, Any]], new_steps: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Keep the versions a deployment runs across a re-placement (self-healing, copies added
    or dropped as devices come and go): re-solving resolves a step's module from the manifest
    (the latest version, unless pinned), which would silently move copies that a user or a
    rollout put on another version.

    A copy that stays on its device keeps its module version; a new copy of a step (a moved
    step, a device that joined) gets the version most of that step's copies ran (ties: the
    newer). Entries of other modules, and steps that had no copy, are left as solved."""
    by_copy: dict[tuple[int, str], Mapping[str, Any]] = {}
    by_step: dict[int, list[Mapping[str, Any]]] = {}
    for old in old_steps:
        if old.get("module_id") is None:
            continue
        by_copy[(int(old["step"]), str(old["device"]))] = old
        by_step.setdefault(int(old["step"]), []).append(old)
    out: list[dict[str, Any]] = []
    for entry in new_steps:
        entry = dict(entry)
        step = int(entry["step"])
        same = by_copy.get((step, str(entry["device"])))
        if same is None or same.get("module") != entry.get("module"):
            siblings = [o for o in by_step.get(step, []) if o.get("module") == entry.get("module")]
            same = _most_run(siblings) if siblings else None
        if same is not None and entry.get("module_id") is not None:
            entry["module_id"], entry["version"] = same["module_id"], same.get("version")
        out.append(entry)
    return out


def _most_run(entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The entry whose module id most entries share (ties: the higher version)."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[str(e["module_id"])] = counts.get(str(e["module_id"]), 0) + 1
    return max(entries, key=lambda e: (counts[str(e["module_id"])], e.get("version") or 0))
