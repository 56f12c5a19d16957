"""An app install's sensors, controllers and parameters on this device (docs/module-authors.md).

A deployed function whose instructions carry ``things`` and ``params`` (core/step_things.py)
reaches them through ``wasmfleet.thing_read``, ``thing_send`` and ``param``
(runtime/host/things.py), by the app's binding names. ``ThingService`` is that host side:

- **Sensors on a topic.** Their topics are subscribed (through the supervisor's one MQTT
  link, beside the triggers: streams.py asks ``sensor_topics``) and the latest message on
  each is kept; a read answers it as the sensor's declared outputs (other fields of the
  message are left out; a bare number is the value of a sensor's only output).
- **Things attached to this device** go through local drivers: a ``temperature`` or
  ``humidity`` sensor reads the simulated DHT; a controller is a simulated actuator that
  remembers its last command and counts them (``GET /api/v1/things``).
- **Controllers on a topic** get each command published (QoS 1) as compact JSON, after it
  was checked against the controller's inputs.

A deployment whose function uses a thing attached to another device, or a topic thing on a
device without a broker, is refused (422) before it is installed. Host calls come from
worker threads; the books are guarded by one lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from wasmfleet.core.errors import InvalidArgument, Unprocessable
from wasmfleet.core.models import DeploymentSpec, FunctionSpec
from wasmfleet.core.places import Thing
from wasmfleet.messaging.envelope import unwrap
from wasmfleet.runtime.engine import CompiledModule
from wasmfleet.runtime.host import things as abi
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.runtime.host.messaging import E_BUSY, PUBLISH_OK
from wasmfleet.supervisor.deployment import Deployment

log = logging.getLogger("wasmfleet.supervisor.things")
SENSOR_QOS = 0
"""Readings are subscribed at QoS 0: only the latest one matters."""
_DRIVER_FIELDS = {
    "temperature": ("celsius", "temperature", "temp"),
    "humidity": ("humidity", "rh", "percent"),
}
"""Local drivers: sensor type → output field names the simulated DHT can fill."""

Key = tuple[str, str, str]
"""(deployment, module, function)."""


@dataclass(slots=True)
class Bound:
    """What one deployed function may reach: things by binding name, and parameters."""

    things: Mapping[str, Thing]
    params: Mapping[str, bytes]
    """Parameter name → its value as JSON text."""


@dataclass(slots=True)
class Reading:
    """The latest message on a sensor topic."""

    payload: bytes
    at: float
    count: int = 1


@dataclass(slots=True)
class Actuator:
    """Commands sent to one controller from this device (simulated when device-attached)."""

    via: str
    last: dict[str, Any] = field(default_factory=dict)
    count: int = 0
    at: float = 0.0
    by: str = ""


class ThingService:
    """Bound things per deployed function, latest readings, simulated actuators."""

    def __init__(self, device: str, devices: HostDevices) -> None:
        self.device = device
        self.devices = devices
        self._bound: dict[Key, Bound] = {}
        self._readings: dict[str, Reading] = {}
        self._actuators: dict[str, Actuator] = {}
        self._topics: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.refused = 0
        """Commands and readings refused as not fitting the thing's params."""

    # -- following deployments (DeploymentWatcher) ----------------------------------------

    def check(self, spec: DeploymentSpec, compiled: dict[str, CompiledModule]) -> None:
        """Refuse a function using a thing this device cannot reach, with a sentence."""
        for fn in spec.functions:
            for binding, thing in fn.things.items():
                self._check_reach(fn, binding, thing)

    def _check_reach(self, fn: FunctionSpec, binding: str, thing: Thing) -> None:
        what = f"{fn.module}.{fn.name} uses {binding} ({thing.kind} {thing.name!r})"
        if thing.via.kind == "device" and thing.via.target != self.device:
            raise Unprocessable(
                f"{what}, which is attached to device {thing.via.target!r}, not to this "
                f"device ({self.device!r}); deploy the step to {thing.via.target!r}."
            )
        if thing.via.kind == "topic" and self.devices.mqtt is None:
            raise Unprocessable(
                f"{what}, reached on MQTT topic {thing.via.target!r}, but this device has "
                "no MQTT broker; deploy it to a device started with --broker mqtt://host:1883."
            )

    def installed(self, dep: Deployment) -> None:
        """Bind the deployment's functions to their things and parameters."""
        with self._lock:
            self._forget(dep.spec.id)
            for (module, function), bound in dep.functions.items():
                spec = bound.spec
                if not spec.things and not spec.app_params:
                    continue
                params = {k: orjson.dumps(v) for k, v in spec.app_params.items()}
                self._bound[(dep.spec.id, module, function)] = Bound(dict(spec.things), params)
            self._refresh()

    def removed(self, dep_id: str) -> None:
        """Forget the deployment's bindings (and readings no binding needs any more)."""
        with self._lock:
            self._forget(dep_id)
            self._refresh()

    def _forget(self, dep_id: str) -> None:
        for key in [k for k in self._bound if k[0] == dep_id]:
            del self._bound[key]

    def _refresh(self) -> None:
        self._topics = frozenset(
            t.via.target
            for b in self._bound.values()
            for t in b.things.values()
            if t.kind == "sensor" and t.via.kind == "topic"
        )
        for topic in [t for t in self._readings if t not in self._topics]:
            del self._readings[topic]

    # -- readings (the event loop, from streams.py) ---------------------------------------

    def sensor_topics(self) -> dict[str, int]:
        """The sensor topics to subscribe to, with their QoS."""
        return dict.fromkeys(sorted(self._topics), SENSOR_QOS)

    def reading(self, topic: str, payload: bytes) -> bool:
        """Keep ``payload`` as the latest reading on ``topic``; True when a sensor wants it."""
        if topic not in self._topics:
            return False
        envelope = unwrap(payload)
        data = envelope.payload if envelope is not None else payload
        with self._lock:
            before = self._readings.get(topic)
            count = before.count + 1 if before is not None else 1
            self._readings[topic] = Reading(data, time.time(), count)
        return True

    # -- host calls (worker threads: runtime/host/things.py) ------------------------------

    def _thing(self, ctx: GuestContext, name: str) -> Thing | None:
        bound = self._bound.get((ctx.deployment, ctx.module, ctx.function))
        return None if bound is None else bound.things.get(name)

    def read(self, ctx: GuestContext, name: str) -> bytes | int:
        """The latest reading of the caller's sensor ``name`` as JSON, or a negative code."""
        with self._lock:
            thing = self._thing(ctx, name)
            if thing is None:
                return abi.E_UNBOUND
            if thing.kind != "sensor":
                return abi.E_KIND
            if thing.via.kind == "device":
                values = self._driver(thing)
            else:
                reading = self._readings.get(thing.via.target)
                if reading is None:
                    return abi.E_NO_READING
                values = _project(thing, reading.payload)
        if values is None:
            return abi.E_NO_READING
        try:
            return orjson.dumps(thing.check_message(values, f"sensor {name} ({thing.name})"))
        except InvalidArgument as err:
            self.refused += 1
            log.warning("a reading does not fit the sensor", extra=ctx.extra(error=err.message))
            return abi.E_INVALID

    def _driver(self, thing: Thing) -> dict[str, object] | None:
        """A device-attached sensor's reading from the local (simulated) driver."""
        dht = self.devices.dht
        fields = _DRIVER_FIELDS.get(thing.type, ())
        if dht is None or not fields:
            return None
        value = dht.read_temperature() if thing.type == "temperature" else dht.read_humidity()
        values: dict[str, object] = {k: round(value, 3) for k in thing.params if k in fields}
        return values or None

    def send(self, ctx: GuestContext, name: str, command: bytes) -> int:
        """Check ``command`` against the controller's inputs and hand it on: 0 or a code."""
        with self._lock:
            thing = self._thing(ctx, name)
        if thing is None:
            return abi.E_UNBOUND
        if thing.kind != "controller":
            return abi.E_KIND
        try:
            message = thing.check_message(orjson.loads(command), f"controller {name}")
        except (orjson.JSONDecodeError, InvalidArgument) as err:
            self.refused += 1
            text = err.message if isinstance(err, InvalidArgument) else "not JSON"
            log.warning("a command was refused", extra=ctx.extra(thing=thing.name, error=text))
            return abi.E_INVALID
        payload = orjson.dumps(message)
        if thing.via.kind == "topic":
            mqtt = self.devices.mqtt
            if mqtt is None:
                return abi.E_NO_BROKER
            code = mqtt.publish_from_guest(ctx, thing.via.target, payload, 1)
            if code != PUBLISH_OK:
                return abi.E_BUSY if code == E_BUSY else abi.E_DISCONNECTED
        elif thing.via.target != self.device:  # check() keeps these out: never reached
            return abi.E_UNBOUND
        with self._lock:
            actuator = self._actuators.setdefault(
                thing.name, Actuator(f"{thing.via.kind}:{thing.via.target}")
            )
            actuator.last, actuator.at = message, time.time()
            actuator.count += 1
            actuator.by = f"{ctx.deployment}/{ctx.module}/{ctx.function}"
        if thing.via.kind == "device":
            log.info("controller command", extra=ctx.extra(thing=thing.name, command=message))
        return 0

    def param(self, ctx: GuestContext, name: str) -> bytes | None:
        """The caller's parameter ``name`` as JSON text, or None."""
        with self._lock:
            bound = self._bound.get((ctx.deployment, ctx.module, ctx.function))
            return None if bound is None else bound.params.get(name)

    # -- what the supervisor shows --------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """GET /api/v1/things: bindings per function, latest readings, controllers' commands."""
        with self._lock:
            bindings = {
                "/".join(key): {
                    "things": {n: t.to_dict() for n, t in b.things.items()},
                    "params": {k: orjson.loads(v) for k, v in b.params.items()},
                }
                for key, b in sorted(self._bound.items())
            }
            readings = {
                topic: {"count": r.count, "at": r.at, "bytes": len(r.payload)}
                for topic, r in sorted(self._readings.items())
            }
            controllers = {
                name: {"via": a.via, "last": a.last, "count": a.count, "at": a.at, "by": a.by}
                for name, a in sorted(self._actuators.items())
            }
        return {
            "device": self.device,
            "bindings": bindings,
            "readings": readings,
            "controllers": controllers,
            "refused": self.refused,
        }


def _project(thing: Thing, payload: bytes) -> dict[str, object] | None:
    """A message as the sensor's declared outputs: other fields left out; a bare number is
    the value of a sensor's only output; None when nothing in it is an output."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        values = {k: data[k] for k in thing.params if k in data}
        return values or None
    if len(thing.params) == 1 and isinstance(data, int | float) and not isinstance(data, bool):
        return {next(iter(thing.params)): data}
    return None
