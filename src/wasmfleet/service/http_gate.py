"""A bound on the requests one httpx client has in flight, in front of its connection pool.

httpcore's pool re-examines every queued request against every connection whenever a request
enters or leaves it (and every idle connection against all the others), all on the event
loop: a fleet-wide deployment that hands 1,000 requests to the pool at once cost seconds of
pure Python there, the event loop answered no heartbeat meanwhile, and the fleet was judged
dead (bench/scale.py). Behind this gate the pool never holds more than ``limit`` requests, so
its bookkeeping stays small; the rest wait on a semaphore, which costs nothing while waiting.
A request's turn ends when its response is closed (httpx closes it once the body is read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx


class _TurnEnds(httpx.AsyncByteStream):
    """A response body that gives the request's turn back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: asyncio.Semaphore) -> None:
        self._stream = stream
        self._release: asyncio.Semaphore | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            gate, self._release = self._release, None
            if gate is not None:
                gate.release()


class GatedTransport(httpx.AsyncBaseTransport):
    """``inner`` with at most ``limit`` requests in flight at once (see the module doc)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.inner = inner
        self.limit = limit
        self._gates: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:  # one per event loop (tests run several loops in one process)
            self._gates = {k: v for k, v in self._gates.items() if not k.is_closed()}
            gate = self._gates[loop] = asyncio.Semaphore(self.limit)
        return gate

    @property
    def in_flight(self) -> int:
        """Requests holding a turn on the running loop (for tests and metrics)."""
        gate = self._gates.get(asyncio.get_running_loop())
        return 0 if gate is None else self.limit - gate._value

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate = self._gate()
        await gate.acquire()
        try:
            response = await self.inner.handle_async_request(request)
        except BaseException:
            gate.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TurnEnds(response.stream, gate),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
