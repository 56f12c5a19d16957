"""What a call runs on its instance's lane, and the files around it.

``CallJob`` is the part of a call that runs on a worker thread (or inline): write the input
files into the module's directory, call the export (plain arguments, a message, or the bytes
ABI), and find the output file. ``check_files`` maps a request's files to the function's
execution mounts, ``format_result`` turns what the function returned into the entry's result,
and ``find_output`` serves ``/{deployment}/modules/{module}/{function}/{file}``.
"""

from __future__ import annotations

import base64
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmfleet.core.args import format_scalar
from wasmfleet.core.errors import ExecutionFailed, InvalidMount
from wasmfleet.core.names import check_file_name
from wasmfleet.core.protocol import Message
from wasmfleet.core.tracing import TraceContext
from wasmfleet.runtime.bytes_abi import call_with_bytes
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
    declared = bound.execution_mounts
    if len(files) == 1 and len(declared) == 1 and not files.keys() & declared:
        # One file for the one mount, under another name: an original wasmiot supervisor
        # forwards a result named after its own output mount (camera's image.jpeg to a
        # function reading image.jpg).
        (name, data), (mount,) = next(iter(files.items())), declared
        check_file_name(name, what="mount name")
        return {mount: data}
    for name in files:
        check_file_name(name, what="mount name")
        if name not in declared:
            raise InvalidMount(
                f"File {name!r} is not an execution mount of "
                f"{bound.spec.module}.{bound.spec.name} "
                f"(it accepts: {', '.join(sorted(declared)) or 'no files'})."
            )
    missing = sorted(declared - files.keys())
    if missing:
        raise InvalidMount(
            f"{bound.spec.module}.{bound.spec.name} needs the file(s) "
            f"{', '.join(repr(m) for m in missing)} as multipart parts "
            f"(e.g. curl -F {missing[0]}=@./{missing[0]})."
        )
    return files


def format_result(
    bound: BoundFunction, value: Any, output: str | None, base_url: str, deployment: str
) -> Any:
    """What a call's entry shows as its result: the output file's URL, the bytes ABI's output
    as text (or base64), or the Wasm results as the description's types."""
    if output is not None:
        return f"{base_url}/{deployment}/modules/{bound.spec.module}/{bound.spec.name}/{output}"
    if isinstance(value, bytes):  # the bytes ABI's output buffer
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    results = bound.signature.results
    if value is None:
        return None
    if not results:
        return None
    if len(results) == 1:
        return format_scalar(value, results[0])  # type: ignore[arg-type]
    return [format_scalar(v, t) for v, t in zip(value, results, strict=False)]  # type: ignore[arg-type]


class CallJob:
    """The part of a call that runs on the instance's lane (a worker thread)."""

    __slots__ = ("args", "bound", "files", "message", "span", "threshold")

    def __init__(
        self,
        bound: BoundFunction,
        args: list[Any],
        files: dict[str, bytes],
        threshold: float,
        message: MessageInput | None,
        span: TraceContext | None = None,
    ) -> None:
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
        for name, data in self.files.items():
            (workdir / name).write_bytes(data)
        wants_file = bound.spec.returns_file
        before = _snapshot(workdir) if wants_file and bound.output_mount is None else None
        if wants_file and bound.output_mount is not None:
            (workdir / bound.output_mount).unlink(missing_ok=True)
        started = time.thread_time()  # CPU time: the GIL and a busy host add wall time
        message = self.message
        try:
            if message is None:
                value = bound.runtime.instance.call(bound.spec.name, self.args)
            elif message.bytes_abi:
                instance = bound.runtime.instance
                value = call_with_bytes(instance, bound.spec.name, message.payload, message.guest)
            else:
                value = bound.runtime.instance.call(bound.spec.name, self.args, message.guest)
        finally:
            quick = time.thread_time() - started <= self.threshold
            bound.fast_runs = bound.fast_runs + 1 if quick else 0
        if not wants_file:
            return value, None
        output = bound.output_mount or _written_file(
            workdir, before or {}, bound.spec.response_media_type
        )
        if output is None or not (workdir / output).is_file():
            raise ExecutionFailed(
                f"{bound.spec.module}.{bound.spec.name} returned {value!r} but did not write "
                f"its output file {output or '(' + bound.spec.response_media_type + ')'}."
            )
        return value, output


def _snapshot(workdir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in workdir.iterdir() if p.is_file()}


def _written_file(workdir: Path, before: dict[str, int], media_type: str) -> str | None:
    """The file a call wrote, for functions that declare a file result but no output mount."""
    changed = [name for name, mtime in _snapshot(workdir).items() if before.get(name) != mtime]
    if len(changed) > 1:
        extensions = set(mimetypes.guess_all_extensions(media_type.split(";")[0].strip()))
        matching = [name for name in changed if Path(name).suffix.lower() in extensions]
        changed = matching or changed
    return sorted(changed)[0] if changed else None


def find_output(manager: DeploymentManager, module: str, file: str) -> tuple[Path, str] | None:
    """The newest deployment's copy of ``file`` in a module named ``module``."""
    check_file_name(file)
    candidates = [dep for dep in manager.deployments.values() if module in dep.modules]
    for dep in sorted(candidates, key=lambda d: d.deployed_at, reverse=True):
        path = dep.modules[module].workdir / file
        if path.is_file():
            return path, dep.spec.id
    return None
