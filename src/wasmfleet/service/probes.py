"""Liveness and readiness probes, the same for both services: ``GET /livez`` and ``GET /readyz``.

- ``/livez`` answers 200 while the process and its event loop run. It does nothing else, so a
  slow database or a full disk never gets a live process restarted.
- ``/readyz`` answers 200 once start-up has finished and every check passes; else 503 with the
  shared error shape and every check named, a failing one with a sentence::

      {"status": "not ready",
       "checks": [{"name": "started", "ok": true},
                  {"name": "store", "ok": false, "message": "The database ... does not answer"}],
       "error": {"status": 503, "code": "not_ready", "message": "store: The database ..."}}

A check is an async callable that returns None when it passes, else a sentence. A check that
blocks (a database query, a file-system call) runs in a worker thread through ``OffLoop``: one
call at a time, the probe bounded by a timeout, and a result reused for a moment so that a
flood of probes costs one query. Checks run only while the service is serving (before, and
during shut-down, the answer is "not started" without touching half-built resources).
Neither route logs anything: both services run uvicorn without an access log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wasmfleet.core.protocol import ErrorCode
from wasmfleet.service.http import JSONResponse, error_body
from wasmfleet.service.lifespan import Lifecycle

Check = Callable[[], Awaitable[str | None]]
"""None when the check passes, else a sentence saying what is wrong."""

CHECK_TIMEOUT_S = 2.0
"""How long ``/readyz`` waits for one check before calling it failed."""

FRESH_S = 0.5
"""How long an ``OffLoop`` result is reused before the check runs again."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class OffLoop:
    """A blocking check run in a worker thread: one call at a time, bounded, briefly reused.

    ``fn`` returns None when all is well, else a sentence; an exception it raises counts as a
    failure named by its first line. When a call outlives ``timeout_s`` the probe answers at
    once and the call keeps running: the next probes wait for that same call (no pile-up of
    threads on a hung database) and take its result when it arrives.
    """

    def __init__(
        self,
        fn: Callable[[], str | None],
        *,
        timeout_s: float = CHECK_TIMEOUT_S,
        fresh_s: float = FRESH_S,
    ) -> None:
        self._fn = fn
        self.timeout_s = timeout_s
        self.fresh_s = fresh_s
        self._running: asyncio.Future[str | None] | None = None
        self._result: str | None = None
        self._result_at: float | None = None

    def _call(self) -> str | None:
        try:
            return self._fn()
        except Exception as err:
            return first_line(err)

    def _finished(self, future: asyncio.Future[str | None]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._result, self._result_at = future.result(), time.monotonic()

    async def __call__(self) -> str | None:
        """The check's answer: a fresh cached one, the running call's, or a new call's."""
        if self._result_at is not None and time.monotonic() - self._result_at < self.fresh_s:
            return self._result
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(asyncio.to_thread(self._call))
            self._running.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), self.timeout_s)
        except TimeoutError:
            return f"No answer within {self.timeout_s:g} s (the check is still running)."


class Probes:
    """``/livez`` and ``/readyz`` for one service: its lifecycle and its named checks."""

    def __init__(
        self,
        service: str,
        lifecycle: Lifecycle,
        checks: Mapping[str, Check],
        *,
        timeout_s: float = CHECK_TIMEOUT_S,
    ) -> None:
        self.service = service
        self.lifecycle = lifecycle
        self.checks = dict(checks)
        self.timeout_s = timeout_s

    async def _run(self, check: Check) -> str | None:
        try:
            return await asyncio.wait_for(check(), self.timeout_s)
        except TimeoutError:
            return f"No answer within {self.timeout_s:g} s."
        except Exception as err:  # a bug in a check must answer 503, not 500
            return f"The check itself failed: {first_line(err)}"

    async def results(self) -> list[dict[str, Any]]:
        """Each check's outcome, ``started`` first: ``{"name", "ok"[, "message"]}``."""
        problem = self.lifecycle.problem()
        outcomes: list[tuple[str, str | None]] = [("started", problem)]
        if problem is None:
            names = list(self.checks)
            answers = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
            outcomes += zip(names, answers, strict=True)
        return [
            {"name": name, "ok": message is None, **({"message": message} if message else {})}
            for name, message in outcomes
        ]

    async def livez(self, request: Request) -> Response:
        """GET /livez: 200 while the process and its event loop answer."""
        return JSONResponse({"status": "alive", "service": self.service})

    async def readyz(self, request: Request) -> Response:
        """GET /readyz: 200 when started and every check passes, else 503 naming each failure."""
        checks = await self.results()
        failing = [c for c in checks if not c["ok"]]
        if not failing:
            return JSONResponse({"status": "ready", "service": self.service, "checks": checks})
        message = f"The {self.service} is not ready: " + " ".join(
            f"{c['name']}: {c['message']}" for c in failing
        )
        body = {"status": "not ready", "service": self.service, "checks": checks}
        return JSONResponse(
            {**body, **error_body(503, ErrorCode.NOT_READY, message)}, status_code=503
        )


def _json_example(example: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": {"type": "object"}, "example": example}}


LIVEZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Alive: the process and its event loop answer.",
        "content": _json_example({"status": "alive", "service": "orchestrator"}),
    }
}
"""How ``/livez`` answers, for an OpenAPI document."""

READYZ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Ready: started, and every check passed.",
        "content": _json_example(
            {
                "status": "ready",
                "service": "orchestrator",
                "checks": [{"name": "started", "ok": True}, {"name": "store", "ok": True}],
            }
        ),
    },
    503: {
        "description": (
            "Not ready: `checks` names each check, a failing one with a `message`; `error` "
            "holds the shared error shape."
        ),
        "content": _json_example(
            {
                "status": "not ready",
                "service": "orchestrator",
                "checks": [
                    {"name": "started", "ok": True},
                    {
                        "name": "store",
                        "ok": False,
                        "message": "The database at postgresql://wasmfleet@db/fleet does not "
                        "answer a query: connection refused",
                    },
                ],
                "error": {
                    "status": 503,
                    "code": "not_ready",
                    "message": "The orchestrator is not ready: store: The database at ...",
                },
            }
        ),
    },
}
"""How ``/readyz`` answers, for an OpenAPI document."""
