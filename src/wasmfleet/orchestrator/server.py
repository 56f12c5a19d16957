"""Run an orchestrator under uvicorn."""

from __future__ import annotations

import importlib.util
import logging

import uvicorn

from wasmfleet.orchestrator.app import create_app
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.service.logs import configure_logging
from wasmfleet.service.tls import uvicorn_ssl


def serve(settings: OrchestratorSettings, warning: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM stop it gracefully); ``warning`` (running
    open, see service/exposure.py) is logged once, in the log's format."""
    configure_logging(settings.log_level, settings.log_format)
    if warning:
        logging.getLogger("wasmfleet.orchestrator").warning(warning.removeprefix("warning: "))
    fast_loop = importlib.util.find_spec("uvloop") is not None
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop" if fast_loop else "asyncio",
        access_log=False,
        log_config=None,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
        **uvicorn_ssl(settings.tls_cert, settings.tls_key),
    )
    uvicorn.Server(config).run()
