"""One simulated device: its state, what it holds, and its answers on the real protocol.

A ``SimDevice`` has no Wasm runtime and no disk. It builds its description, heartbeats and
``GET /deploy`` entries with ``core.device_wire`` and its call answers and history entries
with ``core.protocol``, exactly as the real supervisor does, and parses deploy documents with
``core.deploy_doc``. A call answers deterministically without running Wasm: a function named
``fibo`` computes the Fibonacci number its module would (i64, wrapping), any other scalar
function echoes its first argument. Its life follows ``LIFE`` (a table, like the other state
machines): ``alive`` answers and heartbeats; ``dead`` (a killed process) sends nothing and
answers 503; ``stalled`` (SIGSTOP) sends nothing and holds requests until revived.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import wasmfleet
from wasmfleet.core.args import ArgValue, Scalar, bind_arguments, format_scalar
from wasmfleet.core.deploy_doc import parse_deployment
from wasmfleet.core.device_wire import (
    deployment_summary,
    description_body,
    health_body,
    heartbeat_body,
    usage_summary,
)
from wasmfleet.core.dialect import WASI_ALL
from wasmfleet.core.errors import Fenced, IllegalTransition, NotFound, Unprocessable
from wasmfleet.core.history import RequestHistory
from wasmfleet.core.models import DeploymentSpec, FunctionSpec, WasmType
from wasmfleet.core.protocol import (
    CallAnswer,
    HistoryEntry,
    call_answer,
    new_entry,
    record_duration,
    record_run,
)

HISTORY_CAPACITY = 64
"""Request-history entries each simulated device keeps (the real default is larger)."""
CORES = 2
MEMORY_MB = 512
WASI_INTERFACES = (WASI_ALL,)
"""A simulated device answers every function it is given, so it offers all of WASI."""
_I64 = 2**64


class Life(StrEnum):
    """Whether a simulated device runs."""

    ALIVE = "alive"
    DEAD = "dead"
    """Killed: no heartbeats; every request answers 503 (the process is gone)."""
    STALLED = "stalled"
    """Stopped (SIGSTOP): no heartbeats; requests wait until it is revived (bounded)."""


class Command(StrEnum):
    """What an operator may tell a simulated device."""

    KILL = "kill"
    STALL = "stall"
    REVIVE = "revive"


LIFE: Mapping[tuple[Life, Command], Life] = {
    (Life.ALIVE, Command.KILL): Life.DEAD,
    (Life.ALIVE, Command.STALL): Life.STALLED,
    (Life.STALLED, Command.KILL): Life.DEAD,
    (Life.STALLED, Command.REVIVE): Life.ALIVE,
    (Life.DEAD, Command.REVIVE): Life.ALIVE,
}
"""(state, command) -> next state; a pair not listed is refused (IllegalTransition)."""


@dataclass(slots=True)
class Installed:
    """A deployment a simulated device holds."""

    spec: DeploymentSpec
    deployed_at: float

    def summary(self) -> dict[str, Any]:
        """Its ``GET /deploy`` entry."""
        modules = ((m.id, m.name, m.sha256) for m in self.spec.modules)
        return deployment_summary(self.spec, modules, self.deployed_at)


@dataclass(slots=True)
class SimDevice:
    """One simulated device, served under ``path`` on the simulator's server."""

    name: str
    path: str
    labels: dict[str, str] = field(default_factory=dict)
    cpu: float = 0.1
    """The CPU usage it reports (a fixed fraction: heartbeats stay cheap)."""
    life: Life = Life.ALIVE
    deployments: dict[str, Installed] = field(default_factory=dict)
    fences: dict[str, int] = field(default_factory=dict)
    history: RequestHistory = field(default_factory=lambda: RequestHistory(HISTORY_CAPACITY))
    seq: int = 0
    registered: bool = False
    calls: int = 0
    home: int = 0
    """Which of the simulator's orchestrators it reports to now (SimSettings)."""

    def command(self, command: Command) -> Life:
        """Apply ``command`` to its life; IllegalTransition when it does not apply now."""
        following = LIFE.get((self.life, command))
        if following is None:
            raise IllegalTransition(f"Device {self.name} is {self.life}; it cannot {command}.")
        self.life = following
        return following

    def description(self, heartbeat_s: float) -> dict[str, Any]:
        """Its ``GET /.well-known/wasmiot-device-description`` body."""
        return description_body(
            name=self.name,
            platform={
                "cpu": {
                    "humanReadableName": "wasmfleet simulated device",
                    "architecture": "sim",
                    "coreCount": CORES,
                    "physicalCoreCount": CORES,
                    "clockSpeed": {"Hz": None},
                },
                "memory": {"bytes": MEMORY_MB * 1024 * 1024},
                "system": {"os": "wasmfleet-sim", "kernel": "", "python": "", "hostname": ""},
            },
            interfaces=[],
            qualified=WASI_INTERFACES,
            labels=self.labels,
            version=wasmfleet.__version__,
            capacity={"cores": [1000] * CORES, "memory_mb": MEMORY_MB, "accelerator_pct": 0},
            heartbeat_interval_s=heartbeat_s,
        )

    def health(self) -> dict[str, Any]:
        """Its ``GET /health`` body."""
        return health_body(self.cpu, 0.3, [self.cpu] * CORES)

    def heartbeat(self, url: str, interval_s: float) -> dict[str, Any]:
        """The next heartbeat's body (its sequence number goes up)."""
        self.seq += 1
        return heartbeat_body(
            name=self.name,
            url=url,
            seq=self.seq,
            interval_s=interval_s,
            sent_at=time.time(),
            usage=usage_summary(self.health(), int(MEMORY_MB * 0.3), MEMORY_MB),
            deployments={d: dep.spec.epoch for d, dep in self.deployments.items()},
        )

    def raise_fences(self, epochs: Mapping[str, int]) -> None:
        """The orchestrator said which epoch of each deployment is current."""
        for dep, epoch in epochs.items():
            if epoch > self.fences.get(dep, 0):
                self.fences[dep] = epoch

    def deploy(self, body: Any) -> dict[str, Any]:
        """Install (or replace) a deployment from a deploy document; its summary."""
        spec = parse_deployment(body)
        fence = self.fences.get(spec.id, 0)
        if spec.epoch < fence:
            raise Fenced(
                f"Deployment {spec.id} epoch {spec.epoch} is older than epoch {fence}, which "
                "this device already knows; it is not installed."
            )
        for fn in spec.functions:
            if fn.returns_file:
                raise Unprocessable(
                    f"{fn.module}.{fn.name} returns a file; the simulator answers functions "
                    "with scalar results only."
                )
        installed = Installed(spec, time.time())
        self.deployments[spec.id] = installed
        return installed.summary()

    def remove(self, deployment: str, epoch: int | None = None) -> bool:
        """Remove a deployment (raising its fence to ``epoch``); False if it was not here."""
        if epoch is not None:
            self.raise_fences({deployment: epoch})
        return self.deployments.pop(deployment, None) is not None

    def call(
        self,
        deployment: str,
        module: str,
        function: str,
        method: str,
        given: Sequence[tuple[str, ArgValue]],
        base_url: str,
    ) -> tuple[CallAnswer, HistoryEntry]:
        """Run a call the simulated way; its answer and its history entry."""
        installed = self.deployments.get(deployment)
        fn = installed.spec.function(module, function) if installed is not None else None
        if installed is None or fn is None:
            raise NotFound(
                f"No function {module}.{function} in deployment {deployment} on {self.name}."
            )
        fence = self.fences.get(deployment, 0)
        if installed.spec.epoch < fence:
            raise Fenced(
                f"This copy of {deployment} (epoch {installed.spec.epoch}) was replaced by "
                f"epoch {fence}; call the current copy."
            )
        started = time.perf_counter()
        request_id = self.history.next_id(deployment, module, function)
        entry = new_entry(
            request_id, deployment, module, function, method,
            datetime.now().isoformat(), args=dict(given),
        )  # fmt: skip
        types = [_wasm_type(p.schema_type) for p in fn.params] or ["i64" for _ in given]
        values = bind_arguments(fn, types, given)
        result = format_scalar(simulated_result(fn, values), _result_type(fn))
        step_ms = (time.perf_counter() - started) * 1000
        record_run(entry, result, True, step_ms)
        record_duration(entry, step_ms)
        self.history.add(entry)
        self.calls += 1
        return call_answer(entry, base_url, True), entry


def simulated_result(fn: FunctionSpec, values: Sequence[Scalar]) -> Scalar:
    """What the simulator answers for ``fn``: Fibonacci for ``fibo``, else the first argument."""
    if fn.name == "fibo" and len(values) == 1 and isinstance(values[0], int):
        return fibonacci_i64(values[0])
    return values[0] if values else 0


def fibonacci_i64(n: int) -> int:
    """fibo(n) as the example module computes it: i64 arithmetic that wraps (0 for n <= 0)."""
    if n <= 0:
        return 0
    a, b = 0, 1  # fast doubling, modulo 2**64: bounded for any n
    for bit in bin(n)[2:]:
        c = a * ((2 * b - a) % _I64) % _I64
        d = (a * a + b * b) % _I64
        a, b = (d, (c + d) % _I64) if bit == "1" else (c, d)
    return a - _I64 if a >= _I64 // 2 else a


def _wasm_type(schema_type: str) -> WasmType:
    return "f64" if schema_type == "number" else "i64"


def _result_type(fn: FunctionSpec) -> WasmType:
    return "f64" if fn.response_schema.get("type") == "number" else "i64"
