"""Modules: a binary's identity (name, version, sha256, size) and what it exports, needs and
carries.

A name has immutable versions 1, 2, 3 ...: each upload of new bytes under a name is a row of
its own with its own id and the next version number, every id stays valid, and the bare name
resolves to the newest version. ``module_ids_in_use`` is the one place that says which
versions something still references (retention keeps those).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.records import ModuleRecord, new_id
from wasmfleet.orchestrator.store.schema import apps, deployment_modules, modules, rollouts


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
        version=int(row.version),
        note=row.note,
        created_by=row.created_by,
    )


class ModuleQueries(StoreBase):
    """Modules, keyed by id, by name (the newest version) or by name and version."""

    def add_module(self, module: ModuleRecord) -> ModuleRecord:
        """Store a new version of ``module.name`` (the next number unless ``module.version``
        is set); the bare name now means this one."""
        with self._write() as conn:
            if module.id and conn.scalar(select(modules.c.id).where(modules.c.id == module.id)):
                raise Conflict(f"A module with id {module.id!r} already exists.")
            now = utcnow()
            module_id = module.id or new_id()
            latest = conn.scalar(
                select(func.max(modules.c.version)).where(modules.c.name == module.name)
            )
            version = module.version or int(latest or 0) + 1
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
                    version=version,
                    note=module.note,
                    created_by=module.created_by,
                )
            )
            return self._module(conn, module_id)

    def get_module(self, key: str) -> ModuleRecord | None:
        """The module with this id, else the newest version with this name, or None."""
        with self._read() as conn:
            row = conn.execute(select(modules).where(modules.c.id == key)).first()
            if row is None:
                row = conn.execute(_named(key).limit(1)).first()
            return _record(row) if row is not None else None

    def module_version(self, name: str, version: int) -> ModuleRecord | None:
        """Version ``version`` of ``name``, or None."""
        query = select(modules).where(modules.c.name == name, modules.c.version == version)
        with self._read() as conn:
            row = conn.execute(query).first()
            return _record(row) if row is not None else None

    def module_with_sha(self, name: str, sha256: str) -> ModuleRecord | None:
        """The newest version of ``name`` whose binary has this sha256, or None."""
        query = _named(name).where(modules.c.sha256 == sha256).limit(1)
        with self._read() as conn:
            row = conn.execute(query).first()
            return _record(row) if row is not None else None

    def modules_named(self, name: str) -> list[ModuleRecord]:
        """Every version of ``name``, newest first."""
        with self._read() as conn:
            return [_record(r) for r in conn.execute(_named(name))]

    def list_modules(self) -> list[ModuleRecord]:
        """Every module, sorted by name; versions of one name oldest first (newest last)."""
        query = select(modules).order_by(modules.c.name, modules.c.version, modules.c.id)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query)]

    def module_ids_in_use(self) -> set[str]:
        """The ids of every module version something references: a deployment's plan (any
        status), a rollout's target and the versions it moved copies from (``rollout
        undo`` may need them, also after it succeeded), and the versions an app pins (an
        install of it deploys them). Retention never deletes these."""
        with self._read() as conn:
            used = {str(r[0]) for r in conn.execute(select(deployment_modules.c.module_id))}
            for (pinned,) in conn.execute(select(apps.c.modules)):
                used.update(str(module_id) for module_id in (pinned or {}).values())
            for target, updated in conn.execute(select(rollouts.c.module_id, rollouts.c.updated)):
                used.add(str(target))
                used.update(
                    str(u["from_module_id"])
                    for u in (updated or {}).values()
                    if isinstance(u, dict) and u.get("from_module_id")
                )
            return used

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
    """The versions of this name, newest first."""
    return (
        select(modules)
        .where(modules.c.name == name)
        .order_by(modules.c.version.desc(), modules.c.id.desc())
    )
