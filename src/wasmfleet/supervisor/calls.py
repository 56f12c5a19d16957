"""Calling a deployed function: check the request, run it on its lane, record, chain on.

This is the HTTP-independent part of ``GET|POST /{deployment}/modules/{module}/{function}``:
the app turns a request into a ``CallRequest`` and the ``CallOutcome`` into a response.
Calls triggered by MQTT messages (supervisor/streams.py) take the same path with a
``MessageInput``; a function with ``publish`` hands every result to ``results``. What runs on
the lane itself (files in, export called, output file found) is supervisor/call_job.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from wasmfleet.core.args import ArgValue, bind_arguments
from wasmfleet.core.errors import ExecutionFailed, NotFound, WasmfleetError
from wasmfleet.core.history import RequestHistory
from wasmfleet.core.protocol import (
    HistoryEntry,
    HopStatus,
    new_entry,
    record_duration,
    record_hop,
    record_run,
    record_span,
)
from wasmfleet.core.tracing import TraceContext
from wasmfleet.runtime.bytes_abi import run_bytes
from wasmfleet.runtime.call_io import is_textual
from wasmfleet.runtime.instance import NOT_DONE
from wasmfleet.service import tracing
from wasmfleet.supervisor.call_job import CallJob, MessageInput, check_files, format_result
from wasmfleet.supervisor.chaining import Chainer, HopResult
from wasmfleet.supervisor.deployment import BoundFunction
from wasmfleet.supervisor.deployments import DeploymentManager
from wasmfleet.supervisor.fencing import FenceBook, lease_expired
from wasmfleet.supervisor.metrics import ERROR, OK, CallMetrics

log = logging.getLogger("wasmfleet.supervisor.calls")


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
    body: bytes | None = None
    """The raw request body: the payload of a function that takes one (``takes_body``)."""


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
        files = check_files(bound, req.files)
        message = req.message
        body = (req.body or b"") if bound.takes_body and message is None else None
        args = (
            []
            if body is not None or (message is not None and message.bytes_abi)
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
                value, output = await self._run(bound, args, files, message, span, body)
            except ExecutionFailed as err:
                error = err
                step_result: Any = err.message
            else:
                step_result = format_result(bound, value, output, base_url, req.deployment)
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
        body: bytes | None = None,
    ) -> tuple[Any, str | None]:
        for _ in range(SWAP_WAITS):
            runtime = bound.runtime
            runtime.active += 1  # a hot swap drops the old instance once this is back to 0
            try:
                if runtime.gate is None:
                    return await self._run_on(bound, args, files, message, span, body)
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
        body: bytes | None = None,
    ) -> tuple[Any, str | None]:
        runtime = bound.runtime
        lane = runtime.lane
        inline = (
            bound.fast_runs >= INLINE_AFTER
            and self.inline_threshold_s > 0
            and not files
            and not bound.spec.returns_file
            and runtime.instance.inline_capable
            and (body is None or not bound.spec.bytes_output or is_textual(bound.spec.bytes_output))
        )
        if inline and (not lane.idle or lane.waiting):
            await lane.wait_idle()  # then inline again, in order (SerialLane.wait_idle)
            if runtime.gate is not None:  # a swap took this instance's state meanwhile
                raise _Swapped
        if inline and lane.idle:
            started = time.perf_counter()
            instance, name = runtime.instance, bound.spec.name
            if body is not None:
                value = instance.try_inline(
                    name, (), None, lambda raw: run_bytes(instance, raw, name, body)
                )
            elif message is None:
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
        job = CallJob(bound, args, files, self.inline_threshold_s, message, span, body)
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
