"""Column types shared by the schema and its migrations: UTC datetimes, JSON, ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

ID = String(64)
"""Record ids: uuid4 hex by default, anything up to 64 characters if a caller chooses."""

STATUS = String(32)

SERIAL: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""An autoincrement key: BIGSERIAL on PostgreSQL, the ROWID alias on SQLite."""


def json_column_type(*, nullable: bool = False) -> JSON:
    """JSON on both backends; ``None`` is stored as SQL NULL in nullable columns."""
    return JSON(none_as_null=nullable)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC with microseconds, read back in UTC.

    PostgreSQL keeps ``timestamptz``; SQLite keeps a fixed-width text without zone, so
    values are converted to UTC before they are written (naive values count as UTC)
    and the zone is attached again on read. Fixed width keeps text comparison in order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        """Convert to UTC (and drop the zone on SQLite)."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc: datetime = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns; convert what PostgreSQL returns to UTC."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
