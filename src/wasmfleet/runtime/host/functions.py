"""The host functions: the wasmiot set (``sys.*``, ``camera.*``, ``dht.*``,
``communication.rpcCall``), wasmfleet's own ``wasmfleet.*`` (MQTT, see ``messaging``;
images, see ``images``; an app's sensors, controllers and parameters, see ``things``),
WASI-NN (``wasi_ephemeral_nn.*``, see ``wasi_nn``) and AssemblyScript's ``env.abort`` (see
``abort``). Names, signatures and needs are ``core.host_catalog``'s; this module attaches
the implementations (``BUILDERS``).

Each function is defined for the exact signatures existing wasmiot modules import; a few
have more than one historical signature (``sys.println`` took a C string in the Python
supervisor and (ptr, len) elsewhere), and the variant matching the module's import is linked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import wasmtime

from wasmfleet.core.host_catalog import HOST_CATALOG, NN_MODULE, HostEntry
from wasmfleet.runtime.engine import FuncSignature
from wasmfleet.runtime.host import abort, images, messaging, qoa, things, wasi_nn
from wasmfleet.runtime.host.camera import Camera
from wasmfleet.runtime.host.guest import GuestContext, GuestMemory, HostCallError
from wasmfleet.runtime.host.qoa import QoaSink
from wasmfleet.runtime.host.sensors import SimulatedDht
from wasmfleet.runtime.host.things import ThingAccess
from wasmfleet.runtime.nn.models import ModelRegistry


class HostTimeout(HostCallError):
    """A host function would have run past the call's deadline."""


class RpcTransport(Protocol):
    """Sends ``data`` to ``module.function`` of the caller's deployment; returns the answer."""

    def __call__(
        self, ctx: GuestContext, module: str, function: str, data: bytes, timeout: float
    ) -> bytes: ...


@dataclass(slots=True)
class HostDevices:
    """The device's hardware (real or simulated) and software that host functions use.

    ``None`` means the device has no such hardware: the host functions needing it
    (``camera.*``, ``dht.*``; ``wasmfleet.publish`` and ``wasmfleet.message_topic`` without
    an MQTT broker; ``wasmfleet.image_*`` without Pillow; ``wasi_ephemeral_nn.*`` without
    an inference backend) are then not offered, see ``lacking`` and ``HostFunction.needs``.
    """

    camera: Camera | None
    dht: SimulatedDht | None
    rpc: RpcTransport | None = None
    mqtt: messaging.MessagePublisher | None = None
    """The device's MQTT connection (``--broker``); None: no MQTT ``wasmfleet.*`` functions."""
    images: bool = field(default_factory=images.pillow_available)
    """Pillow imports here; False: no ``wasmfleet.image_*`` functions."""
    qoa: QoaSink | None = None
    """Where ``wasmfleet.qoa_report`` reports go (the supervisor's QualityBook); None:
    accepted and dropped."""
    nn: ModelRegistry | None = field(default_factory=ModelRegistry)
    """The WASI-NN backends and models (runtime/nn); None or no backend: no
    ``wasi_ephemeral_nn.*`` functions."""
    things: ThingAccess | None = None
    """An app install's sensors, controllers and parameters (supervisor/things.py); None:
    ``wasmfleet.thing_*`` and ``wasmfleet.param`` answer every name with E_UNBOUND."""

    @property
    def lacking(self) -> frozenset[str]:
        """The needs (``HostFunction.needs``) this device cannot meet: the host functions
        with one of them are not offered."""
        absent = {"camera"} if self.camera is None else set()
        if self.dht is None:
            absent.add("dht")
        if self.mqtt is None:
            absent.add("broker")
        if not self.images:
            absent.add("images")
        if self.nn is None or not self.nn.available:
            absent.add("nn")
        return frozenset(absent)


HostImpl = Callable[..., Any]
Builder = Callable[[GuestContext, HostDevices], HostImpl]


def _wrap_i32(value: int) -> int:
    return ((value + 2**31) % 2**32) - 2**31


# -- sys --------------------------------------------------------------------------------


def _millis(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    def millis(caller: wasmtime.Caller) -> int:
        return _wrap_i32(int(time.time() * 1000))

    return millis


def _millis64(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    def millis(caller: wasmtime.Caller) -> int:
        return int(time.time() * 1000)

    return millis


def _delay(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    def delay(caller: wasmtime.Caller, ms: int) -> None:
        wanted = max(0, ms) / 1000.0
        left = ctx.remaining()
        time.sleep(min(wanted, left))
        if wanted > left:
            error = HostTimeout(f"sys.delay({ms}) would run past the call's time limit")
            ctx.host_error = ctx.host_error or str(error)
            raise error

    return delay


def _printer(name: str, newline: bool, cstring: bool) -> Builder:
    def build(ctx: GuestContext, dev: HostDevices) -> HostImpl:
        def emit(caller: wasmtime.Caller, ptr: int, length: int | None = None) -> None:
            memory = GuestMemory(caller, name, ctx)
            raw = memory.read_cstring(ptr) if cstring else memory.read(ptr, length or 0)
            text = raw.decode("utf-8", errors="replace") + ("\n" if newline else "")
            ctx.log.info(text.rstrip("\n"), extra=ctx.extra(stream=name))

        if cstring:
            return lambda caller, ptr: emit(caller, ptr)
        return emit

    return build


def _print_int(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    def print_int(caller: wasmtime.Caller, value: int) -> None:
        ctx.log.info(str(value), extra=ctx.extra(stream="sys.printInt"))

    return print_int


# -- camera -----------------------------------------------------------------------------


def _capture(ctx: GuestContext, dev: HostDevices, function: str) -> bytes:
    if dev.camera is None:
        raise ctx.fail(function, "this device has no camera")
    try:
        return dev.camera.capture_jpeg()
    except Exception as err:  # any camera failure becomes a readable trap
        raise ctx.fail(function, f"the {dev.camera.kind} camera failed: {err}") from None


def _take_dynamic(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    name = "camera.takeImageDynamicSize"

    def take(caller: wasmtime.Caller, out_ptr_ptr: int, out_len_ptr: int) -> None:
        image = _capture(ctx, dev, name)
        memory = GuestMemory(caller, name, ctx)
        ptr = memory.alloc(len(image))
        memory.write(ptr, image)
        memory.write_u32(out_ptr_ptr, ptr)
        memory.write_u32(out_len_ptr, len(image))

    return take


def _take_static(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    name = "camera.takeImageStaticSize"

    def take(caller: wasmtime.Caller, out_ptr: int, size_ptr: int) -> None:
        memory = GuestMemory(caller, name, ctx)
        limit = memory.read_u32(size_ptr)
        image = _capture(ctx, dev, name)[:limit]
        memory.write(out_ptr, image)
        memory.write_u32(size_ptr, len(image))

    return take


# -- dht --------------------------------------------------------------------------------


def _dht(ctx: GuestContext, dev: HostDevices, function: str) -> SimulatedDht:
    if dev.dht is None:
        raise ctx.fail(function, "this device has no DHT sensor")
    return dev.dht


def _temperature(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    return lambda caller: float(_dht(ctx, dev, "dht.getTemperature").read_temperature())


def _humidity(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    return lambda caller: float(_dht(ctx, dev, "dht.getHumidity").read_humidity())


# -- communication ----------------------------------------------------------------------


def _rpc(with_data: bool, returns: bool) -> Builder:
    name = "communication.rpcCall"

    def build(ctx: GuestContext, dev: HostDevices) -> HostImpl:
        def rpc(caller: wasmtime.Caller, *args: int) -> int | None:
            memory = GuestMemory(caller, name, ctx)
            module = memory.read(args[0], args[1]).decode("utf-8", errors="replace")
            function = memory.read(args[2], args[3]).decode("utf-8", errors="replace")
            data_ptr, data_len = (args[4], args[5]) if with_data else (0, 0)
            data = memory.read(data_ptr, data_len) if with_data else b""
            if dev.rpc is None:
                ctx.log.warning("rpcCall without a transport", extra=ctx.extra(target=module))
                status = 1
            else:
                try:
                    answer = dev.rpc(ctx, module, function, data, ctx.remaining())
                except Exception as err:  # remote failures are reported to the guest
                    ctx.log.warning(
                        "rpcCall failed",
                        extra=ctx.extra(target=f"{module}.{function}", error=str(err)),
                    )
                    status = 1
                else:
                    if with_data and data_len:
                        memory.write(data_ptr, answer[:data_len])
                    status = 0
            if returns:
                return status
            if status:
                raise ctx.fail(name, f"call of {module}.{function} failed")
            return None

        return rpc

    return build


@dataclass(frozen=True, slots=True)
class HostFunction:
    """One importable host function and its builders per accepted signature."""

    module: str
    name: str
    variants: dict[FuncSignature, Builder]
    needs: str | None = None
    """What the device must have to offer it ("camera", "dht", "broker", "images", "nn";
    see ``HostDevices.lacking`` and ``core.host_catalog.NEEDS``); None: every device."""

    @property
    def qualified(self) -> str:
        """``module.name``."""
        return f"{self.module}.{self.name}"


_I32x6 = "i32 i32 i32 i32 i32 i32"
BUILDERS: dict[tuple[str, str], Builder] = {
    ("sys.millis", "-> i32"): _millis,
    ("sys.millis", "-> i64"): _millis64,
    ("sys.delay", "i32"): _delay,
    ("sys.print", "i32 i32"): _printer("sys.print", False, False),
    ("sys.println", "i32 i32"): _printer("sys.println", True, False),
    ("sys.println", "i32"): _printer("sys.println", True, True),
    ("sys.printInt", "i32"): _print_int,
    ("sys.printInt", "i64"): _print_int,
    ("camera.takeImageDynamicSize", "i32 i32"): _take_dynamic,
    ("camera.takeImageStaticSize", "i32 i32"): _take_static,
    ("dht.getTemperature", "-> f32"): _temperature,
    ("dht.getHumidity", "-> f32"): _humidity,
    ("communication.rpcCall", f"{_I32x6} -> i32"): _rpc(with_data=True, returns=True),
    ("communication.rpcCall", _I32x6): _rpc(with_data=True, returns=False),
    ("communication.rpcCall", "i32 i32 i32 i32"): _rpc(with_data=False, returns=False),
    ("wasmfleet.publish", "i32 i32 i32 i32 i32 -> i32"): messaging.publish,
    ("wasmfleet.message_topic", "i32 i32 -> i32"): messaging.message_topic,
    ("wasmfleet.image_decode", "i32 i32 i32 i32 i32 -> i32"): images.image_decode,
    ("wasmfleet.image_encode", f"{_I32x6} -> i32"): images.image_encode,
    ("wasmfleet.qoa_report", "f32 f32 -> i32"): qoa.qoa_report,
    ("wasmfleet.thing_read", "i32 i32 i32 i32 -> i32"): things.thing_read,
    ("wasmfleet.thing_send", "i32 i32 i32 i32 -> i32"): things.thing_send,
    ("wasmfleet.param", "i32 i32 i32 i32 -> i32"): things.param,
    (f"{NN_MODULE}.load", "i32 i32 i32 i32 i32 -> i32"): wasi_nn.load,
    (f"{NN_MODULE}.load_by_name", "i32 i32 i32 -> i32"): wasi_nn.load_by_name,
    (f"{NN_MODULE}.init_execution_context", "i32 i32 -> i32"): wasi_nn.init_execution_context,
    (f"{NN_MODULE}.set_input", "i32 i32 i32 -> i32"): wasi_nn.set_input,
    (f"{NN_MODULE}.compute", "i32 -> i32"): wasi_nn.compute,
    (f"{NN_MODULE}.get_output", "i32 i32 i32 i32 i32 -> i32"): wasi_nn.get_output,
    ("env.abort", "i32 i32 i32 i32"): abort.abort,
}
"""The implementation of each (``module.name``, signature as ``params -> results``); the
names, signatures and needs themselves come from ``core.host_catalog.HOST_CATALOG``."""


def signature_text(signature: FuncSignature) -> str:
    """``"i32 i32 -> i32"``, the key of ``BUILDERS`` (``"i32 i32"`` without results)."""
    params = " ".join(signature.params)
    if not signature.results:
        return params
    return f"{params} -> {' '.join(signature.results)}".strip()


def _host_function(entry: HostEntry) -> HostFunction:
    """The catalogue entry with its builders; a signature without one is a bug here."""
    variants: dict[FuncSignature, Builder] = {}
    for signature in entry.signatures:
        builder = BUILDERS.get((entry.qualified, signature_text(signature)))
        if builder is None:
            raise RuntimeError(f"no implementation of {entry.qualified} {signature}")
        variants[signature] = builder
    return HostFunction(entry.module, entry.name, variants, entry.needs)


HOST_FUNCTIONS: tuple[HostFunction, ...] = tuple(_host_function(e) for e in HOST_CATALOG)
"""Every host function beside WASI with its implementations, in catalogue order."""
