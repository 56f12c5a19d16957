"""What a device says to the orchestrator, and how it reads the answers, written once.

The real supervisor (``supervisor/``) and the device simulator (``sim/``) both build their
registration, device description, health, heartbeat and ``GET /deploy`` bodies with these
functions and read heartbeat answers with ``read_heartbeat_answer``, so the two cannot speak
different dialects. Call answers and request-history entries are in ``core.protocol``; deploy
documents are parsed by ``core.deploy_doc``. Nothing here does I/O: callers pass the facts
(their name, address, usage figures) in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wasmfleet.core.bounds import MAX_DB_INT, is_db_int
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.models import DeploymentSpec
from wasmfleet.core.names import check_identifier

REGISTER_PATH = "/file/device/discovery/register"
"""Where a device registers itself with the orchestrator (the wasmiot route)."""
HEARTBEAT_PATH = "/api/v1/heartbeat"
"""Where a device pushes its heartbeats."""
DESCRIPTION_PATH = "/.well-known/wasmiot-device-description"
"""Where a device describes itself (the orchestrator reads it when the device registers)."""
ORCHESTRATOR_SET_HEADER = "Custom-Orchestrator-Set"
"""The ``GET /health`` header saying whether the device knows its orchestrator."""


def registration_body(
    name: str, port: int, address: str, *, tls: bool = False, path: str = "/"
) -> dict[str, Any]:
    """The JSON body the wasmiot orchestrator expects from a registering device."""
    return {
        "name": name,
        "port": port,
        "properties": {"path": path, "tls": "1" if tls else "0", "address": address},
        "addresses": [address],
    }


def description_body(
    *,
    name: str,
    platform: Mapping[str, Any],
    interfaces: Iterable[str],
    qualified: Iterable[str],
    labels: Mapping[str, str],
    version: str,
    capacity: Mapping[str, Any],
    heartbeat_interval_s: float,
    nn: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of ``GET /.well-known/wasmiot-device-description``.

    ``interfaces`` are the bare wasmiot names (``supervisorInterfaces``), ``qualified`` the
    wasmfleet names; ``nn`` (WASI-NN backends and models) goes under ``wasmfleet.nn``."""
    described: dict[str, Any] = {
        "platform": dict(platform),
        "supervisorInterfaces": list(interfaces),
        "wasmfleet": {
            "name": name,
            "labels": dict(labels),
            "interfaces": list(qualified),
            "version": version,
            "capacity": dict(capacity),
            "heartbeat_interval_s": heartbeat_interval_s,
        },
    }
    if nn is not None:
        described["wasmfleet"]["nn"] = dict(nn)
    return described


def health_body(cpu: float, memory: float, cpu_per_core: Iterable[float]) -> dict[str, Any]:
    """The wasmiot ``GET /health`` body: CPU and memory usage as fractions in [0, 1]."""
    return {
        "cpuUsage": _fraction(cpu),
        "memoryUsage": _fraction(memory),
        "cpuPerCore": [_fraction(value) for value in cpu_per_core],
    }


def usage_summary(
    health: Mapping[str, Any], memory_used_mb: int, memory_total_mb: int
) -> dict[str, Any]:
    """A heartbeat's ``usage``: a health body's fractions plus memory in MiB."""
    return {
        "cpu": health["cpuUsage"],
        "cpu_per_core": health["cpuPerCore"],
        "memory": health["memoryUsage"],
        "memory_used_mb": memory_used_mb,
        "memory_total_mb": memory_total_mb,
    }


def heartbeat_body(
    *,
    name: str,
    url: str,
    seq: int,
    interval_s: float,
    sent_at: float,
    usage: Mapping[str, Any],
    deployments: Mapping[str, int],
    streams: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The body of ``POST /api/v1/heartbeat`` (``deployments``: id -> installed epoch)."""
    body: dict[str, Any] = {
        "name": name,
        "url": url,
        "seq": seq,
        "interval_s": interval_s,
        "sent_at": sent_at,
        "usage": usage,
        "deployments": dict(deployments),
    }
    if streams is not None:
        body["streams"] = dict(streams)
    return body


class HeartbeatVerdict(StrEnum):
    """What a heartbeat answer means for the device that sent it."""

    ACKNOWLEDGED = "acknowledged"
    """The orchestrator knows the device; fences rise to the epochs it lists."""
    UNKNOWN = "unknown"
    """The orchestrator does not know the device (it lost its state): register again."""
    FAILED = "failed"
    """No heartbeat answer (an error, a proxy's page): count it and keep sending."""


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """A heartbeat answer as the device reads it."""

    verdict: HeartbeatVerdict
    epochs: dict[str, int] = field(default_factory=dict)
    """The current epoch of each deployment the device holds (only when acknowledged)."""
    reason: str = ""
    """Why it failed, for the device's status (only when failed)."""


def read_heartbeat_answer(status: int, data: object) -> HeartbeatReply:
    """Read ``POST /api/v1/heartbeat``'s answer (``data``: the decoded JSON, or None)."""
    known = data.get("known") if isinstance(data, Mapping) else None
    if status == 200 and known is True:
        epochs = data.get("epochs") if isinstance(data, Mapping) else None
        valid = {
            str(dep): epoch
            for dep, epoch in (epochs.items() if isinstance(epochs, Mapping) else ())
            if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0
        }
        return HeartbeatReply(HeartbeatVerdict.ACKNOWLEDGED, valid)
    if status in (200, 404) and known is False:
        return HeartbeatReply(HeartbeatVerdict.UNKNOWN)
    what = "no heartbeat answer" if known is None else f"known={known!r}"
    return HeartbeatReply(HeartbeatVerdict.FAILED, reason=f"HTTP {status} ({what})")


def deployment_summary(
    spec: DeploymentSpec, modules: Iterable[tuple[str, str, str | None]], deployed_at: float
) -> dict[str, Any]:
    """What ``GET /deploy`` shows about one installed deployment (``modules``: the installed
    modules as ``(id, name, sha256)``)."""
    return {
        "deploymentId": spec.id,
        "shape": spec.shape,
        "epoch": spec.epoch,
        "deployedAt": deployed_at,
        "modules": [
            {
                "id": module_id,
                "name": name,
                "sha256": sha256,
                "functions": [f.name for f in spec.functions_of(name)],
            }
            for module_id, name, sha256 in modules
        ],
        "bridges": [b.name for b in spec.bridges],
    }


def _fraction(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


class Heartbeat:
    """A heartbeat body as the orchestrator reads it (``heartbeat_body`` writes one), validated."""

    __slots__ = ("deployments", "interval_s", "name", "seq", "streams", "usage")

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise InvalidDocument(
                'A heartbeat must be a JSON object like {"name": "cam-1", "interval_s": 0.5, '
                '"deployments": {"<id>": 3}, "usage": {...}}.'
            )
        self.name = check_identifier("Heartbeat name", body.get("name"))
        interval = body.get("interval_s", 0.5)
        if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
            raise InvalidDocument(f"'interval_s' must be a positive number, got {interval!r}.")
        self.interval_s = float(interval)
        seq = body.get("seq")
        self.seq: int | None = seq if is_db_int(seq) else None
        deployments = body.get("deployments") or {}
        if not isinstance(deployments, dict) or not all(
            isinstance(k, str) and is_db_int(v) and v >= 0 for k, v in deployments.items()
        ):
            raise InvalidDocument(
                "'deployments' must map each deployment id to its epoch (a whole number from "
                f"0 to {MAX_DB_INT})."
            )
        self.deployments: dict[str, int] = dict(deployments)
        usage = body.get("usage") or {}
        self.usage: dict[str, Any] = usage if isinstance(usage, dict) else {}
        streams = body.get("streams")
        self.streams: dict[str, int] | None = None
        if isinstance(streams, dict):
            self.streams = {str(k): v for k, v in streams.items() if is_db_int(v)}
