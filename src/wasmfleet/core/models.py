"""The nouns of a deployment on one device, as plain immutable data.

A ``DeploymentSpec`` is what ``POST /deploy`` means once parsed, whichever of the two
wire shapes it arrived in (see ``core.deploy_doc``). Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from wasmfleet.core.places import Thing
    from wasmfleet.core.step_things import Scalar

MountStage = Literal["deployment", "execution", "output"]
WasmType = Literal["i32", "i64", "f32", "f64"]

JSON_MEDIA_TYPES = frozenset({"application/json", "text/json"})


@dataclass(frozen=True, slots=True)
class Mount:
    """A file a function reads or writes through WASI, in the module's own directory."""

    name: str
    stage: MountStage
    media_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Param:
    """One declared function parameter (from the OpenAPI description)."""

    name: str
    schema_type: str = ""
    """OpenAPI type: 'integer', 'number', ... or '' when undeclared."""
    required: bool = True


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a result goes next: a function on this or another supervisor."""

    url: str
    method: str = "GET"
    params: tuple[Param, ...] = ()
    file_mounts: tuple[str, ...] = ()
    """Multipart part names the next function expects (its execution mounts)."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """Run a function for every MQTT message on a topic matching ``topic`` (a filter)."""

    topic: str
    """A topic filter: ``+`` matches one level, a final ``#`` any number of levels."""
    qos: int = 1
    """The subscription's QoS, 0, 1 or 2."""

    def to_dict(self) -> dict[str, Any]:
        """The wire form, ``{"topic", "qos"}``."""
        return {"topic": self.topic, "qos": self.qos}


@dataclass(frozen=True, slots=True)
class Publication:
    """Publish every result of a function to one MQTT topic."""

    topic: str
    """A topic name (no wildcards)."""
    qos: int = 1
    retain: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The wire form, ``{"topic", "qos", "retain"}``."""
        return {"topic": self.topic, "qos": self.qos, "retain": self.retain}


@dataclass(frozen=True, slots=True)
class BridgeRoute:
    """A store-and-forward bridge: messages on ``topics`` copied from one broker to another."""

    destination: str
    """Broker URL to forward to, ``mqtt://[user:pass@]host[:port]`` or ``mqtts://...``."""
    topics: tuple[str, ...]
    """Topic filters to carry; topics keep their names on the destination."""
    source: str | None = None
    """Broker URL to read from; None: the broker of the supervisor that hosts the bridge."""
    qos: int = 1
    """1: outbox and persistent session (nothing lost); 0: best effort, nothing on disk."""

    def to_dict(self) -> dict[str, Any]:
        """The wire form, ``{"from", "to", "topics", "qos"}`` (``from`` may be null)."""
        return {
            "from": self.source,
            "to": self.destination,
            "topics": list(self.topics),
            "qos": self.qos,
        }


@dataclass(frozen=True, slots=True)
class BridgeSpec:
    """A bridge a deployment runs on a device: a name unique on the device and its route."""

    name: str
    """``<deployment id>-<step index>``: names the outbox file and the client id."""
    route: BridgeRoute

    def to_dict(self) -> dict[str, Any]:
        """The deployment document's entry, ``{"name", "from", "to", "topics", "qos"}``."""
        return {"name": self.name, **self.route.to_dict()}


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """How one exported function is called over HTTP and what it answers."""

    module: str
    name: str
    method: str = "GET"
    params: tuple[Param, ...] = ()
    response_media_type: str = "application/json"
    response_schema: dict[str, Any] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    to: Endpoint | None = None
    trigger: Trigger | None = None
    """Run for each MQTT message matching this filter (``instructions...trigger``)."""
    publish: Publication | None = None
    """Publish each result to this topic (``instructions...publish``)."""
    things: Mapping[str, Thing] = field(default_factory=dict, hash=False)
    """An app install's sensors and controllers, by binding name (``instructions...things``)."""
    app_params: Mapping[str, Scalar] = field(default_factory=dict, hash=False)
    """An app install's parameter values (``instructions...params``)."""
    bytes_input: str | None = None
    """Media type of the raw request body a bytes-ABI function takes as its payload (the
    description's non-multipart ``requestBody``, or ``x-bytes.input``); None: arguments."""
    bytes_output: str | None = None
    """Media type of a bytes-ABI function's output buffer (``x-bytes.output``); None: it
    returns a scalar or nothing."""

    def mounts_at(self, stage: MountStage) -> tuple[Mount, ...]:
        """The mounts of one stage, in declaration order."""
        return tuple(m for m in self.mounts if m.stage == stage)

    @property
    def returns_file(self) -> bool:
        """True when the response is an output file rather than a JSON value."""
        media = self.response_media_type.split(";")[0].strip().lower()
        return bool(media) and media not in JSON_MEDIA_TYPES


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    """A module a deployment needs: where to fetch it and its data files."""

    id: str
    name: str
    binary_url: str
    description_url: str | None = None
    other: tuple[tuple[str, str], ...] = ()
    """Data files fetched at deploy time: (file name, url)."""
    sha256: str | None = None
    """Expected sha256 of the binary, when the deployment gives one."""
    file_sha256: tuple[tuple[str, str], ...] = ()
    """Expected sha256 per data file name, when given."""
    description_sha256: str | None = None
    """Expected sha256 of the description's bytes, when given (a device may then reuse a
    description it verified before instead of downloading it)."""


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """A parsed deployment: its modules, every function it exposes, and its bridges."""

    id: str
    modules: tuple[ModuleSpec, ...]
    functions: tuple[FunctionSpec, ...]
    shape: Literal["readme", "orchestrator"] = "readme"
    epoch: int = 0
    """The deployment's generation (fencing); 0 for documents that carry none (wasmiot)."""
    lease_s: float = 0.0
    """How long stateful functions may be served without orchestrator contact; 0: no lease."""
    stateful: frozenset[tuple[str, str]] = frozenset()
    """(module, function) pairs served only while the lease holds (``fencing.stateful``)."""
    bridges: tuple[BridgeSpec, ...] = ()
    """Store-and-forward bridges to run while the deployment is installed (``bridges``)."""

    def module(self, name: str) -> ModuleSpec | None:
        """The module of that name, if this deployment has it."""
        return next((m for m in self.modules if m.name == name), None)

    def function(self, module: str, name: str) -> FunctionSpec | None:
        """The function of that module and name, if this deployment exposes it."""
        return next((f for f in self.functions if f.module == module and f.name == name), None)

    def functions_of(self, module: str) -> tuple[FunctionSpec, ...]:
        """Every exposed function of one module."""
        return tuple(f for f in self.functions if f.module == module)
