"""Run an orchestrator under uvicorn."""

from __future__ import annotations

import importlib.util
import logging
from types import FrameType

import uvicorn

from wasmfleet.orchestrator.app import create_app
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store.sqlite_lock import hold_sqlite_lock
from wasmfleet.service.heap import settle_heap
from wasmfleet.service.logs import configure_logging
from wasmfleet.service.tls import uvicorn_ssl


def serve(settings: OrchestratorSettings, warning: str | None = None) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM stop it gracefully); ``warning`` (running
    open, see service/exposure.py) is logged once, in the log's format. On SQLite a second
    process on the same file is refused (store/sqlite_lock.py)."""
    configure_logging(settings.log_level, settings.log_format)
    if warning:
        logging.getLogger("wasmfleet.orchestrator").warning(warning.removeprefix("warning: "))
    fast_loop = importlib.util.find_spec("uvloop") is not None
    lock = hold_sqlite_lock(settings.resolved_database_url)  # one process per SQLite file
    app = create_app(settings)
    app.state.orchestrator.leadership.exclusive = lock is not None
    config = uvicorn.Config(
        app,
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
    hub = app.state.orchestrator.events

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            hub.close()  # live event streams end now, so the graceful stop need not wait
            super().handle_exit(sig, frame)

    settle_heap()  # the imports and the app, built: out of the collector's full scans
    try:
        Server(config).run()
    finally:
        if lock is not None:
            lock.close()
