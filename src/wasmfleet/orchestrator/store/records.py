"""The records the orchestrator stores: plain dataclasses, JSON-able fields, UTC datetimes.

A record with ``id == ""`` has not been stored yet; the store gives it a uuid4 hex id on
insert and fills ``created_at``/``updated_at``. Every method of the store returns fresh
records, never the objects it was given.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wasmfleet.core.lifecycle import DeploymentStatus


def new_id() -> str:
    """A fresh record id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


@dataclass(slots=True)
class DeviceRecord:
    """A machine running a supervisor, as discovered and health-checked."""

    name: str
    id: str = ""
    addresses: list[str] = field(default_factory=list)
    port: int = 0
    path: str = "/"
    tls: bool = False
    description: dict[str, Any] = field(default_factory=dict)
    """The device's wasmiot-device-description JSON."""
    interfaces: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    status: str = "active"
    """``active``, ``suspect``, ``dead`` or ``inactive`` (not answering health polls)."""
    health: dict[str, Any] | None = None
    """The last ``/health`` answer."""
    last_seen: datetime | None = None
    failures: int = 0
    """Consecutive failed health checks."""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class StatusEntry:
    """One change of a device's status, with the reason for it."""

    time: datetime
    status: str
    reason: str


@dataclass(slots=True)
class ModuleRecord:
    """A ``.wasm`` binary (by sha256) with its exports, imports, description and data files."""

    name: str
    sha256: str
    size: int
    id: str = ""
    exports: list[dict[str, Any]] = field(default_factory=list)
    """``[{"name", "parameterCount", "params": [...], "results": [...]}]``"""
    requirements: list[dict[str, Any]] = field(default_factory=list)
    """``[{"module", "name", "kind"}]``"""
    description: dict[str, Any] | None = None
    """OpenAPI 3.0.3."""
    data_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """File name → ``{"sha256", "size", "media_type", "stage"}``."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    """1, 2, 3 ... per name, given on insert (0: not stored yet); a version is immutable."""
    note: str | None = None
    """What the person who pushed it said about it."""
    created_by: str | None = None
    """Who pushed it (as they said; not authenticated)."""


@dataclass(slots=True)
class DeploymentRecord:
    """A manifest, its plan and per-device documents, and how deploying it went."""

    name: str
    manifest: dict[str, Any]
    """What the user sent."""
    id: str = ""
    status: DeploymentStatus = DeploymentStatus.NEW
    """Where it is in its lifecycle (core/lifecycle.py): ``new``, ``deploying``, ``active``,
    ``failed``, ``degraded`` (a step's device died and no other device can host it; retried
    when the fleet changes) or ``moving`` (a re-placement was decided and is being sent;
    resumed after an orchestrator restart). Changed only through ``lifecycle.advance``."""
    plan: dict[str, Any] | None = None
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device name → deployment document."""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device name → ``{"ok", "status", "message"}``."""
    module_ids: list[str] = field(default_factory=list)
    """The ids of the modules the plan uses (see ``Store.deployments_using_module``)."""
    error: str | None = None
    """Why the last deploy failed, in a sentence; None when it did not."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    epoch: int = 0
    """Fencing epoch: +1 each time documents are sent; supervisors refuse older copies."""
    moves: list[dict[str, Any]] = field(default_factory=list)
    """Steps moved by self-healing, newest last: ``{"at", "step", "from", "to", "reason",
    "epoch"}``."""
    warnings: tuple[str, ...] = ()
    """Not stored: what reading the manifest of this request warned about (spellings read a
    new way, see ``core.resources``), for the answer to the request that sent it."""


@dataclass(slots=True)
class ExecutionRecord:
    """One run of a deployment, step by step."""

    deployment_id: str
    id: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    success: bool = False
    request: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    """Any JSON value."""
    result_url: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    trace_id: str | None = None
    """The W3C trace of this run (core/tracing.py); None for runs recorded before traces."""


@dataclass(slots=True)
class LogRecord:
    """One log entry a supervisor sent."""

    time: datetime
    device: str
    level: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    """The full entry as the supervisor sent it."""
    id: int | None = None
    """Assigned on insert, increasing."""


@dataclass(slots=True)
class RolloutRecord:
    """A deployment's copies moving to another module version in waves (core/rollout.py)."""

    deployment_id: str
    deployment: str
    """The deployment's name when the rollout started."""
    target: str
    """The module reference the user asked for (``fibo@4``, ``fibo`` or an id)."""
    module_id: str
    """The id of the module version the copies move to."""
    id: str = ""
    status: str = "pending"
    """A ``core.rollout.RolloutStatus``; changed only through ``rollout.advance``."""
    options: dict[str, Any] = field(default_factory=dict)
    """``RolloutOptions.to_dict()``."""
    waves: list[list[str]] = field(default_factory=list)
    """Device names per wave, canary first."""
    wave: int = 0
    """Index of the wave being updated or gated (``len(waves)`` once every wave passed)."""
    updated: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device → ``{"from_module_id", "wave", "mark", "at"}``, stored *before* the update is
    sent, so a restart knows what to put back."""
    gates: list[dict[str, Any]] = field(default_factory=list)
    """One per judged wave: ``{"wave", "passed", "reason", "baseline", "candidate", "at"}``."""
    owed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device → ``{"module_id", "reason"}``: a copy not yet put back (its device was down)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Device → why a copy was left out of a later gate (its device died after passing)."""
    reason: str | None = None
    """Why the rollout stopped, rolled back, or failed, in a sentence."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(slots=True)
class UserRecord:
    """A person or CI job that holds API tokens."""

    name: str
    role: str
    id: str = ""
    created_at: datetime | None = None
    disabled_at: datetime | None = None
    """When the user was disabled (their tokens are refused from then on); None if active."""
    locations: list[str] | None = None
    """Where an end user may install apps (at or below these paths); None: anywhere."""


@dataclass(slots=True)
class TokenRecord:
    """An API token: the sha256 of its secret, never the secret itself."""

    sha256: str
    name: str
    user_id: str
    role: str
    id: str = ""
    user: str = ""
    """The user's name (filled in on read)."""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    user_disabled_at: datetime | None = None
    """When the token's user was disabled (filled in on read)."""


@dataclass(slots=True)
class AuditRecord:
    """One change made through the API: who, when, which route and target, the outcome."""

    actor: str
    method: str
    route: str
    path: str
    status: int
    time: datetime | None = None
    token_id: str | None = None
    role: str | None = None
    target: str | None = None
    id: int = 0
