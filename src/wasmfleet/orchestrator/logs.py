"""Supervisor logs: accept ``logData`` posts and serve them back in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.orchestrator.events import Notify, quiet
from wasmfleet.orchestrator.store import LogRecord, Store
from wasmfleet.orchestrator.views import log_view

_MAX_ENTRIES = 1000


def parse_log_data(values: list[str]) -> list[LogRecord]:
    """Turn ``logData`` form values (a JSON object or list each) into log records."""
    if not values:
        raise InvalidDocument(
            "Send the log entry as a form field named logData holding JSON, e.g. "
            'logData={"message": "...", "levelname": "INFO", "deviceName": "cam-1"}.'
        )
    entries: list[Any] = []
    for value in values:
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as err:
            raise InvalidDocument(f"logData is not valid JSON ({err}).") from None
        entries.extend(parsed if isinstance(parsed, list) else [parsed])
    if len(entries) > _MAX_ENTRIES:
        raise InvalidDocument(
            f"At most {_MAX_ENTRIES} log entries per request, got {len(entries)}."
        )
    records = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise InvalidDocument("Each logData entry must be a JSON object.")
        records.append(
            LogRecord(
                time=_time(entry.get("timestamp") or entry.get("time")),
                device=str(entry.get("deviceName") or entry.get("device") or "unknown")[:128],
                level=str(entry.get("levelname") or entry.get("level") or "INFO").upper()[:16],
                message=str(entry.get("message") or entry.get("msg") or "")[:8000],
                data=entry,
            )
        )
    return records


def parse_after(value: str | None) -> datetime | None:
    """The ``after`` query value: an ISO time (naive = UTC), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidDocument(
            f"'after' must be an ISO 8601 time like 2026-11-22T10:00:00Z, got {value!r}."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


class LogService:
    """Stores and lists supervisor logs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.notify: Notify = quiet

    def add(self, values: list[str]) -> int:
        """Store the entries of ``logData`` values (and tell ``notify``); the number stored."""
        records = parse_log_data(values)
        stored = self.store.add_logs(records)
        for record in records:
            self.notify("log", log_view(record))
        return stored

    def list(
        self,
        *,
        after: str | None = None,
        after_id: int | None = None,
        device: str | None = None,
        limit: int = 1000,
        trace_id: str | None = None,
    ) -> list[LogRecord]:
        """Entries after a time or id (of one trace: written during its calls), oldest first."""
        limit = max(1, min(limit, 10_000))
        return self.store.list_logs(
            after=parse_after(after),
            after_id=after_id,
            device=device,
            limit=limit,
            trace_id=trace_id,
        )
