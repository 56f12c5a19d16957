"""Executions: one run of a deployment each, written one by one or in groups.

``add_execution`` commits a record before it returns, like every other write of the store.
``queue_execution`` only appends it to a bounded in-memory group that ``flush_executions``
writes in one transaction (the orchestrator flushes every few milliseconds, see
orchestrator/execution_writes.py): executions are records of what happened, not desired
state, so a crash may lose the group not yet flushed — never a deployment or a module,
which are always written durably. Reads of executions (``get_execution``,
``list_executions``) flush first, so this process always reads what it recorded; a queued
record whose deployment was deleted meanwhile is dropped (its deployment's executions go
with it anyway).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from wasmfleet.core.errors import NotFound
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.engine import json_text
from wasmfleet.orchestrator.store.records import ExecutionRecord, new_id
from wasmfleet.orchestrator.store.schema import executions

log = logging.getLogger(__name__)


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


def _row(execution: ExecutionRecord) -> dict[str, Any]:
    """The table row of a record (its id and start time filled in on the record first)."""
    if not execution.id:
        execution.id = new_id()
    if execution.started_at is None:
        execution.started_at = utcnow()
    return {
        "id": execution.id,
        "deployment_id": execution.deployment_id,
        "started_at": execution.started_at,
        "finished_at": execution.finished_at,
        "success": bool(execution.success),
        "request": dict(execution.request),
        "result": execution.result,
        "result_url": execution.result_url,
        "steps": list(execution.steps),
        "error": execution.error,
        "trace_id": execution.trace_id,
    }


_COPY = (
    "COPY executions (id, deployment_id, started_at, finished_at, success, request, result,"
    " result_url, steps, error, trace_id) FROM STDIN"
)


def _copy_rows(conn: Connection, group: list[dict[str, Any]]) -> None:
    """Write a group with PostgreSQL's COPY, in the caller's transaction: at ~2,000
    executions a second, the INSERT's per-row parameter processing in SQLAlchemy took a
    sixth of the orchestrator's samples, in a thread that competes for the GIL."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        for row in group:
            result = row["result"]
            copy.write_row(
                (
                    row["id"],
                    row["deployment_id"],
                    _utc(row["started_at"]),
                    _utc(row["finished_at"]),
                    row["success"],
                    json_text(row["request"]),
                    None if result is None else json_text(result),  # SQL NULL, as none_as_null
                    row["result_url"],
                    json_text(row["steps"]),
                    row["error"],
                    row["trace_id"],
                )
            )


def _utc(value: datetime | None) -> datetime | None:
    """As ``UTCDateTime`` binds it on PostgreSQL (naive values count as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _refused_a_row(err: BaseException) -> bool:
    """An integrity violation (SQLSTATE class 23: a deployment deleted meanwhile), whether
    SQLAlchemy wrapped it (INSERT) or psycopg raised it itself (COPY)."""
    if isinstance(err, IntegrityError):
        return True
    return str(getattr(err, "sqlstate", "") or "").startswith("23")


class ExecutionQueries(StoreBase):
    """Executions keyed by id: durable one by one, or queued and flushed in groups."""

    def __init__(self, engine: Engine, url: str) -> None:
        super().__init__(engine, url)
        self._queued: list[dict[str, Any]] = []
        self._queue_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        """One flush at a time, so groups are written in the order they were queued."""

    def add_execution(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Store one run of a deployment; NotFound when the deployment no longer exists."""
        row = _row(replace(execution))  # the caller's record stays as it was
        try:
            with self._write() as conn:
                conn.execute(insert(executions).values(row))
                return self._execution(conn, row["id"])
        except IntegrityError as err:
            raise NotFound(
                f"Cannot record the execution: deployment {execution.deployment_id!r} no longer "
                f"exists (or execution id {row['id']!r} is taken)."
            ) from err

    def queue_execution(self, execution: ExecutionRecord) -> int:
        """Queue a run for the next group write (its id and start time are filled in);
        how many runs are queued now. Never blocks on the database."""
        row = _row(execution)
        with self._queue_lock:
            self._queued.append(row)
            return len(self._queued)

    @property
    def queued_executions(self) -> int:
        """How many runs wait for the next group write."""
        return len(self._queued)

    def flush_executions(self) -> int:
        """Write every queued run in one transaction; how many were written.

        A run whose deployment is gone is dropped (logged). If the database fails, the
        group goes back to the front of the queue and the error is raised."""
        with self._flush_lock:
            with self._queue_lock:
                group, self._queued = self._queued, []
            if not group:
                return 0
            try:
                with self._write() as conn:
                    if conn.dialect.name == "postgresql":
                        _copy_rows(conn, group)
                    else:
                        conn.execute(insert(executions), group)
                return len(group)
            except BaseException as err:
                if _refused_a_row(err):  # a deployment deleted meanwhile: the rest are kept
                    return self._write_one_by_one(group)
                with self._queue_lock:
                    self._queued[:0] = group
                raise

    def drop_queued_executions(self, deployment_id: str) -> None:
        """Forget the queued runs of a deployment that is being deleted."""
        with self._queue_lock:
            self._queued = [r for r in self._queued if r["deployment_id"] != deployment_id]

    def get_execution(self, id: str) -> ExecutionRecord | None:
        """The execution with this id, or None."""
        self.flush_executions()  # also waits for a flush in progress (its group left the queue)
        with self._read() as conn:
            row = conn.execute(select(executions).where(executions.c.id == id)).first()
            return _execution(row) if row is not None else None

    def list_executions(
        self, deployment_id: str | None = None, limit: int = 100, *, trace_id: str | None = None
    ) -> list[ExecutionRecord]:
        """The latest executions (of one deployment, or all; of one trace), newest first."""
        self.flush_executions()  # also waits for a flush in progress (its group left the queue)
        query = select(executions).order_by(executions.c.started_at.desc(), executions.c.id.desc())
        if deployment_id is not None:
            query = query.where(executions.c.deployment_id == deployment_id)
        if trace_id is not None:
            query = query.where(executions.c.trace_id == trace_id)
        with self._read() as conn:
            return [_execution(row) for row in conn.execute(query.limit(max(limit, 0)))]

    def close(self) -> None:
        """Write the queued runs (a failure is logged), then close every connection."""
        try:
            self.flush_executions()
        except Exception as err:
            log.error("queued executions could not be written at close: %s", err)
        super().close()

    def _write_one_by_one(self, group: list[dict[str, Any]]) -> int:
        """A group refused as a whole (a deployment deleted meanwhile): each run alone."""
        written = 0
        for row in group:
            try:
                with self._write() as conn:
                    conn.execute(insert(executions).values(row))
                written += 1
            except IntegrityError:
                log.warning(
                    "dropped an execution of a deleted deployment",
                    extra={"execution": row["id"], "deployment_id": row["deployment_id"]},
                )
        return written

    def _execution(self, conn: Connection, exec_id: str) -> ExecutionRecord:
        return _execution(conn.execute(select(executions).where(executions.c.id == exec_id)).one())
