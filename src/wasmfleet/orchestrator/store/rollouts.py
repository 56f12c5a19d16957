"""Rollouts: one row per rollout, at most one active rollout per deployment."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.core.rollout import ACTIVE
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.records import RolloutRecord, new_id
from wasmfleet.orchestrator.store.schema import rollouts


def _rollout(row: Row[Any]) -> RolloutRecord:
    return RolloutRecord(
        id=row.id,
        deployment_id=row.deployment_id,
        deployment=row.deployment,
        target=row.target,
        module_id=row.module_id,
        status=row.status,
        options=dict(row.options),
        waves=[list(w) for w in row.waves],
        wave=int(row.wave),
        updated=dict(row.updated),
        gates=list(row.gates),
        owed=dict(row.owed),
        skipped=dict(row.skipped),
        reason=row.reason,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def _contents(rollout: RolloutRecord) -> dict[str, Any]:
    return {
        "deployment_id": rollout.deployment_id,
        "deployment": rollout.deployment,
        "target": rollout.target,
        "module_id": rollout.module_id,
        "status": str(rollout.status),
        "options": dict(rollout.options),
        "waves": [list(w) for w in rollout.waves],
        "wave": int(rollout.wave),
        "updated": dict(rollout.updated),
        "gates": list(rollout.gates),
        "owed": dict(rollout.owed),
        "skipped": dict(rollout.skipped),
        "reason": rollout.reason,
        "holds": rollout.deployment_id if rollout.status in ACTIVE else None,
        "finished_at": rollout.finished_at,
    }


def _busy(rollout: RolloutRecord, other: str | None) -> Conflict:
    which = f" ({other})" if other else ""
    return Conflict(
        f"Deployment {rollout.deployment!r} already has an active rollout{which}; wait for "
        "it to finish, or pause or undo it (`wasmfleet rollout undo`) before starting another."
    )


class RolloutQueries(StoreBase):
    """Rollouts keyed by id; the active one of a deployment."""

    def add_rollout(self, rollout: RolloutRecord) -> RolloutRecord:
        """Store a new rollout; Conflict when its deployment already has an active one."""
        rollout_id = rollout.id or new_id()
        try:
            with self._write() as conn:
                other = conn.execute(
                    select(rollouts.c.id).where(rollouts.c.holds == rollout.deployment_id)
                ).first()
                if other is not None and rollout.status in ACTIVE:
                    raise _busy(rollout, other.id)
                now = utcnow()
                conn.execute(
                    insert(rollouts).values(
                        {
                            **_contents(rollout),
                            "id": rollout_id,
                            "created_at": rollout.created_at or now,
                            "updated_at": now,
                        }
                    )
                )
                return self._rollout(conn, rollout_id)
        except IntegrityError as err:  # a concurrent start won the unique index
            raise _busy(rollout, None) from err

    def get_rollout(self, id: str) -> RolloutRecord | None:
        """The rollout with this id, or None."""
        with self._read() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.id == id)).first()
            return _rollout(row) if row is not None else None

    def active_rollout(self, deployment_id: str) -> RolloutRecord | None:
        """The active rollout of a deployment, or None."""
        with self._read() as conn:
            row = conn.execute(select(rollouts).where(rollouts.c.holds == deployment_id)).first()
            return _rollout(row) if row is not None else None

    def list_rollouts(
        self,
        deployment_id: str | None = None,
        statuses: Collection[str] | None = None,
        limit: int = 100,
    ) -> list[RolloutRecord]:
        """Rollouts (of one deployment, in some statuses, or all), newest first."""
        query = select(rollouts).order_by(rollouts.c.created_at.desc(), rollouts.c.id.desc())
        if deployment_id is not None:
            query = query.where(rollouts.c.deployment_id == deployment_id)
        if statuses is not None:
            query = query.where(rollouts.c.status.in_(sorted(str(s) for s in statuses)))
        with self._read() as conn:
            return [_rollout(row) for row in conn.execute(query.limit(max(limit, 0)))]

    def update_rollout(self, rollout: RolloutRecord) -> RolloutRecord:
        """Replace everything but the id and ``created_at``; NotFound when it is gone."""
        try:
            with self._write() as conn:
                done = conn.execute(
                    update(rollouts)
                    .where(rollouts.c.id == rollout.id)
                    .values({**_contents(rollout), "updated_at": utcnow()})
                )
                if done.rowcount == 0:
                    raise NotFound(
                        f"No rollout {rollout.id!r}; its deployment may have been deleted."
                    )
                return self._rollout(conn, rollout.id)
        except IntegrityError as err:
            raise _busy(rollout, None) from err

    def _rollout(self, conn: Any, rollout_id: str) -> RolloutRecord:
        return _rollout(conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).one())
