"""A fake wasmiot orchestrator for tests: a real Starlette app served by uvicorn on loopback.

It answers every path and method, records each request (path, method, JSON body, form fields),
and can be told to answer errors: ``orch.fail(503)`` until ``orch.recover()``, or
``orch.fail(503, times=2)`` for the next two requests only.

``POST /api/v1/heartbeat`` gets the heartbeat protocol's answer: ``200 {"known": true,
"epochs": {...}}`` by default; ``orch.answer_heartbeats(known=False)`` answers
``404 {"known": false}``, ``orch.answer_heartbeats(status=500)`` an error, and
``orch.answer_heartbeats(epochs={"dep": 2})`` announces epochs. ``orch.heartbeats()`` lists the
heartbeats received (each with ``received_at``).

    with running_orchestrator() as orch:
        ...  # orch.url is "http://127.0.0.1:<port>"
        orch.wait_for(lambda reqs: len(orch.requests_to("/x")) >= 1, timeout=5)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HEARTBEAT_PATH = "/api/v1/heartbeat"


@dataclass
class Recorded:
    """One request the fake orchestrator received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    status: int = 200
    """What the fake answered."""
    received_at: float = 0.0
    """``time.monotonic()`` when the request arrived."""


class FakeOrchestrator:
    """Records requests and answers 200 (or the error it was told to answer)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._cond = threading.Condition()
        self._error_status: int | None = None
        self._error_times: int | None = None
        self._hb_known = True
        self._hb_epochs: dict[str, int] = {}
        self._hb_status: int | None = None
        self._hb_delay_s = 0.0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
                )
            ]
        )

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    # -- behaviour switches ------------------------------------------------------------------

    def fail(self, status: int = 503, times: int | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests (None: until ``recover()``)."""
        with self._cond:
            self._error_status, self._error_times = status, times

    def recover(self) -> None:
        """Answer 200 again."""
        with self._cond:
            self._error_status, self._error_times = None, None

    def answer_heartbeats(
        self,
        *,
        known: bool = True,
        epochs: dict[str, int] | None = None,
        status: int | None = None,
        delay_s: float = 0.0,
    ) -> None:
        """How to answer heartbeats from now on: known or not, which epochs, or an error,
        after ``delay_s`` seconds."""
        with self._cond:
            self._hb_known, self._hb_epochs, self._hb_status = known, dict(epochs or {}), status
            self._hb_delay_s = delay_s

    def heartbeats(self) -> list[Recorded]:
        """The heartbeats received so far, oldest first."""
        return self.requests_to(HEARTBEAT_PATH, "POST")

    # -- inspection --------------------------------------------------------------------------

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        """The recorded requests for one path (and method), oldest first."""
        with self._cond:
            return [
                r
                for r in self.requests
                if r.path == path and (method is None or r.method == method.upper())
            ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (re-checked on each request) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._cond:
            self.requests.clear()

    # -- the app -----------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        received_at = time.monotonic()
        body = await request.body()
        recorded = Recorded(
            received_at=received_at,
            method=request.method,
            path=request.url.path,
            query=dict(request.query_params),
            headers=dict(request.headers),
            body=body,
        )
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            with contextlib.suppress(ValueError):
                recorded.json = json.loads(body)
        elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            recorded.form = {k: v for k, v in form.items() if isinstance(v, str)}
        with self._cond:
            status = self._error_status
            if status is not None and self._error_times is not None:
                self._error_times -= 1
                if self._error_times <= 0:
                    self._error_status, self._error_times = None, None
            answer: Response | None = None
            delay = 0.0
            if status is None and recorded.path == HEARTBEAT_PATH and request.method == "POST":
                answer, delay = self._heartbeat_answer(), self._hb_delay_s
            recorded.status = answer.status_code if answer is not None else status or 200
            self.requests.append(recorded)
            self._cond.notify_all()
        if answer is not None:
            if delay > 0:
                await asyncio.sleep(delay)
            return answer
        if status is not None:
            return JSONResponse({"error": "fake failure"}, status_code=status)
        return JSONResponse({"ok": True})

    def _heartbeat_answer(self) -> Response:
        """The programmed heartbeat answer (called with the lock held)."""
        if self._hb_status is not None:
            return JSONResponse({"error": "fake heartbeat failure"}, status_code=self._hb_status)
        if not self._hb_known:
            return JSONResponse({"known": False}, status_code=404)
        return JSONResponse({"known": True, "epochs": dict(self._hb_epochs)})

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Serve on a free loopback port in a background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="fake-orchestrator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake orchestrator did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (connections are refused afterwards)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._server = self._thread = None


@contextlib.contextmanager
def running_orchestrator() -> Iterator[FakeOrchestrator]:
    """A started fake orchestrator, stopped on exit."""
    orch = FakeOrchestrator()
    orch.start()
    try:
        yield orch
    finally:
        orch.stop()


def unused_port() -> int:
    """A loopback TCP port nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
