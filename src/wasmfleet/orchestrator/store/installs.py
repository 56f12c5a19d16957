"""Installs of apps at locations, the things they hold, and the claimed fires of schedules.

An install and its holds are stored in one transaction. ``holds.exclusive_thing`` is unique,
so two installs racing for one controller cannot both hold it: the loser gets Conflict naming
the holder. A schedule's fire is claimed by inserting its key (``core.schedule_due.fire_key``)
into ``schedule_fires``; the primary key lets exactly one orchestrator's insert succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from wasmfleet.core.app_binding import Hold
from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.records import new_id
from wasmfleet.orchestrator.store.schema import apps, holds, installs, schedule_fires, things

MAX_FIRES_PAGE = 1000


@dataclass(slots=True)
class InstallRecord:
    """An app installed at a location."""

    name: str
    app_id: str
    location: str
    owner: str
    params: dict[str, Any] = field(default_factory=dict)
    binding: dict[str, Any] = field(default_factory=dict)
    """``core.app_binding.Binding.to_dict()``."""
    schedule: dict[str, Any] | None = None
    """``core.schedule.Schedule.to_dict()``; None: deployed now, running."""
    notify: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    reason: str | None = None
    deployment_id: str | None = None
    fired: int = 0
    last_fire: datetime | None = None
    """The schedule's cursor: the latest fire handled (run, skipped or missed)."""
    next_fire: datetime | None = None
    """When the scheduler looks at the install next (a fire, or an open window's close)."""
    id: str = ""
    app: str = ""
    """The app version, ``name@N`` (read from the apps table)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FireRecord:
    """One claimed fire of an install's schedule (or a run asked for by hand)."""

    key: str
    install_id: str
    fire_at: datetime
    claimed_by: str
    claimed_at: datetime
    outcome: str | None
    detail: str | None


_COLUMNS = (
    "name", "app_id", "location", "owner", "params", "binding", "schedule", "notify", "status",
    "reason", "deployment_id", "fired", "last_fire", "next_fire",
)  # fmt: skip


def _install(row: Row[Any]) -> InstallRecord:
    values = {c: getattr(row, c) for c in _COLUMNS}
    return InstallRecord(
        **values,
        id=row.id,
        app=f"{row.app_name}@{row.app_version}",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _fire(row: Row[Any]) -> FireRecord:
    return FireRecord(
        row.key,
        row.install_id,
        row.fire_at,
        row.claimed_by,
        row.claimed_at,
        row.outcome,
        row.detail,
    )


def _joined() -> Any:
    return select(
        installs, apps.c.name.label("app_name"), apps.c.version.label("app_version")
    ).join(apps, apps.c.id == installs.c.app_id)


class InstallQueries(StoreBase):
    """Installs by name, their holds, and schedule fires."""

    def add_install(self, record: InstallRecord, held: list[tuple[str, Hold]]) -> InstallRecord:
        """Store an install and its holds ((need, hold) pairs) in one transaction;
        Conflict when the name is taken or a thing it holds exclusively is held by another."""
        taken = f"An install named {record.name!r} already exists; choose another --name."
        try:
            with self._write() as conn:
                if conn.execute(
                    select(installs.c.id).where(installs.c.name == record.name)
                ).first():
                    raise Conflict(taken)
                ids = _thing_ids(conn, [h.thing for _, h in held])
                install_id = record.id or new_id()
                now = utcnow()
                values = {c: getattr(record, c) for c in _COLUMNS}
                conn.execute(
                    insert(installs).values(**values, id=install_id, created_at=now, updated_at=now)
                )
                for need, hold in held:
                    thing_id = ids[hold.thing]
                    conn.execute(
                        insert(holds).values(
                            install_id=install_id,
                            need=need,
                            thing_id=thing_id,
                            exclusive_thing=thing_id if hold.exclusive else None,
                        )
                    )
                return self._one(conn, install_id)
        except IntegrityError:
            holder = self._exclusive_holder([h.thing for _, h in held if h.exclusive])
            if holder is None:
                raise Conflict(taken) from None
            raise Conflict(
                f"{holder[0]} is held exclusively by install {holder[1]!r} (installed a moment "
                "ago); uninstall it first or install where another is free."
            ) from None

    def _exclusive_holder(self, names: list[str]) -> tuple[str, str] | None:
        query = (
            select(things.c.name, installs.c.name.label("install"))
            .join(holds, holds.c.exclusive_thing == things.c.id)
            .join(installs, installs.c.id == holds.c.install_id)
            .where(things.c.name.in_(names))
        )
        with self._read() as conn:
            row = conn.execute(query).first()
            return (row.name, row.install) if row is not None else None

    def get_install(self, name: str) -> InstallRecord | None:
        """The install with this name (or id), or None."""
        query = _joined().where((installs.c.name == name) | (installs.c.id == name))
        with self._read() as conn:
            row = conn.execute(query).first()
            return _install(row) if row is not None else None

    def list_installs(self, owner: str | None = None) -> list[InstallRecord]:
        """Every install (of one owner), by name."""
        query = _joined().order_by(installs.c.name)
        if owner is not None:
            query = query.where(installs.c.owner == owner)
        with self._read() as conn:
            return [_install(r) for r in conn.execute(query)]

    def all_holds(self) -> list[Hold]:
        """Every install's holds, by install and thing name (for ``core.app_binding.bind``)."""
        query = select(
            installs.c.name.label("install"), things.c.name.label("thing"), holds.c.exclusive_thing
        ).select_from(
            holds.join(installs, installs.c.id == holds.c.install_id).join(
                things, things.c.id == holds.c.thing_id
            )
        )
        with self._read() as conn:
            return [
                Hold(r.install, r.thing, r.exclusive_thing is not None) for r in conn.execute(query)
            ]

    def update_install(self, record: InstallRecord, **changes: Any) -> InstallRecord:
        """Store ``changes`` (column values) on the install; the record as stored now."""
        with self._write() as conn:
            done = conn.execute(
                update(installs)
                .where(installs.c.id == record.id)
                .values(**changes, updated_at=utcnow())
            ).rowcount
            if not done:
                raise NotFound(f"The install {record.name!r} was uninstalled meanwhile.")
            return self._one(conn, record.id)

    def delete_install(self, install_id: str) -> bool:
        """Delete an install with its holds and fires; False when it was gone."""
        with self._write() as conn:
            conn.execute(delete(schedule_fires).where(schedule_fires.c.install_id == install_id))
            conn.execute(delete(holds).where(holds.c.install_id == install_id))
            return bool(conn.execute(delete(installs).where(installs.c.id == install_id)).rowcount)

    def due_installs(self, now: datetime, limit: int) -> list[InstallRecord]:
        """Installs whose ``next_fire`` is at or before ``now``, the earliest first."""
        query = (
            _joined()
            .where(installs.c.next_fire.is_not(None), installs.c.next_fire <= now)
            .order_by(installs.c.next_fire, installs.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_install(r) for r in conn.execute(query)]

    def claim_fire(self, key: str, install_id: str, fire_at: datetime, claimed_by: str) -> bool:
        """Claim one fire: True for the one caller whose insert of ``key`` succeeded."""
        try:
            with self._write() as conn:
                conn.execute(
                    insert(schedule_fires).values(
                        key=key,
                        install_id=install_id,
                        fire_at=fire_at,
                        claimed_by=claimed_by,
                        claimed_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def finish_fire(self, key: str, outcome: str, detail: str | None) -> None:
        """Record how a claimed fire went (``ok``, ``failed``, ``missed`` ...)."""
        with self._write() as conn:
            conn.execute(
                update(schedule_fires)
                .where(schedule_fires.c.key == key)
                .values(outcome=outcome, detail=(detail or "")[:2000] or None)
            )

    def list_fires(self, install_id: str, limit: int = 100) -> list[FireRecord]:
        """An install's fires, newest first."""
        query = (
            select(schedule_fires)
            .where(schedule_fires.c.install_id == install_id)
            .order_by(schedule_fires.c.fire_at.desc(), schedule_fires.c.claimed_at.desc())
            .limit(min(limit, MAX_FIRES_PAGE))
        )
        with self._read() as conn:
            return [_fire(r) for r in conn.execute(query)]

    def _one(self, conn: Connection, install_id: str) -> InstallRecord:
        return _install(conn.execute(_joined().where(installs.c.id == install_id)).one())


def _thing_ids(conn: Connection, names: list[str]) -> dict[str, str]:
    if not names:
        return {}
    rows = conn.execute(select(things.c.id, things.c.name).where(things.c.name.in_(names)))
    found = {r.name: r.id for r in rows}
    gone = sorted(set(names) - set(found))
    if gone:
        raise Conflict(
            f"The thing(s) {', '.join(gone)} were removed while installing; install again."
        )
    return found
