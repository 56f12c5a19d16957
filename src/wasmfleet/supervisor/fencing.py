"""Fencing by epoch and leases for stateful functions: who may still serve a deployment.

Every deployment document may carry an ``epoch`` (its generation). The supervisor keeps,
per deployment id, the *fence*: the highest epoch it was ever told about — by a deploy
document, a heartbeat answer, or a caller's ``X-Wasmfleet-Epoch`` header. A copy whose
installed epoch is below its fence is stale (the orchestrator moved the work elsewhere) and
refuses calls with ``Fenced`` (409). Fences are kept in ``<data>/fences.json`` (written
atomically) and outlive the deployments they guard, so replaying an old document later is
refused too. Documents without an epoch (0) are never fenced unless a fence > 0 exists.

A *lease* guards the functions a document lists in ``fencing.stateful``: they are served only
while ``monotonic() <= lease.until``. Receiving the document grants ``lease_s``; every
acknowledged heartbeat extends it to ``<when that heartbeat was sent> + lease_s``. A device
cut off from its orchestrator thus stops serving a stateful step on its own, before the
orchestrator (which waits longer than the lease) starts it elsewhere. Restored deployments
start with an expired lease: a restart is no proof of contact.

The checks on the call path are a dict lookup and a comparison or two (``CallService``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmfleet.core.errors import BadRequest, Fenced, LeaseExpired
from wasmfleet.core.protocol import EPOCH_HEADER
from wasmfleet.service.files import write_atomic

log = logging.getLogger("wasmfleet.supervisor.fencing")

FENCES_FILE = "fences.json"


@dataclass(slots=True)
class Lease:
    """The lease of one deployment's stateful functions (shared by its bound functions)."""

    seconds: float
    until: float = -math.inf
    """``time.monotonic()`` up to which stateful functions may be served."""

    def grant(self, now: float) -> None:
        """Start a full lease at ``now`` (a deploy document was just received)."""
        self.until = now + self.seconds

    def renew(self, sent_at: float) -> None:
        """Extend after an acknowledged heartbeat that was sent at ``sent_at`` (monotonic)."""
        self.until = max(self.until, sent_at + self.seconds)


class FenceBook:
    """The fence of every deployment id this device has heard of, persisted in the data dir."""

    def __init__(self, data_dir: Path, device: str) -> None:
        self.path = data_dir / FENCES_FILE
        self.device = device
        self.fences: dict[str, int] = self._load()
        """deployment id -> highest epoch seen; read directly on the call path."""
        self.writes = 0

    def _load(self) -> dict[str, int]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            log.error(
                "could not read the stored fences; starting without", extra={"error": str(err)}
            )
            return {}
        fences = raw.get("fences") if isinstance(raw, dict) else None
        if not isinstance(fences, dict):
            return {}
        return {
            str(k): v
            for k, v in fences.items()
            if isinstance(v, int) and not isinstance(v, bool) and v > 0
        }

    def get(self, dep_id: str) -> int:
        """The fence of a deployment (0 when none was ever seen)."""
        return self.fences.get(dep_id, 0)

    def raise_to(self, dep_id: str, epoch: int) -> bool:
        """Raise one fence to ``epoch`` (never lower it); True (and persisted) if it rose."""
        return self.raise_many({dep_id: epoch})

    def raise_many(self, epochs: dict[str, int]) -> bool:
        """Raise several fences at once, with one write; True if any rose."""
        risen = {d: e for d, e in epochs.items() if e > self.fences.get(d, 0)}
        if not risen:
            return False
        self.fences.update(risen)
        log.info(
            "fence raised",
            extra={"fences": ",".join(f"{d}={e}" for d, e in sorted(risen.items()))},
        )
        self._save()
        return True

    def _save(self) -> None:
        data = json.dumps({"fences": self.fences}, sort_keys=True).encode()
        try:
            write_atomic(self.path, data)
            self.writes += 1
        except OSError as err:  # keep serving from memory; the next raise tries again
            log.error("could not store the fences", extra={"error": str(err)})

    # -- checks -----------------------------------------------------------------------------

    def check_deploy(self, dep_id: str, epoch: int) -> None:
        """Refuse a deploy document older than the fence of its deployment."""
        fence = self.fences.get(dep_id, 0)
        if epoch < fence:
            raise Fenced(
                f"Deployment {dep_id} on device {self.device}: this document has epoch {epoch}, "
                f"but a newer epoch {fence} was already seen; refusing to install a stale copy "
                "(send the current document of the deployment)."
            )

    def check_call(self, dep_id: str, installed: int, header: str | None) -> None:
        """Refuse a call of a stale copy, or from a caller at an older epoch (the slow path)."""
        if header is not None:
            caller = parse_epoch_header(header)
            if caller > installed:
                self.raise_to(dep_id, caller)
            elif caller < installed:
                raise Fenced(
                    f"Deployment {dep_id} on device {self.device} is at epoch {installed}, but "
                    f"this call comes from epoch {caller}: the caller is a stale copy and its "
                    "work was moved elsewhere, so the call is refused."
                )
        fence = self.fences.get(dep_id, 0)
        if installed < fence:
            raise Fenced(
                f"Deployment {dep_id} on device {self.device} is at epoch {installed}, but "
                f"epoch {fence} exists: this copy is stale and refuses calls (the orchestrator "
                "moved its work elsewhere)."
            )


def parse_epoch_header(text: str) -> int:
    """The value of an ``X-Wasmfleet-Epoch`` header, or BadRequest saying what it must be."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadRequest(
            f"The {EPOCH_HEADER} header must be a whole number >= 0 (the caller's epoch of "
            f"the deployment), got {text!r}."
        )
    return int(value)


def parse_epoch_query(text: str) -> int:
    """The ``?epoch=`` of a ``DELETE /deploy/{id}``, or BadRequest saying what it must be."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise BadRequest(
            f"epoch must be a whole number >= 0 (the epoch that replaced this copy), got {text!r}."
        )
    return int(value)


def lease_expired(module: str, function: str, lease: Lease, now: float) -> LeaseExpired:
    """The refusal of a stateful function whose lease ran out."""
    silent = lease.seconds + (now - lease.until)
    heard = (
        "has not heard from its orchestrator since this deployment was restored"
        if math.isinf(lease.until)
        else f"has not heard from its orchestrator for {silent:.1f} s"
    )
    return LeaseExpired(
        f"{module}.{function} is stateful and this device {heard} (lease "
        f"{lease.seconds:g} s): refusing to serve so that no two devices serve it at once."
    )


def lease_state(lease: Lease, stateful: frozenset[tuple[str, str]], now: float) -> dict[str, Any]:
    """How a deployment's lease looks in /api/v1/status."""
    remaining = lease.until - now
    return {
        "lease_s": lease.seconds,
        "valid": remaining >= 0,
        "remaining_s": round(remaining, 3) if math.isfinite(remaining) else None,
        "stateful": sorted(f"{m}.{f}" for m, f in stateful),
    }
