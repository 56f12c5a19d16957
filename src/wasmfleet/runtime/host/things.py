"""The ``wasmfleet`` host functions for an app's sensors, controllers and parameters.

    wasmfleet.thing_read(i32 name_ptr, i32 name_len, i32 buf_ptr, i32 buf_len) -> i32
    wasmfleet.thing_send(i32 name_ptr, i32 name_len, i32 data_ptr, i32 data_len) -> i32
    wasmfleet.param(i32 name_ptr, i32 name_len, i32 buf_ptr, i32 buf_len) -> i32

A module names a sensor or controller by the app's *binding name* (``room_temp``), never by
the thing's own name: the step's ``things`` (core/step_things.py) say which thing that is
at the place the app was installed. ``thing_read`` copies the sensor's latest reading (a
JSON object, UTF-8, e.g. ``{"celsius":21.5}``) into the buffer; ``param`` copies the
parameter's value as JSON text (``26``, ``true``, ``"eco"``). Both return the full length
(larger than ``buf_len`` means it was cut short) or a negative code below.
``thing_send`` sends a command (a JSON object such as ``{"speed":2}``) to a controller,
checked against its declared inputs first: 0 when it was handed on, else a negative code.
Every device offers the three; outside an app install every name is ``E_UNBOUND``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import wasmtime

from wasmfleet.runtime.host.guest import GuestContext, GuestMemory

if TYPE_CHECKING:
    from wasmfleet.runtime.host.functions import HostDevices, HostImpl

E_UNBOUND = -1
"""The calling function has no thing (or parameter) of that name."""
E_KIND = -2
"""``thing_read`` of a controller, or ``thing_send`` to a sensor."""
E_NO_READING = -3
"""No reading yet: nothing arrived on the sensor's topic, or the device has no driver for it."""
E_INVALID = -4
"""The command is not a JSON object fitting the controller's inputs (or the reading does
not fit the sensor's outputs); the reason is in the device's log."""
E_BUSY = -5
"""Too many messages wait to be sent: try again later (as ``wasmfleet.publish``)."""
E_DISCONNECTED = -6
"""The broker is unreachable right now (as ``wasmfleet.publish``)."""
E_NO_BROKER = -7
"""The controller is reached through a topic, but this device has no broker."""
MAX_NAME = 128
MAX_COMMAND = 64 * 1024
"""The longest command ``thing_send`` takes, in bytes."""


class ThingAccess(Protocol):
    """What the supervisor serves to these host functions (any worker thread)."""

    def read(self, ctx: GuestContext, name: str) -> bytes | int:
        """The latest reading of the caller's sensor ``name`` (JSON), or a negative code."""
        ...

    def send(self, ctx: GuestContext, name: str, command: bytes) -> int:
        """Send ``command`` to the caller's controller ``name``: 0 or a negative code."""
        ...

    def param(self, ctx: GuestContext, name: str) -> bytes | None:
        """The caller's parameter ``name`` as JSON text, or None when there is none."""
        ...


def _name(memory: GuestMemory, ptr: int, length: int) -> str | None:
    if length & 0xFFFFFFFF > MAX_NAME:
        return None
    try:
        return memory.read(ptr, length).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _copy_out(memory: GuestMemory, buf_ptr: int, buf_len: int, data: bytes) -> int:
    room = max(0, buf_len)
    if room:
        memory.write(buf_ptr, data[:room])
    return len(data)


def thing_read(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.thing_read`` for one instance."""
    label = "wasmfleet.thing_read"

    def read_impl(
        caller: wasmtime.Caller, name_ptr: int, name_len: int, buf_ptr: int, buf_len: int
    ) -> int:
        memory = GuestMemory(caller, label, ctx)
        name = _name(memory, name_ptr, name_len)
        if name is None or dev.things is None:
            return E_UNBOUND
        reading = dev.things.read(ctx, name)
        if isinstance(reading, int):
            return reading
        return _copy_out(memory, buf_ptr, buf_len, reading)

    return read_impl


def thing_send(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.thing_send`` for one instance."""
    label = "wasmfleet.thing_send"

    def send_impl(
        caller: wasmtime.Caller, name_ptr: int, name_len: int, data_ptr: int, data_len: int
    ) -> int:
        memory = GuestMemory(caller, label, ctx)
        name = _name(memory, name_ptr, name_len)
        if name is None or dev.things is None:
            return E_UNBOUND
        if data_len & 0xFFFFFFFF > MAX_COMMAND:
            return E_INVALID
        return dev.things.send(ctx, name, memory.read(data_ptr, data_len))

    return send_impl


def param(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.param`` for one instance."""
    label = "wasmfleet.param"

    def param_impl(
        caller: wasmtime.Caller, name_ptr: int, name_len: int, buf_ptr: int, buf_len: int
    ) -> int:
        memory = GuestMemory(caller, label, ctx)
        name = _name(memory, name_ptr, name_len)
        value = None if name is None or dev.things is None else dev.things.param(ctx, name)
        if value is None:
            return E_UNBOUND
        return _copy_out(memory, buf_ptr, buf_len, value)

    return param_impl
