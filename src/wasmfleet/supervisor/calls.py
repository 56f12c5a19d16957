"""Calling a deployed function: check the request, run it on its lane, record, chain on.

This is the HTTP-independent part of ``GET|POST /{deployment}/modules/{module}/{function}``:
the app turns a request into a ``CallRequest`` and the ``CallOutcome`` into a response.
Calls triggered by MQTT messages (supervisor/streams.py) take the same path with a
``MessageInput``; a function with ``publish`` hands every result to ``results``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import mimetypes
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from wasmfleet.core.args import ArgValue, bind_arguments, format_scalar
from wasmfleet.core.errors import ExecutionFailed, InvalidMount, NotFound, WasmfleetError
from wasmfleet.core.history import RequestHistory
from wasmfleet.core.names import check_file_name
from wasmfleet.core.protocol import (
    HistoryEntry,
    HopStatus,
    Message,
    new_entry,
    record_duration,
    record_hop,
    record_run,
    record_span,
)
from wasmfleet.core.tracing import TraceContext
from wasmfleet.runtime.bytes_abi import call_with_bytes, run_bytes
from wasmfleet.runtime.host.guest import GuestMessage
from wasmfleet.runtime.instance import NOT_DONE
from wasmfleet.service import tracing
from wasmfleet.supervisor.chaining import Chainer, HopResult
from wasmfleet.supervisor.deployment import BoundFunction
from wasmfleet.supervisor.deployments import DeploymentManager
from wasmfleet.supervisor.fencing import FenceBook, lease_expired
from wasmfleet.supervisor.metrics import ERROR, OK, CallMetrics

log = logging.getLogger("wasmfleet.supervisor.calls")


@dataclass(slots=True)
class MessageInput:
    """The MQTT message a triggered call handles (see supervisor/streams.py)."""

    guest: GuestMessage
    payload: bytes
    bytes_abi: bool
    """True: the payload goes in through ``alloc`` (runtime/bytes_abi.py), not as ``args``."""
    record: Message
    """What the history entry shows under ``message`` (message id, topic, QoS, ...)."""


class ResultPublisher(Protocol):
    """Publishes the results of functions that have ``publish`` (supervisor/streams.py)."""

    def publish_result(
        self, bound: BoundFunction, entry: HistoryEntry, value: Any, output: str | None
    ) -> asyncio.Future[None] | None:
        """Send the result on; the future resolves once the broker has it."""
        ...


@dataclass(slots=True)
class CallRequest:
    """A parsed call: who is called, with which arguments and execution-mount files."""

    deployment: str
    module: str
    function: str
    method: str
    args: Sequence[tuple[str, ArgValue]]
    files: dict[str, bytes] = field(default_factory=dict)
    epoch: str | None = None
    """The caller's ``EPOCH_HEADER`` (core/protocol.py), when it sent one."""
    message: MessageInput | None = None
    """The MQTT message this call handles, for triggered calls."""
    trace: TraceContext | None = None
    """The caller's span (its ``traceparent``); None: this call starts a trace."""


@dataclass(slots=True)
class CallOutcome:
    """What a call produced; ``error`` is set when it failed."""

    entry: HistoryEntry
    error: WasmfleetError | None = None
    published: asyncio.Future[None] | None = None
    """The result's publication (``publish``): done when the broker has it."""


INLINE_AFTER = 3
"""Consecutive short calls on a worker thread before a function may run inline."""
SWAP_WAITS = 8
"""Hot swaps (with state carried over) a call waits out before it gives up."""


class _Swapped(Exception):
    """The instance a call was about to run on handed its state to a new version."""


class CallService:
    """Runs calls of deployed functions and keeps the request history.

    A history entry's ``result`` is the pipeline's final result (with a ``to``, the next
    hop's); ``step_result`` and ``step_ms`` are this function's own result and run time.

    Where a call runs: on its instance's lane (a worker thread) by default. A function
    whose last INLINE_AFTER calls each took under ``inline_threshold_s`` of CPU time (not wall
    time: on a busy host a preempted thread or a wait for the GIL would send short calls to
    the lane for good) runs inline on the event loop instead, saving the thread hop, when
    its lane is idle, it takes no files and its module cannot block
    (``WasmInstance.try_inline`` enforces a hard time bound and rolls back on overrun).

    Before anything runs, a stale copy (installed epoch below its fence), a caller at an
    older epoch and a stateful function without a valid lease are refused (see fencing.py);
    refused calls get no history entry.
    """

    def __init__(
        self,
        manager: DeploymentManager,
        history: RequestHistory,
        chainer: Chainer,
        fences: FenceBook,
        *,
        inline_threshold_s: float = 200e-6,
    ) -> None:
        self.manager = manager
        self.history = history
        self.chainer = chainer
        self.fences = fences
        self._fence_table = fences.fences
        self.inline_threshold_s = inline_threshold_s
        self.inline_calls = 0
        self.lane_calls = 0
        self.results: ResultPublisher | None = None
        self.metrics: CallMetrics | None = None
        """Per-function counters for /metrics (None: --no-metrics)."""

    def resolve(self, deployment: str, module: str, function: str) -> BoundFunction:
        """The bound function, or NotFound saying which part of the path is unknown."""
        dep = self.manager.get(deployment)
        bound = dep.functions.get((module, function))
        if bound is not None:
            return bound
        if module not in dep.modules:
            raise NotFound(
                f"Deployment {deployment!r} has no module {module!r} "
                f"(modules: {', '.join(sorted(dep.modules))})."
            )
        names = sorted(f.name for f in dep.spec.functions_of(module))
        raise NotFound(
            f"Module {module!r} of deployment {deployment!r} exposes no function {function!r} "
            f"(functions: {', '.join(names) or 'none'})."
        )

    async def call(self, req: CallRequest, base_url: str) -> CallOutcome:
        """Run one call; bad input raises, a failing module yields an outcome with ``error``."""
        bound = self.resolve(req.deployment, req.module, req.function)
        if req.epoch is not None or self._fence_table.get(req.deployment, 0) > bound.epoch:
            self.fences.check_call(req.deployment, bound.epoch, req.epoch)
        lease = bound.lease
        if lease is not None:
            now = time.monotonic()
            if now > lease.until:
                raise lease_expired(req.module, req.function, lease, now)
        if bound.execution_mounts and req.args:
            # A text field named after a mount is that file's content (curl -F 'input.txt=<f').
            req.files = dict(req.files)
            kept = []
            for name, value in req.args:
                if name in bound.execution_mounts and name not in req.files:
                    req.files[name] = str(value).encode()
                else:
                    kept.append((name, value))
            req.args = kept
        files = self._check_files(bound, req.files)
        message = req.message
        args = (
            []
            if message is not None and message.bytes_abi
            else bind_arguments(bound.spec, bound.signature.params, req.args)  # type: ignore[arg-type]
        )
        request_id = self.history.next_id(req.deployment, req.module, req.function)
        entry = new_entry(
            request_id,
            req.deployment,
            req.module,
            req.function,
            req.method,
            datetime.now().isoformat(),
            dict(req.args),
            {name: name for name in files},
            message=message.record if message is not None else None,
        )
        span = tracing.child(req.trace)
        token = tracing.CURRENT.set(span)  # log lines of this call carry its trace
        record_span(entry, span, req.trace, time.time() * 1000)
        started = time.perf_counter()
        error: WasmfleetError | None = None
        published = None
        try:
            try:
                value, output = await self._run(bound, args, files, message, span)
            except ExecutionFailed as err:
                error = err
                step_result: Any = err.message
            else:
                step_result = self._format(bound, value, output, base_url, req.deployment)
            ran_s = time.perf_counter() - started
            step_ms = round(ran_s * 1000, 3)
            record_run(entry, step_result, error is None, step_ms)
            if error is None and bound.spec.publish is not None and self.results is not None:
                published = self.results.publish_result(bound, entry, value, output)
            if error is None and bound.spec.to is not None:
                hop = await self.chainer.forward(bound, step_result, value, output, span)
                error = self._apply_hop(entry, hop)
            record_duration(entry, round((time.perf_counter() - started) * 1000, 3))
            self.history.add(entry)
            if self.metrics is not None:
                key = (req.deployment, req.module, req.function)
                self.metrics.observe(key, OK if error is None else ERROR, ran_s)
            if error is not None:
                log.warning(
                    "call failed",
                    extra={"request_id": request_id, "error": error.message, "code": error.code},
                )
        finally:
            tracing.CURRENT.reset(token)
        return CallOutcome(entry, error, published)

    async def _run(
        self,
        bound: BoundFunction,
        args: list[Any],
        files: dict[str, bytes],
        message: MessageInput | None = None,
        span: TraceContext | None = None,
    ) -> tuple[Any, str | None]:
        for _ in range(SWAP_WAITS):
            runtime = bound.runtime
            runtime.active += 1  # a hot swap drops the old instance once this is back to 0
            try:
                if runtime.gate is None:
                    return await self._run_on(bound, args, files, message, span)
            except _Swapped:
                pass
            finally:
                runtime.active -= 1
            bound = await self._after_swap(bound)
        raise ExecutionFailed(
            f"{bound.spec.module}.{bound.spec.name} was swapped {SWAP_WAITS} times while this "
            "call waited to run; call it again."
        )

    async def _after_swap(self, bound: BoundFunction) -> BoundFunction:
        """Wait until a hot swap that carries state is over; the function installed then."""
        runtime = bound.runtime
        if runtime.gate is not None:
            await asyncio.shield(runtime.gate)
        return self.resolve(runtime.instance.guest.deployment, bound.spec.module, bound.spec.name)

    async def _run_on(
        self,
        bound: BoundFunction,
        args: list[Any],
        files: dict[str, bytes],
        message: MessageInput | None,
        span: TraceContext | None = None,
    ) -> tuple[Any, str | None]:
        runtime = bound.runtime
        lane = runtime.lane
        inline = (
            bound.fast_runs >= INLINE_AFTER
            and self.inline_threshold_s > 0
            and not files
            and not bound.spec.returns_file
            and runtime.instance.inline_capable
        )
        if inline and (not lane.idle or lane.waiting):
            await lane.wait_idle()  # then inline again, in order (SerialLane.wait_idle)
            if runtime.gate is not None:  # a swap took this instance's state meanwhile
                raise _Swapped
        if inline and lane.idle:
            started = time.perf_counter()
            instance, name = runtime.instance, bound.spec.name
            if message is None:
                value = instance.try_inline(name, args)
            elif message.bytes_abi:
                payload = message.payload
                value = instance.try_inline(
                    name, (), message.guest, lambda raw: run_bytes(instance, raw, name, payload)
                )
            else:
                value = instance.try_inline(name, args, message.guest)
            if value is not NOT_DONE:
                self.inline_calls += 1
                if (  # slow by its own CPU time: wall time on a busy host is not its fault
                    time.perf_counter() - started > self.inline_threshold_s
                    and instance.inline_cpu_s() > self.inline_threshold_s
                ):
                    bound.fast_runs = 0
                return value, None
            bound.fast_runs = 0
        self.lane_calls += 1
        job = _CallJob(bound, args, files, self.inline_threshold_s, message, span)
        result: tuple[Any, str | None] = await lane.submit(job)
        return result

    @staticmethod
    def _apply_hop(entry: HistoryEntry, hop: HopResult) -> WasmfleetError | None:
        if hop.error is not None:
            record_hop(entry, hop.url, hop.status, hop.error.message)
            return hop.error
        result = hop.result if hop.result is not None else hop.result_url
        record_hop(entry, hop.url, HopStatus.OK, result, hop.result_url)
        return None

    @staticmethod
    def _check_files(bound: BoundFunction, files: dict[str, bytes]) -> dict[str, bytes]:
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

    @staticmethod
    def _format(
        bound: BoundFunction, value: Any, output: str | None, base_url: str, deployment: str
    ) -> Any:
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


class _CallJob:
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
