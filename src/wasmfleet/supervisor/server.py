"""Run a supervisor under uvicorn (uvloop + httptools when available).

The app's modules are imported by ``uvicorn_config``, after httpx was imported without its
command-line client (``service/imports.py``): a device's process stays lean whichever
entry point started it.
"""

from __future__ import annotations

import importlib.util
import logging

import uvicorn

from wasmfleet.service.heap import settle_heap
from wasmfleet.service.http_clients import import_httpx
from wasmfleet.service.logs import configure_logging
from wasmfleet.service.tls import uvicorn_ssl
from wasmfleet.supervisor.settings import SupervisorSettings


def uvicorn_config(settings: SupervisorSettings) -> uvicorn.Config:
    """The uvicorn configuration of a supervisor: fast loop and parser, no access log."""
    import_httpx()
    from wasmfleet.supervisor.app import create_app

    fast_loop = importlib.util.find_spec("uvloop") is not None
    fast_http = importlib.util.find_spec("httptools") is not None
    return uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if fast_loop else "asyncio",
        http="httptools" if fast_http else "h11",
        ws="none",  # no WebSocket routes: do not import the websockets package
        access_log=False,
        log_config=None,
        log_level="warning",
        lifespan="on",
        backlog=2048,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
        proxy_headers=False,
        **uvicorn_ssl(settings.tls_cert, settings.tls_key),
    )


def serve(settings: SupervisorSettings, warning: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM stop it gracefully); ``warning`` (running
    open, see service/exposure.py) is logged once, in the log's format."""
    configure_logging(settings.log_level, settings.log_format, settings.ship_log_level)
    if warning:
        logging.getLogger("wasmfleet.supervisor").warning(warning.removeprefix("warning: "))
    config = uvicorn_config(settings)  # imports the app's modules
    settle_heap()  # out of the collector's full scans (service/heap.py)
    uvicorn.Server(config).run()
