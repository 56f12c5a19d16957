"""Runs Wasm work off the event loop: serialized per instance, parallel across instances.

Every instance has a ``SerialLane``: jobs for it queue up and one pool thread drains the
queue, so calls into one instance never overlap and never block each other's threads,
while lanes of different instances run on different threads in parallel (Wasm releases
the GIL). The event loop only enqueues and receives results, so no Wasm call can stall
it — the bound on loop stalls is our own Python, not the guest's code.

Under load a lane drains many queued calls per thread wake-up, which amortizes the cost
of the thread hop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
Job = Callable[[], Any]


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class SerialLane:
    """A FIFO of jobs for one instance, drained by at most one pool thread at a time."""

    __slots__ = ("_lock", "_pool", "_queue", "_running")

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._queue: deque[tuple[Job, asyncio.Future[Any], asyncio.AbstractEventLoop]] = deque()
        self._lock = threading.Lock()
        self._running = False

    @property
    def pending(self) -> int:
        """Jobs queued and not yet started."""
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """True when no job is queued or running."""
        return not self._running and not self._queue

    def submit(self, job: Job) -> asyncio.Future[Any]:
        """Queue ``job``; the returned future resolves on the calling event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._queue.append((job, future, loop))
            if self._running:
                return future
            self._running = True
        self._pool.submit(self._drain)
        return future

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                job, future, loop = self._queue.popleft()
            try:
                value = job()
            except BaseException as err:  # delivered to the awaiting request, not lost
                loop.call_soon_threadsafe(_resolve, future, False, err)
            else:
                loop.call_soon_threadsafe(_resolve, future, True, value)


class CallExecutor:
    """The thread pool that runs Wasm, and the lanes that serialize it per instance."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wasm")

    def lane(self) -> SerialLane:
        """A new lane for one instance."""
        return SerialLane(self._pool)

    async def run_blocking(self, func: Callable[[], T]) -> T:
        """Run a one-off blocking function (compilation, file I/O) on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, func)

    def shutdown(self) -> None:
        """Stop accepting work; running jobs finish (they are bounded by the call timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
