"""Modules: a binary's identity (name, sha256, size) and what it exports, needs and carries.

A name may be uploaded again (as the wasmiot orchestrator allows): each upload is a module of
its own with its own id, every id stays valid, and the name resolves to the newest of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select, delete, insert, select, update
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.records import ModuleRecord, new_id
from wasmfleet.orchestrator.store.schema import modules


def _record(row: Row[Any]) -> ModuleRecord:
    return ModuleRecord(
        id=row.id,
        name=row.name,
        sha256=row.sha256,
        size=row.size,
        exports=list(row.exports),
        requirements=list(row.requirements),
        description=row.description,
        data_files=dict(row.data_files),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ModuleQueries(StoreBase):
    """Modules, keyed by id, or by name (the newest module of that name)."""

    def add_module(self, module: ModuleRecord) -> ModuleRecord:
        """Store a new module (a taken name is allowed: the name now means this one)."""
        with self._write() as conn:
            if module.id and conn.scalar(select(modules.c.id).where(modules.c.id == module.id)):
                raise Conflict(f"A module with id {module.id!r} already exists.")
            now = utcnow()
            module_id = module.id or new_id()
            conn.execute(
                insert(modules).values(
                    id=module_id,
                    name=module.name,
                    sha256=module.sha256,
                    size=module.size,
                    exports=list(module.exports),
                    requirements=list(module.requirements),
                    description=module.description,
                    data_files=dict(module.data_files),
                    created_at=module.created_at or now,
                    updated_at=now,
                )
            )
            return self._module(conn, module_id)

    def get_module(self, key: str) -> ModuleRecord | None:
        """The module with this id, else the newest module with this name, or None."""
        with self._read() as conn:
            row = conn.execute(select(modules).where(modules.c.id == key)).first()
            if row is None:
                row = conn.execute(_named(key).limit(1)).first()
            return _record(row) if row is not None else None

    def modules_named(self, name: str) -> list[ModuleRecord]:
        """Every module uploaded under ``name``, newest first."""
        with self._read() as conn:
            return [_record(r) for r in conn.execute(_named(name))]

    def list_modules(self) -> list[ModuleRecord]:
        """Every module, sorted by name; modules of one name oldest first (newest last)."""
        query = select(modules).order_by(modules.c.name, modules.c.created_at, modules.c.id)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def update_module(self, module: ModuleRecord) -> ModuleRecord:
        """Replace the description, data files, exports and requirements of the module by id."""
        with self._write() as conn:
            changed = conn.execute(
                update(modules)
                .where(modules.c.id == module.id)
                .values(
                    exports=list(module.exports),
                    requirements=list(module.requirements),
                    description=module.description,
                    data_files=dict(module.data_files),
                    updated_at=utcnow(),
                )
            ).rowcount
            if not changed:
                raise NotFound(f"No module with id {module.id!r}; it may have been deleted.")
            return self._module(conn, module.id)

    def delete_module(self, key: str) -> bool:
        """Delete the module with this id, else every module with this name; False if none."""
        with self._write() as conn:
            by_id = conn.execute(delete(modules).where(modules.c.id == key)).rowcount
            if by_id:
                return True
            return bool(conn.execute(delete(modules).where(modules.c.name == key)).rowcount)

    def _module(self, conn: Connection, module_id: str) -> ModuleRecord:
        return _record(conn.execute(select(modules).where(modules.c.id == module_id)).one())


def _named(name: str) -> Select[Any]:
    """The modules with this name, newest first."""
    return (
        select(modules)
        .where(modules.c.name == name)
        .order_by(modules.c.created_at.desc(), modules.c.id.desc())
    )
