"""Pydantic models of the versioned API (``/api/v1``): they document it at ``/docs``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Capacity(BaseModel):
    """What a device offers to placement."""

    cores: list[int] = Field(description="Millicores per core, e.g. [1000, 1000].")
    memory_mb: int
    accelerator_pct: int


class Device(BaseModel):
    """A device of the fleet."""

    id: str
    name: str
    url: str
    addresses: list[str]
    port: int
    status: str = Field(
        description="active, suspect (heartbeats late) or dead (work moved elsewhere)"
    )
    reason: str | None = Field(None, description="Why it has this status (with phi).")
    monitoring: str | None = Field(None, description="heartbeats or polls")
    phi: float | None = Field(None, description="The failure detector's current phi.")
    last_heard_s: float | None = Field(
        None,
        description="Seconds since this orchestrator last heard of the device (a heartbeat, "
        "its own or relayed by another orchestrator, or a health poll).",
    )
    placeable: bool = Field(True, description="False while flapping (no new placements).")
    unplaceable_because: str | None = Field(None, description="Why it gets no new work.")
    streams: dict[str, int] | None = Field(
        None,
        description="MQTT message counters of a device with a broker (received, handled, "
        "failed, dead_lettered, published), from its last heartbeat.",
    )
    labels: dict[str, str]
    interfaces: list[str]
    platform: dict[str, Any]
    capacity: Capacity
    health: dict[str, Any] | None
    last_seen: str | None
    failures: int


class StatusEntry(BaseModel):
    """One line of a device's status log."""

    time: str | None
    status: str
    reason: str


class DeviceDetail(Device):
    """A device with its status log."""

    status_log: list[StatusEntry]


class Module(BaseModel):
    """A module: binary facts, description and data files."""

    id: str
    name: str
    sha256: str
    size: int
    exports: list[dict[str, Any]]
    requirements: list[dict[str, Any]]
    description: dict[str, Any] | None
    functions: list[str]
    data_files: dict[str, dict[str, Any]]
    created_at: str | None
    version: int = Field(default=0, description="1, 2, 3 ... per name.")
    note: str | None = None
    created_by: str | None = None
    signed_by: str | None = Field(
        default=None,
        description="Key id of the Ed25519 key the binary is signed with (null: unsigned); "
        "verified on upload only with --require-signatures.",
    )
    versions: int | None = Field(
        default=None, description="How many versions the name has (in lists of the latest)."
    )
    created: bool | None = Field(
        default=None, description="After a push: false when the bytes were already a version."
    )
    message: str | None = Field(default=None, description="After a push: what it did.")


class ModuleVersion(BaseModel):
    """One version of a module name."""

    id: str
    name: str
    version: int
    sha256: str
    size: int
    created_at: str | None
    created_by: str | None
    note: str | None
    functions: list[str]
    deployments: list[str] = Field(description="Deployments whose plan uses this version.")


class CopyAnswer(BaseModel):
    """One device's answer to an update of a deployment's copies."""

    ok: bool
    status: int | None = None
    message: str
    from_version: int | None = None
    to_version: int | None = None


class UpdateAnswer(BaseModel):
    """What updating a deployment's copies to another module version did."""

    deployment: str
    module: str
    version: int
    devices: dict[str, CopyAnswer]
    rolled_back: bool = False


class UpdateRequest(BaseModel):
    """Move a deployment's copies of a module to another version."""

    module: str = Field(description="fibo (the latest), fibo@4, or a module id.")
    devices: list[str] | None = Field(default=None, description="Only these devices' copies.")


class Rejection(BaseModel):
    """Why one device was not chosen for a step."""

    device: str
    reason: str


class PlanStep(BaseModel):
    """Where one step runs and why."""

    step: int
    name: str
    module: str | None = Field(description="Null for a bridge step.")
    module_id: str | None
    version: int | None = Field(default=None, description="The module version the step runs.")
    function: str | None
    bridge: dict[str, Any] | None = Field(
        default=None,
        description="A bridge step's route (from, to, topics, qos), passwords left out.",
    )
    device: str
    score: float
    cores: list[int]
    fit: int = Field(description="How many devices passed every filter.")
    resources: dict[str, Any]
    rejected: list[Rejection]


class Plan(BaseModel):
    """A solved manifest."""

    strategy: str
    scorer: str
    steps: list[PlanStep]


class DeviceAnswer(BaseModel):
    """One device's answer to a deploy."""

    ok: bool
    status: int | None = None
    message: str


class Move(BaseModel):
    """A step moved by self-healing."""

    at: str
    step: int
    function: str
    from_: str = Field(alias="from")
    to: str
    reason: str
    epoch: int


class Deployment(BaseModel):
    """A manifest, its plan and each device's answer."""

    id: str
    name: str
    status: str = Field(
        description="new, deploying, active, failed, moving (self-healing) or degraded "
        "(a step's device died and nothing can host it yet)"
    )
    manifest: dict[str, Any]
    plan: Plan | None
    devices: dict[str, DeviceAnswer]
    created_at: str | None
    updated_at: str | None
    error: str | None
    epoch: int = Field(0, description="Fencing epoch: raised on every send to the devices.")
    moves: list[Move] = Field(default_factory=list, description="Steps moved by self-healing.")
    warnings: list[str] = Field(
        default_factory=list,
        description="Only in the answer to a create or update: spellings of the manifest read "
        "a new way (cpu: 2 is two cores, 512M is 512x10^6 bytes, as in Kubernetes).",
    )
    copies: list[Copy] = Field(
        default_factory=list,
        description="Every copy of every step (a fleet-wide step has one per device).",
    )


class Copy(BaseModel):
    """One copy of a step: its device, and its module version ("-" when not versioned)."""

    step: int
    function: str
    device: str
    version: int | str


class HeartbeatAnswer(BaseModel):
    """The orchestrator's answer to a heartbeat."""

    known: bool
    epochs: dict[str, int] = Field(
        default_factory=dict, description="Current epoch of each deployment the device holds."
    )


class ExecutionStep(BaseModel):
    """What one step of an execution did."""

    step: int
    device: str
    module: str
    function: str
    result: Any
    duration_ms: float | None
    result_url: str | None
    success: bool
    unconfirmed: str | None = Field(
        None, description="Set when the step ran but its record could not be read."
    )
    trace_id: str | None = Field(None, description="The trace the step's call was part of.")
    span_id: str | None = Field(None, description="The step's call's span (its supervisor's).")
    parent_span_id: str | None = Field(None, description="The span that called it.")
    started_at_ms: float | None = Field(
        None, description="Unix epoch ms when the function started, on its device's clock."
    )
    step_ms: float | None = Field(None, description="The function's own run time.")
    call_ms: float | None = Field(None, description="The whole call, its hop on included.")


class Execution(BaseModel):
    """One run of a deployment."""

    id: str
    deployment_id: str
    success: bool
    result: Any
    result_url: str | None
    steps: list[ExecutionStep]
    started_at: str | None
    finished_at: str | None
    duration_ms: float | None
    error: str | None
    trace_id: str | None = Field(
        None, description="The execution's W3C trace (GET /api/v1/executions/{id}/trace)."
    )


class TraceSpan(BaseModel):
    """One span of an execution's trace: the orchestrator's, or one step's call."""

    span_id: str | None
    parent_span_id: str | None
    name: str
    kind: str = Field(description="orchestrator or step")
    device: str | None
    start_ms: float | None = Field(description="Offset from the execution's start.")
    duration_ms: float | None
    self_ms: float | None = Field(description="The function's own time (null if unknown).")
    success: bool
    error: str | None


class ExecutionTrace(BaseModel):
    """An execution as a trace, for a waterfall."""

    trace_id: str | None
    execution: str
    deployment: str
    started_at_ms: float | None = Field(description="Unix epoch ms.")
    duration_ms: float | None
    spans: list[TraceSpan]


class CopyExecution(BaseModel):
    """The run of a pipeline started at one copy of its first step (``?all=true``)."""

    device: str
    success: bool
    result: Any
    error: str | None
    execution: Execution | None


class CopiesExecution(BaseModel):
    """``?all=true``: one run per copy of the first step."""

    copies: list[CopyExecution]


class ExecuteRequest(BaseModel):
    """Arguments of an execution (JSON form; multipart also works)."""

    args: dict[str, str | int | float | bool] = Field(default_factory=dict)


class LogEntry(BaseModel):
    """A supervisor log entry."""

    id: int | None
    time: str | None
    device: str
    level: str
    message: str
    data: dict[str, Any]


class Healing(BaseModel):
    """What self-healing has done since the orchestrator started."""

    heartbeats: int
    skipped_rounds: int = Field(
        description="Detector rounds skipped because the orchestrator's event loop was held "
        "(and those in the second after it)."
    )
    holds: int = Field(
        0,
        description="Times judging was held after a calm spell: the loop was held, relayed "
        "heartbeats arrived late, or a relaying orchestrator went quiet (logged with why).",
    )
    steps_moved: int
    moves_coalesced: int = Field(
        0, description="Move requests that joined one already waiting for the same deployment."
    )
    stale_copies_removed: int


class Leader(BaseModel):
    """Who runs the work that must happen once (docs/scale-out.md): the lease, and whether
    this orchestrator (``me``) leads; ``refused_writes`` counts its fenced writes refused."""

    me: str
    leading: bool
    role: str
    holder: str | None
    fencing: int | None
    expires_at: str | None
    since: str | None
    ttl_s: float
    gained: int
    lost: int
    refused_writes: int


class OrchestratorInfo(BaseModel):
    """Facts about the orchestrator itself."""

    version: str
    database: str
    schema_version: int
    public_url: str
    uptime_s: float
    time: str
    healing: Healing | None = None
    leader: Leader | None = None
    fanin: dict[str, Any] | None = Field(
        None,
        description="Heartbeats and events shared with the other orchestrators on the same "
        "PostgreSQL (LISTEN/NOTIFY): state up/down/off, counters, delivery latency.",
    )


class Status(BaseModel):
    """The fleet at a glance."""

    orchestrator: OrchestratorInfo
    devices: list[Device]
    deployments: list[Deployment]
    counts: dict[str, Any]
    installs: list[dict[str, Any]] = []
    """Installed apps: name, app, location, status, next fire (docs/apps.md)."""


class Forgotten(BaseModel):
    """How many devices were forgotten."""

    forgotten: int


class Removed(BaseModel):
    """Each device's answer to removing a deployment."""

    removed: dict[str, dict[str, Any]]


class ErrorBody(BaseModel):
    """The shared error shape."""

    error: dict[str, Any]
