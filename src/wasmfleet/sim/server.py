"""The simulator's one HTTP server: every simulated device under its own path, plus control.

A device named ``sim-0001`` registers with ``properties.path = /d/sim-0001``; the orchestrator
then reaches its routes below that prefix, the same routes it uses on a real supervisor
(``/health``, ``/.well-known/wasmiot-device-description``, ``/deploy``, ``/deploy/{id}``,
``/request-history[/{id}]``, ``/{deployment}/modules/{module}/{function}``). Control routes
(``/_sim/...``) report counters and kill, stall or revive devices::

    GET  /_sim/status                          counters, heartbeat round trips, states
    GET  /_sim/devices                         every device: name, path, state, deployments
    POST /_sim/kill|stall|revive {"names": [...]}   all or nothing; answers the new states
    POST /_sim/stats/reset                     count afresh (after a warm-up)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wasmfleet.core.device_wire import DESCRIPTION_PATH, ORCHESTRATOR_SET_HEADER
from wasmfleet.core.errors import InvalidDocument, NotFound, Unavailable, WasmfleetError
from wasmfleet.service.http import (
    BodyLimit,
    JSONResponse,
    internal_error,
    read_json,
    route_error,
)
from wasmfleet.sim.devices import Command, Life, SimDevice
from wasmfleet.sim.fleet import SimFleet, SimSettings

log = logging.getLogger("wasmfleet.sim")

STALL_LIMIT_S = 120.0
"""The longest a request to a stalled device waits for it to be revived (then 503)."""
LIMIT = BodyLimit(8 * 1024 * 1024, "simulator")
STARTUP_S = 10.0


class SimRoutes:
    """Route handlers over one simulated fleet."""

    def __init__(self, fleet: SimFleet) -> None:
        self.fleet = fleet

    def routes(self) -> list[Route]:
        """Control routes first, then each device's routes below ``/d/{device}``."""
        d = "/d/{device}"
        return [
            Route("/_sim/status", self.status, methods=["GET"]),
            Route("/_sim/devices", self.list_devices, methods=["GET"]),
            Route("/_sim/stats/reset", self.reset, methods=["POST"]),
            Route("/_sim/{command}", self.command, methods=["POST"]),
            Route(d + "/health", self.health, methods=["GET"]),
            Route(d + DESCRIPTION_PATH, self.description, methods=["GET"]),
            Route(d + "/deploy", self.deploy, methods=["POST"]),
            Route(d + "//deploy", self.deploy, methods=["POST"]),
            Route(d + "/deploy", self.list_deployments, methods=["GET"]),
            Route(d + "/deploy/{deployment}", self.delete, methods=["DELETE"]),
            Route(d + "/request-history", self.history, methods=["GET"]),
            Route(d + "/request-history/{request_id}", self.entry, methods=["GET"]),
            Route(
                d + "/{deployment}/modules/{module}/{function}",
                self.call,
                methods=["GET", "POST"],
            ),
        ]

    async def _device(self, request: Request) -> SimDevice:
        """The addressed device once it may answer: 503 when dead, held while stalled."""
        dev = self.fleet.device(request.path_params["device"])
        deadline = time.monotonic() + STALL_LIMIT_S
        while dev.life is Life.STALLED and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.fleet.changed.wait(), deadline - time.monotonic())
        if dev.life is not Life.ALIVE:
            raise Unavailable(f"Simulated device {dev.name} is {dev.life}; revive it first.")
        return dev

    # -- control ------------------------------------------------------------------------

    async def status(self, request: Request) -> Response:
        """Counters, heartbeat round trips and states."""
        return JSONResponse(self.fleet.stats())

    async def list_devices(self, request: Request) -> Response:
        """Every simulated device."""
        return JSONResponse(
            [
                {
                    "name": d.name,
                    "path": d.path,
                    "life": d.life,
                    "registered": d.registered,
                    "deployments": sorted(d.deployments),
                }
                for d in self.fleet.devices.values()
            ]
        )

    async def reset(self, request: Request) -> Response:
        """Count afresh."""
        self.fleet.reset_stats()
        return JSONResponse({"status": "success"})

    async def command(self, request: Request) -> Response:
        """Kill, stall or revive the named devices."""
        word = request.path_params["command"]
        try:
            command = Command(word)
        except ValueError:
            raise NotFound(
                f"No control route /_sim/{word}; use kill, stall, revive, status or devices."
            ) from None
        body = await read_json(request, LIMIT.fixed(1024 * 1024))
        names = body.get("names") if isinstance(body, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InvalidDocument('Send {"names": ["sim-0001", ...]}: the devices to ' + word + ".")
        return JSONResponse({"status": "success", "devices": self.fleet.command(command, names)})

    # -- a device's routes --------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """GET /health: usage; the device always knows its orchestrator."""
        dev = await self._device(request)
        return JSONResponse(dev.health(), headers={ORCHESTRATOR_SET_HEADER: "true"})

    async def description(self, request: Request) -> Response:
        """GET /.well-known/wasmiot-device-description."""
        dev = await self._device(request)
        return JSONResponse(dev.description(self.fleet.settings.heartbeat_s))

    async def deploy(self, request: Request) -> Response:
        """POST /deploy: install a deployment document."""
        dev = await self._device(request)
        body = await read_json(request, LIMIT)
        return JSONResponse({"status": "success", **dev.deploy(body)})

    async def list_deployments(self, request: Request) -> Response:
        """GET /deploy: what the device holds."""
        dev = await self._device(request)
        return JSONResponse([dev.deployments[k].summary() for k in sorted(dev.deployments)])

    async def delete(self, request: Request) -> Response:
        """DELETE /deploy/{id}[?epoch=N]."""
        dev = await self._device(request)
        dep_id = request.path_params["deployment"]
        raw = request.query_params.get("epoch")
        if raw is not None and not raw.isdigit():
            raise InvalidDocument(f"epoch must be a whole number >= 0, got {raw!r}.")
        if not dev.remove(dep_id, int(raw) if raw is not None else None):
            raise NotFound(f"Deployment {dep_id} is not installed on {dev.name}.")
        return JSONResponse({"status": "success", "deploymentId": dep_id})

    async def history(self, request: Request) -> Response:
        """GET /request-history."""
        dev = await self._device(request)
        return JSONResponse(list(dev.history))

    async def entry(self, request: Request) -> Response:
        """GET /request-history/{id}."""
        dev = await self._device(request)
        found = dev.history.get(request.path_params["request_id"])
        if found is None:
            raise NotFound(
                f"No request {request.path_params['request_id']!r} in the history of "
                f"{dev.name} (it keeps the last {dev.history.capacity} calls)."
            )
        return JSONResponse(found)

    async def call(self, request: Request) -> Response:
        """GET|POST /{deployment}/modules/{module}/{function}: answered without Wasm."""
        dev = await self._device(request)
        given: list[tuple[str, Any]] = list(request.query_params.multi_items())
        if request.method == "POST" and "json" in request.headers.get("content-type", ""):
            body = await read_json(request, LIMIT)
            if isinstance(body, dict):
                given += [(str(k), v) for k, v in body.items()]
            elif isinstance(body, list):
                given = [(str(i), v) for i, v in enumerate(body)]
        p = request.path_params
        answer, _ = dev.call(
            p["deployment"], p["module"], p["function"], request.method, given,
            self.fleet.url_of(dev),
        )  # fmt: skip
        return JSONResponse(answer)


async def _wasmfleet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WasmfleetError)
    return JSONResponse(exc.to_dict(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return route_error(request, exc, "device routes are below /d/<name>, control below /_sim")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc, "simulator", log)


def create_app(fleet: SimFleet) -> Starlette:
    """The ASGI app serving every device of ``fleet``."""
    return Starlette(
        routes=SimRoutes(fleet).routes(),
        exception_handlers={
            WasmfleetError: _wasmfleet_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )


async def serve(settings: SimSettings, ready: Callable[[SimFleet], None] | None = None) -> None:
    """Listen, register every device, heartbeat until cancelled or signalled (Ctrl-C)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    fleet = SimFleet(replace(settings, port=sock.getsockname()[1]))
    config = uvicorn.Config(
        create_app(fleet),
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="sim-server")
    try:
        deadline = time.monotonic() + STARTUP_S
        while not server.started:
            if serving.done() or time.monotonic() > deadline:
                raise OSError(f"the simulator's server did not start on {fleet.base}")
            await asyncio.sleep(0.02)
        await fleet.start()
        if ready is not None:
            ready(fleet)
        await serving
    finally:
        await fleet.stop()
        if not serving.done():
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
        sock.close()
