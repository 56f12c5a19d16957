"""What a call runs on its instance's lane, and the files around it.

``CallJob`` is the part of a call that runs on a worker thread (or inline): write the input
files into the module's directory, call the export (plain arguments, a message, or the bytes
ABI with a message's payload or the raw request body), and find the output file (the
directory work is runtime/call_io.py, shared with ``wasmfleet run``). ``check_files`` maps a
request's files to the function's execution mounts, ``format_result`` turns what the
function returned into the entry's result, and ``find_output`` serves
``/{deployment}/modules/{module}/{function}/{file}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmfleet.core.args import format_value
from wasmfleet.core.names import check_file_name
from wasmfleet.core.protocol import Message
from wasmfleet.core.tracing import TraceContext
from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.call_io import (
    before_call,
    bytes_as_text,
    keep_bytes_output,
    mount_files,
    output_after_call,
    write_inputs,
)
from wasmfleet.runtime.host.guest import GuestMessage
from wasmfleet.service import tracing
from wasmfleet.supervisor.deployment import BoundFunction
from wasmfleet.supervisor.deployments import DeploymentManager


@dataclass(slots=True)
class MessageInput:
    """The MQTT message a triggered call handles (see supervisor/streams.py)."""

    guest: GuestMessage
    payload: bytes
    bytes_abi: bool
    """True: the payload goes in through ``alloc`` (runtime/bytes_abi.py), not as ``args``."""
    record: Message
    """What the history entry shows under ``message`` (message id, topic, QoS, ...)."""


def check_files(bound: BoundFunction, files: dict[str, bytes]) -> dict[str, bytes]:
    """The call's files by the mount each goes to; InvalidMount names what is wrong."""
    spec = bound.spec
    return mount_files(spec.module, spec.name, bound.execution_mounts, files)


def format_result(
    bound: BoundFunction, value: Any, output: str | None, base_url: str, deployment: str
) -> Any:
    """What a call's entry shows as its result: the output file's URL, the bytes ABI's output
    as text (or base64), or the Wasm results as the description's types."""
    if output is not None:
        return f"{base_url}/{deployment}/modules/{bound.spec.module}/{bound.spec.name}/{output}"
    if isinstance(value, bytes):  # the bytes ABI's output buffer
        return bytes_as_text(value)
    return format_value(value, bound.signature.results)  # type: ignore[arg-type]


class CallJob:
    """The part of a call that runs on the instance's lane (a worker thread)."""

    __slots__ = ("args", "body", "bound", "files", "message", "span", "threshold")

    def __init__(
        self,
        bound: BoundFunction,
        args: list[Any],
        files: dict[str, bytes],
        threshold: float,
        message: MessageInput | None,
        span: TraceContext | None = None,
        body: bytes | None = None,
    ) -> None:
        self.body = body
        """The raw request body, the payload of a bytes-ABI call over HTTP (``takes_body``)."""
        self.bound = bound
        self.args = args
        self.files = files
        self.threshold = threshold
        self.message = message
        self.span = span

    def __call__(self) -> tuple[Any, str | None]:
        # A pool thread does not share the event loop's context: carry the call's span over,
        # so the guest's output logged from here carries the trace too.
        token = tracing.CURRENT.set(self.span)
        try:
            return self._run()
        finally:
            tracing.CURRENT.reset(token)

    def _run(self) -> tuple[Any, str | None]:
        bound = self.bound
        workdir = bound.runtime.workdir
        write_inputs(workdir, self.files)
        body = self.body
        before = None if body is not None else before_call(workdir, bound.spec, bound.output_mount)
        started = time.thread_time()  # CPU time: the GIL and a busy host add wall time
        message = self.message
        instance = bound.runtime.instance
        try:
            if body is not None:
                value = call_with_bytes(instance, bound.spec.name, body, None)
            elif message is None:
                value = instance.call(bound.spec.name, self.args)
            elif message.bytes_abi:
                value = call_with_bytes(instance, bound.spec.name, message.payload, message.guest)
            else:
                value = instance.call(bound.spec.name, self.args, message.guest)
        finally:
            quick = time.thread_time() - started <= self.threshold
            bound.fast_runs = bound.fast_runs + 1 if quick else 0
        if body is not None:
            return value, keep_bytes_output(workdir, bound.spec, bound.output_mount, value)
        if not bound.spec.returns_file:
            return value, None
        return value, output_after_call(workdir, bound.spec, bound.output_mount, before, value)


def find_output(manager: DeploymentManager, module: str, file: str) -> tuple[Path, str] | None:
    """The newest deployment's copy of ``file`` in a module named ``module``."""
    check_file_name(file)
    candidates = [dep for dep in manager.deployments.values() if module in dep.modules]
    for dep in sorted(candidates, key=lambda d: d.deployed_at, reverse=True):
        path = dep.modules[module].workdir / file
        if path.is_file():
            return path, dep.spec.id
    return None
