"""Deployments (with the index of the modules they use) and their executions."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.core.lifecycle import RESERVING, DeploymentStatus
from wasmfleet.orchestrator.store.base import StoreBase, row_by_key, row_by_name, utcnow
from wasmfleet.orchestrator.store.records import DeploymentRecord, ExecutionRecord, new_id
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


def _execution(row: Row[Any]) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        deployment_id=row.deployment_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        success=bool(row.success),
        request=dict(row.request),
        result=row.result,
        result_url=row.result_url,
        steps=list(row.steps),
        error=row.error,
        trace_id=row.trace_id,
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


class DeploymentQueries(StoreBase):
    """Deployments keyed by id or name, and executions keyed by id."""

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
        """Every deployment, oldest first."""
        with self._read() as conn:
            query = select(deployments).order_by(deployments.c.created_at, deployments.c.id)
            return [_deployment(row) for row in conn.execute(query)]

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

    def delete_deployment(self, key: str) -> bool:
        """Delete a deployment and its executions; False when there was none."""
        with self._write() as conn:
            row = row_by_key(conn, deployments, key, lock=True)
            if row is None:
                return False
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

    def add_execution(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Store one run of a deployment; NotFound when the deployment no longer exists."""
        exec_id = execution.id or new_id()
        try:
            with self._write() as conn:
                conn.execute(
                    insert(executions).values(
                        id=exec_id,
                        deployment_id=execution.deployment_id,
                        started_at=execution.started_at or utcnow(),
                        finished_at=execution.finished_at,
                        success=execution.success,
                        request=dict(execution.request),
                        result=execution.result,
                        result_url=execution.result_url,
                        steps=list(execution.steps),
                        error=execution.error,
                        trace_id=execution.trace_id,
                    )
                )
                return self._execution(conn, exec_id)
        except IntegrityError as err:
            raise NotFound(
                f"Cannot record the execution: deployment {execution.deployment_id!r} no longer "
                f"exists (or execution id {exec_id!r} is taken)."
            ) from err

    def get_execution(self, id: str) -> ExecutionRecord | None:
        """The execution with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(executions).where(executions.c.id == id)).first()
            return _execution(row) if row is not None else None

    def list_executions(
        self, deployment_id: str | None = None, limit: int = 100, *, trace_id: str | None = None
    ) -> list[ExecutionRecord]:
        """The latest executions (of one deployment, or all; of one trace), newest first."""
        query = select(executions).order_by(executions.c.started_at.desc(), executions.c.id.desc())
        if deployment_id is not None:
            query = query.where(executions.c.deployment_id == deployment_id)
        if trace_id is not None:
            query = query.where(executions.c.trace_id == trace_id)
        with self._read() as conn:
            return [_execution(row) for row in conn.execute(query.limit(max(limit, 0)))]

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

    def _execution(self, conn: Connection, exec_id: str) -> ExecutionRecord:
        return _execution(conn.execute(select(executions).where(executions.c.id == exec_id)).one())
