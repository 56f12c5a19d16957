"""Runs Wasm work off the event loop: serialized per instance, parallel across instances.

Every instance has a ``SerialLane``: jobs for it queue up and one pool thread drains the
queue, so calls into one instance never overlap and never block each other's threads,
while lanes of different instances run on different threads in parallel (Wasm releases
the GIL). The event loop only enqueues and receives results, so no Wasm call can stall
it — the bound on loop stalls is our own Python, not the guest's code.

Under load a lane drains many queued calls per thread wake-up, and hands their results
back to the event loop in batches (one loop wake-up for all results that are ready), which
amortizes the cost of the thread hop both ways.
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


Done = tuple[asyncio.Future[Any], bool, Any]


class SerialLane:
    """A FIFO of jobs for one instance, drained by at most one pool thread at a time."""

    __slots__ = ("_delivering", "_done", "_idle_waiters", "_lock", "_pool", "_queue", "_running")

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._queue: deque[tuple[Job, asyncio.Future[Any], asyncio.AbstractEventLoop]] = deque()
        self._lock = threading.Lock()
        self._running = False
        self._done: deque[Done] = deque()
        """Finished jobs whose futures the event loop has not resolved yet (in order)."""
        self._delivering = False
        self._idle_waiters: list[asyncio.Future[None]] = []

    @property
    def pending(self) -> int:
        """Jobs queued and not yet started."""
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """True when no job is queued or running."""
        return not self._running and not self._queue

    @property
    def waiting(self) -> bool:
        """True while callers wait for the lane to go idle (see ``wait_idle``)."""
        return bool(self._idle_waiters)

    def wait_idle(self) -> asyncio.Future[None]:
        """A future that resolves once the lane is idle, after earlier waiters' (FIFO).

        Calls that may run inline wait here instead of queueing: under a stream, once a
        call went to a worker thread every later one found the lane busy and queued too,
        paying the thread hop for good; waiting lets the lane drain, and then the calls
        run inline again, still in arrival order."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if not self._running and not self._queue and not self._idle_waiters:
                future.set_result(None)
            else:
                self._idle_waiters.append(future)
        return future

    def _wake_idle(self) -> None:
        with self._lock:
            waiters, self._idle_waiters = self._idle_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

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
                    if self._idle_waiters:
                        waiter_loop = self._idle_waiters[0].get_loop()
                        waiter_loop.call_soon_threadsafe(self._wake_idle)
                    return
                job, future, loop = self._queue.popleft()
            try:
                done: Done = (future, True, job())
            except BaseException as err:  # delivered to the awaiting request, not lost
                done = (future, False, err)
            self._done.append(done)
            # One wake-up of the loop for every result ready by the time it runs: a
            # call_soon_threadsafe per result cost as much as a short Wasm call.
            if not self._delivering:
                self._delivering = True
                loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        """Resolve the futures of finished jobs (event loop)."""
        self._delivering = False  # before taking: a result added later schedules again
        done = self._done
        running = asyncio.get_running_loop()
        while done:
            future, ok, value = done.popleft()
            loop = future.get_loop()
            if loop is running:
                _resolve(future, ok, value)
            else:  # submitted from another loop (never in the supervisor): hand it there
                loop.call_soon_threadsafe(_resolve, future, ok, value)


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
