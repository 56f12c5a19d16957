"""Modules: a binary's identity (name, sha256, size) and what it exports, needs and carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store.base import StoreBase, row_by_key, row_by_name, utcnow
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


def _duplicate(name: str, existing_id: str | None) -> Conflict:
    which = f" (id {existing_id})" if existing_id else ""
    return Conflict(
        f"A module named {name!r} already exists{which}; choose another name or delete it first."
    )


class ModuleQueries(StoreBase):
    """Modules, keyed by id or name."""

    def add_module(self, module: ModuleRecord) -> ModuleRecord:
        """Store a new module; Conflict when the name is taken."""
        with self._unique(str(_duplicate(module.name, None))), self._write() as conn:
            existing = row_by_name(conn, modules, module.name)
            if existing is not None:
                raise _duplicate(module.name, existing.id)
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
        """The module with this id or name, or None."""
        with self._read() as conn:
            row = row_by_key(conn, modules, key)
            return _record(row) if row is not None else None

    def list_modules(self) -> list[ModuleRecord]:
        """Every module, sorted by name."""
        with self._read() as conn:
            return [_record(r) for r in conn.execute(select(modules).order_by(modules.c.name))]

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
        """Delete the module with this id or name; False when there was none."""
        with self._write() as conn:
            row = row_by_key(conn, modules, key, lock=True)
            if row is None:
                return False
            conn.execute(delete(modules).where(modules.c.id == row.id))
            return True

    def _module(self, conn: Connection, module_id: str) -> ModuleRecord:
        return _record(conn.execute(select(modules).where(modules.c.id == module_id)).one())
