"""A deployment installed on this device, as the call path sees it: modules, bound functions.

``DeploymentManager`` (deployments.py) builds these; ``CallService``, ``StreamService`` and
``BridgeService`` use them. ``DeploymentWatcher`` is how the latter two follow installs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from wasmfleet.core.device_wire import deployment_summary
from wasmfleet.core.models import DeploymentSpec, FunctionSpec, ModuleSpec
from wasmfleet.runtime.engine import CompiledModule, FuncSignature
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.supervisor.executor import SerialLane
from wasmfleet.supervisor.fencing import Lease


@dataclass(slots=True)
class ModuleRuntime:
    """A module of a live deployment: its instance, its lane and its directory."""

    spec: ModuleSpec
    compiled: CompiledModule
    instance: WasmInstance
    lane: SerialLane
    workdir: Path
    description: Any = None
    active: int = 0
    """Calls that resolved this runtime and have not finished (a swap waits for them)."""
    gate: asyncio.Future[None] | None = None
    """Set while a hot swap carries this instance's state to its successor: calls that
    have not started yet wait for it, then run on whichever version is installed."""


@dataclass(slots=True)
class BoundFunction:
    """A callable function, resolved once at deploy time for the hot path."""

    spec: FunctionSpec
    runtime: ModuleRuntime
    signature: FuncSignature
    execution_mounts: frozenset[str]
    output_mount: str | None
    fast_runs: int = 0
    """Consecutive recent calls that took under the inline threshold (see CallService)."""
    epoch: int = 0
    """The installed epoch of its deployment (fencing)."""
    lease: Lease | None = None
    """The deployment's lease when this function is stateful, else None."""
    takes_body: bool = False
    """The raw request body is the payload: the description declares a bytes body
    (``FunctionSpec.bytes_input``) and the export follows the bytes ABI."""


@dataclass(slots=True)
class Deployment:
    """A deployment installed on this device."""

    spec: DeploymentSpec
    modules: dict[str, ModuleRuntime]
    directory: Path
    deployed_at: float
    functions: dict[tuple[str, str], BoundFunction] = field(default_factory=dict)
    lease: Lease | None = None
    """Guards the stateful functions when the document asks for a lease (see fencing.py)."""

    def summary(self) -> dict[str, Any]:
        """What ``GET /deploy`` shows about this deployment."""
        installed = ((m.spec.id, name, m.compiled.sha256) for name, m in self.modules.items())
        return deployment_summary(self.spec, installed, self.deployed_at)


class DeploymentWatcher(Protocol):
    """Checks deployments before they are installed and follows them (streams.py, bridges.py)."""

    def check(self, spec: DeploymentSpec, compiled: dict[str, CompiledModule]) -> None:
        """Raise Unprocessable when this device cannot serve the deployment."""

    def installed(self, dep: Deployment) -> None:
        """A deployment was installed, replaced or restored."""

    def removed(self, dep_id: str) -> None:
        """A deployment was removed."""
