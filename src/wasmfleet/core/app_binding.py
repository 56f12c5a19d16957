"""Binding an app to a place: its sensor and controller needs resolved at a location.

``bind`` resolves the needs of an app (core/apps.py) at a location or below it: nearest first,
then by name. Sensors are shared by any number of installs; a controller bound ``exclusive`` is
held by one install, and a second install that would take it is refused with a sentence naming
the holder. A ``Refusal`` names every unmet need at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wasmfleet.core.apps import App, Need
from wasmfleet.core.errors import Conflict, Unprocessable, WasmfleetError
from wasmfleet.core.places import Thing, depth_below, parse_location


@dataclass(frozen=True, slots=True)
class Hold:
    """An install's hold on a thing (stored per binding): shared, or exclusive."""

    install: str
    thing: str
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class Binding:
    """An app's needs resolved at a location: binding name → thing, and → module reference."""

    app: str
    location: str
    things: Mapping[str, Thing] = field(hash=False)
    modules: Mapping[str, str] = field(hash=False)
    exclusive: frozenset[str] = frozenset()
    """The binding names held exclusively."""

    def holds(self, install: str) -> tuple[Hold, ...]:
        """The holds to store for ``install`` (one per bound thing, by thing name)."""
        return tuple(
            Hold(install, thing.name, name in self.exclusive) for name, thing in self.things.items()
        )

    def to_dict(self) -> dict[str, Any]:
        """What to show a user: per binding name, the thing (kind, type, location) or module."""
        shown: dict[str, Any] = {}
        for name, thing in self.things.items():
            shown[name] = {
                "kind": thing.kind,
                "type": thing.type,
                "thing": thing.name,
                "location": thing.location,
                "exclusive": name in self.exclusive,
            }
        for name, ref in self.modules.items():
            shown[name] = {"kind": "module", "module": ref}
        return {"app": self.app, "location": self.location, "bindings": shown}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an app cannot be bound at a location: per binding name, a sentence."""

    app: str
    location: str
    reasons: Mapping[str, str] = field(hash=False)
    conflicts: frozenset[str] = frozenset()
    """Binding names refused because another install holds the thing (the rest: missing)."""

    def to_error(self) -> WasmfleetError:
        """Conflict (409) when every reason is a hold by another install, else Unprocessable."""
        text = "; ".join(f"{name}: {why}" for name, why in self.reasons.items())
        message = f"App {self.app!r} cannot be installed at {self.location}: {text}."
        if self.conflicts and set(self.conflicts) == set(self.reasons):
            return Conflict(message)
        return Unprocessable(message)


def bind(
    app: App,
    location: str,
    things: Iterable[Thing],
    existing: Iterable[Hold] = (),
    install: str | None = None,
) -> Binding | Refusal:
    """Resolve ``app``'s needs at ``location`` or below (nearest first, then by name).

    ``existing`` are the holds of installs already bound (those of ``install`` itself are
    ignored, so re-binding an install is allowed)."""
    location = parse_location(location)
    everything = list(things)
    held: dict[str, list[Hold]] = {}
    for hold in existing:
        if hold.install != install:
            held.setdefault(hold.thing, []).append(hold)
    taken: dict[str, str] = {}
    """Thing name → this app's binding name, for things this app holds exclusively."""
    chosen: dict[str, Thing] = {}
    reasons: dict[str, str] = {}
    conflicts: set[str] = set()
    for need in app.needs.values():
        if need.kind == "module":
            continue
        candidates = sorted(
            (
                t
                for t in everything
                if t.kind == need.kind
                and t.type == need.type
                and depth_below(t.location, location) >= 0
            ),
            key=lambda t: (depth_below(t.location, location), t.name),
        )
        if not candidates:
            reasons[need.name] = _missing(need, location, everything)
            continue
        blocked: list[str] = []
        for thing in candidates:
            why = _blocked(need, thing, held.get(thing.name, []), taken, chosen)
            if why is None:
                chosen[need.name] = thing
                if need.exclusive:
                    taken[thing.name] = need.name
                break
            blocked.append(why)
        else:
            reasons[need.name] = f"every {need.kind} of type {need.type!r} there is taken: " + (
                "; ".join(blocked)
            )
            conflicts.add(need.name)
    if reasons:
        return Refusal(app.name, location, reasons, frozenset(conflicts))
    modules = {n.name: n.type for n in app.needs.values() if n.kind == "module"}
    exclusive = frozenset(n.name for n in app.needs.values() if n.exclusive)
    return Binding(app.name, location, chosen, modules, exclusive)


def _blocked(
    need: Need,
    thing: Thing,
    holds: Sequence[Hold],
    taken: Mapping[str, str],
    chosen: Mapping[str, Thing],
) -> str | None:
    """Why ``thing`` cannot serve ``need`` (a sentence), or None when it can."""
    exclusive_holders = sorted({h.install for h in holds if h.exclusive})
    if exclusive_holders:
        return f"{thing.name} is held exclusively by install {exclusive_holders[0]!r}"
    if need.exclusive and holds:
        others = ", ".join(repr(h) for h in sorted({h.install for h in holds}))
        return f"{thing.name} is in use by install(s) {others} and cannot be held exclusively"
    if thing.name in taken:
        return f"{thing.name} is already held exclusively by this app's {taken[thing.name]!r}"
    if need.exclusive and any(t.name == thing.name for t in chosen.values()):
        return f"{thing.name} is already bound to another need of this app"
    return None


def _missing(need: Need, location: str, everything: Sequence[Thing]) -> str:
    """The sentence for a need with no thing of its type at or below ``location``."""
    elsewhere = sorted(
        {t.location for t in everything if t.kind == need.kind and t.type == need.type}
    )
    hint = f" (there are some at {', '.join(elsewhere[:3])})" if elsewhere else ""
    return f"no {need.kind} of type {need.type!r} at {location} or below{hint}"
