"""Locations and the sensors and controllers registered at them.

A location row exists for every registered path and all its parents (adding
``campus/lab-1`` adds ``campus`` too). Things are stored by name (one namespace for sensors
and controllers) with their kind, type and location in columns for filtering, and the whole
``Thing.to_dict()`` document in ``doc``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import Conflict, NotFound, Unprocessable
from wasmfleet.core.places import Thing, parents, parse_location, parse_thing
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.records import new_id
from wasmfleet.orchestrator.store.schema import holds, installs, locations, things

MAX_NAMED = 5
"""How many blockers (things, installs, locations) an error sentence names before '...'."""


@dataclass(frozen=True, slots=True)
class LocationRecord:
    """A registered location path."""

    path: str
    description: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ThingRecord:
    """A registered sensor or controller."""

    id: str
    thing: Thing
    created_by: str
    created_at: datetime
    updated_at: datetime


def _location(row: Row[Any]) -> LocationRecord:
    return LocationRecord(
        path=row.path,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _thing(row: Row[Any]) -> ThingRecord:
    return ThingRecord(
        id=row.id,
        thing=parse_thing(dict(row.doc)),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def at_or_below(column: Any, path: str) -> ColumnElement[bool]:
    """SQL: ``column`` is ``path`` or lies below it by whole segments."""
    return or_(column == path, column.startswith(path + "/", autoescape=True))


def _names(values: Iterable[str]) -> str:
    shown = sorted(set(values))
    more = len(shown) - MAX_NAMED
    text = ", ".join(shown[:MAX_NAMED])
    return f"{text} and {more} more" if more > 0 else text


def _holders(conn: Connection, thing_ids: Collection[str]) -> dict[str, list[str]]:
    if not thing_ids:
        return {}
    query = (
        select(holds.c.thing_id, installs.c.name)
        .join(installs, installs.c.id == holds.c.install_id)
        .where(holds.c.thing_id.in_(list(thing_ids)))
        .order_by(installs.c.name)
    )
    out: dict[str, list[str]] = {}
    for row in conn.execute(query):
        names = out.setdefault(row.thing_id, [])
        if row.name not in names:
            names.append(row.name)
    return out


class PlaceQueries(StoreBase):
    """Locations by path; sensors and controllers by name, filtered by kind, place and type."""

    # --- locations ----------------------------------------------------------------------

    def add_location(self, path: str, description: str, created_by: str) -> list[LocationRecord]:
        """Add ``path`` and any missing parents; return the ones created (parents first).

        Conflict when ``path`` itself is already registered."""
        path = parse_location(path)
        taken = f"Location {path!r} already exists; see `wasmfleet location show {path}`."
        now = utcnow()
        with self._unique(taken), self._write() as conn:
            wanted = [*reversed(parents(path)), path]
            existing = {
                r.path
                for r in conn.execute(select(locations.c.path).where(locations.c.path.in_(wanted)))
            }
            if path in existing:
                raise Conflict(taken)
            created: list[LocationRecord] = []
            for each in wanted:
                if each in existing:
                    continue
                text = description if each == path else ""
                conn.execute(
                    insert(locations).values(
                        id=new_id(),
                        path=each,
                        description=text,
                        created_by=created_by,
                        created_at=now,
                    )
                )
                created.append(LocationRecord(each, text, created_by, now))
            return created

    def list_locations(self) -> list[LocationRecord]:
        """Every location, by path."""
        with self._read() as conn:
            rows = conn.execute(select(locations).order_by(locations.c.path))
            return [_location(r) for r in rows]

    def get_location(self, path: str) -> LocationRecord | None:
        """The location at ``path``, or None."""
        with self._read() as conn:
            row = conn.execute(select(locations).where(locations.c.path == path)).first()
            return _location(row) if row is not None else None

    def delete_location(self, path: str) -> None:
        """Remove a location; NotFound if unknown, Conflict naming what sits at or below it."""
        with self._write() as conn:
            row = conn.execute(select(locations).where(locations.c.path == path)).first()
            if row is None:
                raise NotFound(f"No location {path!r}; see `wasmfleet location ls`.")
            below = [
                r.path
                for r in conn.execute(
                    select(locations.c.path).where(
                        locations.c.path.startswith(path + "/", autoescape=True)
                    )
                )
            ]
            held = [
                r.name
                for r in conn.execute(
                    select(things.c.name).where(at_or_below(things.c.location, path))
                )
            ]
            used = [
                r.name
                for r in conn.execute(
                    select(installs.c.name).where(at_or_below(installs.c.location, path))
                )
            ]
            reasons = []
            if below:
                reasons.append(f"locations {_names(below)} lie below it")
            if held:
                reasons.append(f"sensors or controllers {_names(held)} are registered there")
            if used:
                reasons.append(f"installs {_names(used)} run there")
            if reasons:
                raise Conflict(
                    f"Location {path!r} is not empty: {'; '.join(reasons)}. Remove those first "
                    "(`wasmfleet location rm`, `wasmfleet sensor rm`, `wasmfleet controller rm`, "
                    "`wasmfleet app uninstall`)."
                )
            conn.execute(delete(locations).where(locations.c.id == row.id))

    # --- things -------------------------------------------------------------------------

    def add_thing(
        self, thing: Thing, created_by: str, *, replace: bool = False
    ) -> tuple[ThingRecord, bool]:
        """Register a sensor or controller; return it and whether it was created.

        The same document again answers the stored record. A different document under a
        taken name is a Conflict unless ``replace`` (and then still one if the stored thing is
        of the other kind, or held by installs). An unknown location is Unprocessable."""
        doc = thing.to_dict()
        now = utcnow()
        taken = f"The name {thing.name!r} is taken by another sensor or controller."
        with self._unique(taken), self._write() as conn:
            if (
                conn.execute(
                    select(locations.c.id).where(locations.c.path == thing.location)
                ).first()
                is None
            ):
                raise Unprocessable(
                    f"Location {thing.location!r} is not registered; add it first with "
                    f"`wasmfleet location add {thing.location}`."
                )
            row = conn.execute(select(things).where(things.c.name == thing.name)).first()
            if row is None:
                thing_id = new_id()
                conn.execute(
                    insert(things).values(
                        id=thing_id,
                        name=thing.name,
                        kind=thing.kind,
                        type=thing.type,
                        location=thing.location,
                        doc=doc,
                        created_by=created_by,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return ThingRecord(thing_id, thing, created_by, now, now), True
            if dict(row.doc) == doc:
                return _thing(row), False
            if row.kind != thing.kind:
                raise Conflict(
                    f"{thing.name!r} is already a {row.kind}; remove it first "
                    f"(`wasmfleet {row.kind} rm {thing.name}`) or choose another name."
                )
            if not replace:
                raise Conflict(
                    f"A {row.kind} named {thing.name!r} is already registered with a different "
                    "description; remove it first, choose another name, or replace it "
                    "(`--replace`, `?replace=true`)."
                )
            users = _holders(conn, [row.id]).get(row.id, [])
            if users:
                raise Conflict(
                    f"The {row.kind} {thing.name!r} is bound to installs {_names(users)}; it "
                    "cannot change while they hold it. Uninstall them first."
                )
            conn.execute(
                update(things)
                .where(things.c.id == row.id)
                .values(type=thing.type, location=thing.location, doc=doc, updated_at=now)
            )
            return ThingRecord(row.id, thing, row.created_by, row.created_at, now), False

    def list_things(
        self,
        kind: str | None = None,
        location: str | None = None,
        type: str | None = None,
    ) -> list[ThingRecord]:
        """Things by name, filtered by kind, location (at or below) and type."""
        clauses: list[ColumnElement[bool]] = []
        if kind is not None:
            clauses.append(things.c.kind == kind)
        if location is not None:
            clauses.append(at_or_below(things.c.location, location))
        if type is not None:
            clauses.append(things.c.type == type)
        query = select(things).where(*clauses).order_by(things.c.name)
        with self._read() as conn:
            return [_thing(r) for r in conn.execute(query)]

    def get_thing(self, name: str, kind: str | None = None) -> ThingRecord | None:
        """The thing named ``name`` (of ``kind`` when given), or None."""
        query = select(things).where(things.c.name == name)
        if kind is not None:
            query = query.where(things.c.kind == kind)
        with self._read() as conn:
            row = conn.execute(query).first()
            return _thing(row) if row is not None else None

    def delete_thing(self, name: str, kind: str) -> None:
        """Remove a sensor or controller; NotFound if unknown, Conflict naming its holders."""
        with self._write() as conn:
            row = conn.execute(
                select(things).where(things.c.name == name, things.c.kind == kind)
            ).first()
            if row is None:
                raise NotFound(f"No {kind} named {name!r}; see `wasmfleet {kind} ls`.")
            users = _holders(conn, [row.id]).get(row.id, [])
            if users:
                raise Conflict(
                    f"The {kind} {name!r} is bound to installs {_names(users)}; uninstall them "
                    f"first (`wasmfleet app uninstall NAME`)."
                )
            conn.execute(delete(things).where(things.c.id == row.id))

    def thing_holders(self, thing_ids: Collection[str]) -> dict[str, list[str]]:
        """Thing id → names of the installs holding it (only ids that have holders)."""
        with self._read() as conn:
            return _holders(conn, thing_ids)
