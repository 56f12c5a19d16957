"""Deployments (with the index of the modules they use); their executions: store/executions.py."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection
from typing import Any, TypeVar, cast

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.core.lifecycle import RESERVING, DeploymentStatus
from wasmfleet.orchestrator.store.base import row_by_key, row_by_name, utcnow
from wasmfleet.orchestrator.store.executions import ExecutionQueries
from wasmfleet.orchestrator.store.records import DeploymentRecord, new_id
from wasmfleet.orchestrator.store.schema import (
    deployment_modules,
    deployments,
    executions,
    rollouts,
)


def _deployment(row: Row[Any]) -> DeploymentRecord:
    return DeploymentRecord(
        id=row.id,
        name=row.name,
        manifest=dict(row.manifest),
        status=DeploymentStatus(row.status),
        plan=row.plan,
        documents=dict(row.documents),
        results=dict(row.results),
        module_ids=list(row.module_ids),
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        epoch=int(row.epoch or 0),
        moves=list(row.moves or []),
    )


def _duplicate(name: str, existing_id: str | None) -> Conflict:
    which = f" (id {existing_id})" if existing_id else ""
    return Conflict(
        f"A deployment named {name!r} already exists{which}; choose another name or "
        "delete it first."
    )


def _contents(deployment: DeploymentRecord) -> dict[str, Any]:
    return {
        "name": deployment.name,
        "manifest": dict(deployment.manifest),
        "status": str(deployment.status),
        "plan": deployment.plan,
        "documents": dict(deployment.documents),
        "results": dict(deployment.results),
        "module_ids": list(deployment.module_ids),
        "error": deployment.error,
        "epoch": int(deployment.epoch),
        "moves": list(deployment.moves),
    }


F = TypeVar("F", bound=Callable[..., Any])


def _changes_deployments(method: F) -> F:
    """Count a write to the deployments table (done or failed) once it is over."""

    @functools.wraps(method)
    def counted(self: DeploymentQueries, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            with self._changes_lock:
                self._changes += 1

    return cast(F, counted)


class DeploymentQueries(ExecutionQueries):
    """Deployments keyed by id or name (and, inherited, executions keyed by id)."""

    def __init__(self, engine: Engine, url: str) -> None:
        super().__init__(engine, url)
        self._changes = 0
        self._changes_lock = threading.Lock()
        self._parsed: dict[str, tuple[tuple[Any, ...], DeploymentRecord]] = {}
        self._parsed_lock = threading.Lock()

    @property
    def deployment_changes(self) -> int:
        """How many writes to deployments this store made: a deployment read before this
        number last moved may be out of date (others' writes are not counted)."""
        return self._changes

    @_changes_deployments
    def add_deployment(self, deployment: DeploymentRecord) -> DeploymentRecord:
        """Store a new deployment; Conflict when the name is taken."""
        with self._unique(str(_duplicate(deployment.name, None))), self._write() as conn:
            existing = row_by_name(conn, deployments, deployment.name)
            if existing is not None:
                raise _duplicate(deployment.name, existing.id)
            dep_id = deployment.id or new_id()
            if deployment.id and conn.scalar(
                select(deployments.c.id).where(deployments.c.id == dep_id)
            ):
                raise Conflict(f"A deployment with id {dep_id!r} already exists.")
            now = utcnow()
            conn.execute(
                insert(deployments).values(
                    {
                        **_contents(deployment),
                        "id": dep_id,
                        "created_at": deployment.created_at or now,
                        "updated_at": now,
                    }
                )
            )
            self._index_modules(conn, dep_id, deployment.module_ids)
            return self._deployment(conn, dep_id)

    def get_deployment(self, key: str) -> DeploymentRecord | None:
        """The deployment with this id or name, or None."""
        with self._read() as conn:
            row = row_by_key(conn, deployments, key)
            return _deployment(row) if row is not None else None

    def list_deployments(self) -> list[DeploymentRecord]:
        """Every deployment, oldest first: **shared records, read them, never change them**
        (``get_deployment`` gives a private copy to change and write back).

        A fleet-wide deployment's row holds a document per device (about 0.5 MB of JSON at
        300 devices), and the reconciler, the healer and the dashboard list deployments
        often; parsing every row on every call held the GIL long enough to stall the
        event loop. So one cheap query reads each row's version (``updated_at``, ``epoch``,
        ``status``: every write sets ``updated_at``), and only rows whose version moved, in
        this process or any other on the same database, are read and parsed again."""
        with self._read() as conn:
            heads = conn.execute(
                select(
                    deployments.c.id,
                    deployments.c.updated_at,
                    deployments.c.epoch,
                    deployments.c.status,
                ).order_by(deployments.c.created_at, deployments.c.id)
            ).all()
            parsed = self._parsed
            versions = {row.id: (row.updated_at, row.epoch, row.status) for row in heads}
            stale = [i for i, v in versions.items() if i not in parsed or parsed[i][0] != v]
            fresh: dict[str, tuple[tuple[Any, ...], DeploymentRecord]] = {}
            for start in range(0, len(stale), 500):
                query = select(deployments).where(deployments.c.id.in_(stale[start : start + 500]))
                for row in conn.execute(query):
                    fresh[row.id] = ((row.updated_at, row.epoch, row.status), _deployment(row))
        with self._parsed_lock:
            kept = {i: parsed[i] for i in versions if i in parsed and i not in fresh}
            self._parsed = {**kept, **fresh}
            table = self._parsed
        # a row written between the two queries: its record is newer than its head; both fine
        return [table[i][1] for i in versions if i in table]

    @_changes_deployments
    def update_deployment(self, deployment: DeploymentRecord) -> DeploymentRecord:
        """Replace everything but the id and ``created_at`` of the deployment with this id."""
        with self._unique(str(_duplicate(deployment.name, None))), self._write() as conn:
            row = row_by_key(conn, deployments, deployment.id or deployment.name, lock=True)
            if row is None or (deployment.id and row.id != deployment.id):
                raise NotFound(
                    f"No deployment with id {deployment.id!r}; it may have been deleted."
                )
            if deployment.name != row.name:
                other = row_by_name(conn, deployments, deployment.name)
                if other is not None:
                    raise _duplicate(deployment.name, other.id)
            conn.execute(
                update(deployments)
                .where(deployments.c.id == row.id)
                .values({**_contents(deployment), "updated_at": utcnow()})
            )
            if list(row.module_ids) != list(deployment.module_ids):
                self._index_modules(conn, row.id, deployment.module_ids)
            return self._deployment(conn, row.id)

    @_changes_deployments
    def delete_deployment(self, key: str) -> bool:
        """Delete a deployment and its executions; False when there was none."""
        with self._write() as conn:
            row = row_by_key(conn, deployments, key, lock=True)
            if row is None:
                return False
            self.drop_queued_executions(row.id)
            conn.execute(delete(executions).where(executions.c.deployment_id == row.id))
            conn.execute(delete(rollouts).where(rollouts.c.deployment_id == row.id))
            conn.execute(
                delete(deployment_modules).where(deployment_modules.c.deployment_id == row.id)
            )
            conn.execute(delete(deployments).where(deployments.c.id == row.id))
            return True

    def deployments_using_module(
        self, module_id: str, statuses: Collection[str] = RESERVING
    ) -> list[DeploymentRecord]:
        """The deployments in one of ``statuses`` whose plan uses the module, oldest first.

        By default those whose devices hold (or are about to hold) the module."""
        query = (
            select(deployments)
            .join(deployment_modules, deployment_modules.c.deployment_id == deployments.c.id)
            .where(deployment_modules.c.module_id == module_id)
            .where(deployments.c.status.in_(sorted(str(s) for s in statuses)))
            .order_by(deployments.c.created_at, deployments.c.id)
        )
        with self._read() as conn:
            return [_deployment(row) for row in conn.execute(query)]

    def _index_modules(self, conn: Connection, dep_id: str, module_ids: list[str]) -> None:
        conn.execute(delete(deployment_modules).where(deployment_modules.c.deployment_id == dep_id))
        unique = sorted(set(module_ids))
        if unique:
            conn.execute(
                insert(deployment_modules),
                [{"deployment_id": dep_id, "module_id": m} for m in unique],
            )

    def _deployment(self, conn: Connection, dep_id: str) -> DeploymentRecord:
        return _deployment(
            conn.execute(select(deployments).where(deployments.c.id == dep_id)).one()
        )
