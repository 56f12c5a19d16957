"""Devices and their status log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from wasmfleet.core.errors import Conflict
from wasmfleet.orchestrator.store.base import StoreBase, as_utc, row_by_key, utcnow
from wasmfleet.orchestrator.store.records import DeviceRecord, StatusEntry, new_id
from wasmfleet.orchestrator.store.schema import device_status, devices


def _record(row: Row[Any]) -> DeviceRecord:
    return DeviceRecord(
        id=row.id,
        name=row.name,
        addresses=list(row.addresses),
        port=row.port,
        path=row.path,
        tls=bool(row.tls),
        description=dict(row.description),
        interfaces=list(row.interfaces),
        labels=dict(row.labels),
        status=row.status,
        health=row.health,
        last_seen=row.last_seen,
        failures=row.failures,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _described(device: DeviceRecord) -> dict[str, Any]:
    """The columns that say where a device is and what it offers."""
    return {
        "addresses": list(device.addresses),
        "port": device.port,
        "path": device.path,
        "tls": device.tls,
        "description": dict(device.description),
        "interfaces": list(device.interfaces),
        "labels": dict(device.labels),
    }


class DeviceQueries(StoreBase):
    """Devices, keyed by id or name."""

    def upsert_device(self, device: DeviceRecord) -> DeviceRecord:
        """Insert or update the device with this name; the stored record.

        A new device is stored as given. An existing one keeps its id, ``created_at`` and
        its state — status, health and failures change only through ``set_device_status``
        and ``record_health`` — while its addresses, port, path, tls, description,
        interfaces and labels are replaced; ``last_seen`` moves forward if given.
        """
        try:
            return self._upsert_device(device)
        except IntegrityError:  # another writer inserted the same name first: update it
            try:
                return self._upsert_device(device)
            except IntegrityError as err:
                raise Conflict(
                    f"A device with id {device.id!r} already exists under another name; "
                    "leave the id empty to get a new one."
                ) from err

    def _upsert_device(self, device: DeviceRecord) -> DeviceRecord:
        with self._write() as conn:
            now = utcnow()
            query = select(devices).where(devices.c.name == device.name).with_for_update()
            row = conn.execute(query).first()
            values = _described(device)
            if row is None:
                device_id = device.id or new_id()
                values |= {
                    "id": device_id,
                    "name": device.name,
                    "status": device.status,
                    "health": device.health,
                    "last_seen": device.last_seen,
                    "failures": device.failures,
                    "created_at": device.created_at or now,
                    "updated_at": now,
                }
                conn.execute(insert(devices).values(values))
            else:
                device_id = row.id
                seen = device.last_seen
                if seen is not None and (row.last_seen is None or as_utc(seen) > row.last_seen):
                    values["last_seen"] = seen
                conn.execute(
                    update(devices)
                    .where(devices.c.id == device_id)
                    .values({**values, "updated_at": now})
                )
            return self._device(conn, device_id)

    def get_device(self, key: str) -> DeviceRecord | None:
        """The device with this id or name, or None."""
        with self._read() as conn:
            row = row_by_key(conn, devices, key)
            return _record(row) if row is not None else None

    def list_devices(self) -> list[DeviceRecord]:
        """Every device, sorted by name."""
        with self._read() as conn:
            rows = conn.execute(select(devices).order_by(devices.c.name)).all()
            return [_record(row) for row in rows]

    def delete_device(self, key: str) -> bool:
        """Forget a device and its status log; False when there was none."""
        with self._write() as conn:
            row = row_by_key(conn, devices, key, lock=True)
            if row is None:
                return False
            conn.execute(delete(device_status).where(device_status.c.device_id == row.id))
            conn.execute(delete(devices).where(devices.c.id == row.id))
            return True

    def delete_all_devices(self) -> int:
        """Forget every device; how many there were."""
        with self._write() as conn:
            conn.execute(delete(device_status))
            return conn.execute(delete(devices)).rowcount

    def record_health(
        self, key: str, health: dict[str, Any] | None, *, ok: bool, at: datetime
    ) -> DeviceRecord | None:
        """Record a health check: ok sets health and last_seen, clears failures; else counts one."""
        with self._write() as conn:
            row = row_by_key(conn, devices, key, lock=True)
            if row is None:
                return None
            now = utcnow()
            change = update(devices).where(devices.c.id == row.id)
            if ok:
                change = change.values(health=health, last_seen=at, failures=0, updated_at=now)
            else:
                change = change.values(failures=devices.c.failures + 1, updated_at=now)
            conn.execute(change)
            return self._device(conn, row.id)

    def record_heartbeat_health(self, beats: Sequence[tuple[str, dict[str, Any], datetime]]) -> int:
        """Record the usage of heartbeats, ``(device name, usage, when)``, in one transaction,
        as ``record_health`` does with ``ok`` for one; how many devices were updated (a device
        forgotten meanwhile is skipped)."""
        if not beats:
            return 0
        change = (
            update(devices)
            .where(devices.c.name == bindparam("b_name"))
            .values(
                health=bindparam("b_health", type_=devices.c.health.type),
                last_seen=bindparam("b_at", type_=devices.c.last_seen.type),
                failures=0,
                updated_at=utcnow(),
            )
        )
        rows = [{"b_name": name, "b_health": usage, "b_at": at} for name, usage, at in beats]
        with self._write() as conn:
            return int(conn.execute(change, rows).rowcount or 0)

    def set_device_status(
        self, key: str, status: str, reason: str, *, at: datetime | None = None
    ) -> bool:
        """Set the status; True (and a status log entry) when it changed.

        A device without any status log entry yet counts as changed, so the first
        ``set_device_status`` after registering always records why the device is active.
        """
        with self._write() as conn:
            row = row_by_key(conn, devices, key, lock=True)
            if row is None:
                return False
            logged = conn.scalar(
                select(device_status.c.id).where(device_status.c.device_id == row.id).limit(1)
            )
            if row.status == status and logged is not None:
                return False
            now = utcnow()
            conn.execute(
                update(devices).where(devices.c.id == row.id).values(status=status, updated_at=now)
            )
            conn.execute(
                insert(device_status).values(
                    device_id=row.id, time=at or now, status=status, reason=reason
                )
            )
            return True

    def status_log(self, key: str, limit: int = 100) -> list[StatusEntry]:
        """The device's last ``limit`` status changes, newest last; empty for an unknown device."""
        with self._read() as conn:
            row = row_by_key(conn, devices, key)
            if row is None:
                return []
            rows = conn.execute(
                select(device_status)
                .where(device_status.c.device_id == row.id)
                .order_by(device_status.c.id.desc())
                .limit(max(limit, 0))
            ).all()
            return [
                StatusEntry(time=r.time, status=r.status, reason=r.reason) for r in reversed(rows)
            ]

    def last_reasons(self) -> dict[str, str]:
        """Every device's latest status-log reason, by device name, in one query (listing a
        thousand devices asked one query per device)."""
        latest = (
            select(func.max(device_status.c.id).label("id"))
            .group_by(device_status.c.device_id)
            .subquery()
        )
        query = (
            select(devices.c.name, device_status.c.reason)
            .join(device_status, device_status.c.device_id == devices.c.id)
            .join(latest, latest.c.id == device_status.c.id)
        )
        with self._read() as conn:
            return {row.name: row.reason for row in conn.execute(query)}

    def _device(self, conn: Connection, device_id: str) -> DeviceRecord:
        return _record(conn.execute(select(devices).where(devices.c.id == device_id)).one())
