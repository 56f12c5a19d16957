"""Apps: immutable versions ``name@N`` of an app manifest, with the module versions it pins.

Each publish of a changed manifest (or of the same manifest pinning other module versions)
is a row of its own with the next version number; the bare name means the newest version.
``modules`` maps every module need of the manifest to the id of the module version it was
published with, so an app version always deploys the same binaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import Conflict
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.records import new_id
from wasmfleet.orchestrator.store.schema import apps, installs


@dataclass(frozen=True, slots=True)
class AppRecord:
    """One stored version of an app."""

    id: str
    name: str
    version: int
    manifest: dict[str, Any] = field(hash=False)
    """The manifest document as published (parsed again with ``core.apps.parse_app``)."""
    modules: dict[str, str] = field(hash=False)
    """Module need (binding name) → the id of the module version it pins."""
    description: str
    author: str
    created_at: datetime

    @property
    def key(self) -> str:
        """``name@N``."""
        return f"{self.name}@{self.version}"


def _record(row: Row[Any]) -> AppRecord:
    return AppRecord(
        id=row.id,
        name=row.name,
        version=int(row.version),
        manifest=dict(row.manifest),
        modules=dict(row.modules),
        description=row.description,
        author=row.author,
        created_at=row.created_at,
    )


class AppQueries(StoreBase):
    """App versions by id, ``name`` (the newest) or ``name@N``."""

    def add_app(
        self,
        name: str,
        manifest: dict[str, Any],
        modules: dict[str, str],
        description: str,
        author: str,
    ) -> tuple[AppRecord, bool]:
        """Store the next version of ``name``; (record, created). The same manifest with the
        same module versions as the newest version is that version (nothing stored)."""
        taken = f"App {name!r} was published concurrently; publish again."
        with self._unique(taken), self._write() as conn:
            latest = conn.execute(_named(name).limit(1)).first()
            if latest is not None and latest.manifest == manifest and latest.modules == modules:
                return _record(latest), False
            app_id = new_id()
            conn.execute(
                insert(apps).values(
                    id=app_id,
                    name=name,
                    version=int(latest.version) + 1 if latest is not None else 1,
                    manifest=manifest,
                    modules=modules,
                    description=description,
                    author=author,
                    created_at=utcnow(),
                )
            )
            return self._app(conn, app_id), True

    def get_app(self, key: str) -> AppRecord | None:
        """The app version with this id, ``name@N``, or the newest version of ``name``."""
        with self._read() as conn:
            row = conn.execute(select(apps).where(apps.c.id == key)).first()
            if row is None and "@" in key:
                name, _, number = key.rpartition("@")
                if number.isdigit():
                    query = select(apps).where(apps.c.name == name, apps.c.version == int(number))
                    row = conn.execute(query).first()
            if row is None:
                row = conn.execute(_named(key).limit(1)).first()
            return _record(row) if row is not None else None

    def app_versions(self, name: str) -> list[AppRecord]:
        """Every version of ``name``, newest first."""
        with self._read() as conn:
            return [_record(r) for r in conn.execute(_named(name))]

    def list_apps(self, *, every_version: bool = False) -> list[AppRecord]:
        """The newest version of each app by name (every version with ``every_version``)."""
        query = select(apps).order_by(apps.c.name, apps.c.version)
        with self._read() as conn:
            rows = [_record(r) for r in conn.execute(query)]
        if every_version:
            return rows
        newest: dict[str, AppRecord] = {}
        for record in rows:
            newest[record.name] = record
        return list(newest.values())

    def install_counts(self) -> dict[str, int]:
        """App version id → how many installs use it."""
        query = select(installs.c.app_id, func.count()).group_by(installs.c.app_id)
        with self._read() as conn:
            return {str(app_id): int(n) for app_id, n in conn.execute(query)}

    def app_module_ids(self) -> set[str]:
        """The module ids any app version pins."""
        with self._read() as conn:
            return {
                str(module_id)
                for (modules,) in conn.execute(select(apps.c.modules))
                for module_id in (modules or {}).values()
            }

    def delete_apps(self, ids: list[str]) -> None:
        """Delete these app versions; Conflict naming the installs that use any of them."""
        with self._write() as conn:
            used = conn.execute(
                select(installs.c.name).where(installs.c.app_id.in_(ids)).order_by(installs.c.name)
            ).all()
            if used:
                names = ", ".join(r.name for r in used)
                raise Conflict(
                    f"The app is installed ({names}); uninstall those first "
                    "(wasmfleet app uninstall NAME)."
                )
            conn.execute(delete(apps).where(apps.c.id.in_(ids)))

    def _app(self, conn: Connection, app_id: str) -> AppRecord:
        return _record(conn.execute(select(apps).where(apps.c.id == app_id)).one())


def _named(name: str) -> Any:
    return select(apps).where(apps.c.name == name).order_by(apps.c.version.desc())
