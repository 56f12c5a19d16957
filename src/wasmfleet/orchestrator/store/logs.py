"""Supervisor log entries, and the counts of everything stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, insert, select

from wasmfleet.orchestrator.store.base import StoreBase, as_utc
from wasmfleet.orchestrator.store.records import LogRecord
from wasmfleet.orchestrator.store.schema import deployments, devices, executions, logs, modules


class LogQueries(StoreBase):
    """Log entries, ordered by time; and ``counts``."""

    def add_logs(self, entries: list[LogRecord]) -> int:
        """Store log entries (their ``id`` is set); how many were stored."""
        if not entries:
            return 0
        rows = [
            {
                "time": as_utc(e.time),
                "device": e.device,
                "level": e.level,
                "message": e.message,
                "data": dict(e.data),
            }
            for e in entries
        ]
        with self._write() as conn:
            query = insert(logs).returning(logs.c.id, sort_by_parameter_order=True)
            ids = conn.execute(query, rows).scalars().all()
        for entry, log_id in zip(entries, ids, strict=True):
            entry.id = log_id
        return len(ids)

    def list_logs(
        self,
        *,
        after: datetime | None = None,
        after_id: int | None = None,
        device: str | None = None,
        limit: int = 1000,
        trace_id: str | None = None,
    ) -> list[LogRecord]:
        """Entries strictly after a time and/or an id, of one device or all; oldest first.

        Entries are ordered by time (ties by id); when ``after_id`` is given, by id, so
        that paging with the last id seen never skips an entry that arrived late.
        """
        query = select(logs)
        if after is not None:
            query = query.where(logs.c.time > after)
        if after_id is not None:
            query = query.where(logs.c.id > after_id).order_by(logs.c.id)
        else:
            query = query.order_by(logs.c.time, logs.c.id)
        if device is not None:
            query = query.where(logs.c.device == device)
        if trace_id is not None:
            # The trace id is inside the entry's JSON (no column of its own): the text match
            # narrows in SQL (trace ids are plain hex), the check below makes it exact.
            query = query.where(cast(logs.c.data, Text).contains(trace_id))
        with self._read() as conn:
            found = [
                LogRecord(
                    id=row.id,
                    time=row.time,
                    device=row.device,
                    level=row.level,
                    message=row.message,
                    data=dict(row.data),
                )
                for row in conn.execute(query.limit(max(limit, 0)))
            ]
        if trace_id is None:
            return found
        return [r for r in found if r.data.get("trace_id") == trace_id]

    def delete_logs(self, *, before: datetime) -> int:
        """Delete the entries older than ``before``; how many were deleted."""
        with self._write() as conn:
            return conn.execute(delete(logs).where(logs.c.time < before)).rowcount

    def counts(self) -> dict[str, Any]:
        """How many devices and deployments per status, modules, executions and log entries."""
        with self._read() as conn:
            by_status = select(devices.c.status, func.count()).group_by(devices.c.status)
            dep_status = select(deployments.c.status, func.count()).group_by(deployments.c.status)
            failed = func.count().filter(executions.c.success.is_(False))
            runs = select(func.count(), failed).select_from(executions)
            total_runs, failed_runs = conn.execute(runs).one()
            return {
                "devices": {s: n for s, n in conn.execute(by_status).all()},
                "modules": conn.scalar(select(func.count()).select_from(modules)) or 0,
                "deployments": {s: n for s, n in conn.execute(dep_status).all()},
                "executions": {"total": total_runs, "failed": failed_runs or 0},
                "logs": conn.scalar(select(func.count()).select_from(logs)) or 0,
            }
