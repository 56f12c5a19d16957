"""Running a bridge or a sink in the foreground until a stop event (the CLI commands)."""

from __future__ import annotations

import logging
import threading
from typing import Protocol


class Service(Protocol):
    """Something with a background life: the bridge and the sink."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def status(self) -> str: ...


def run_until_stopped(
    service: Service, stop: threading.Event, status_interval: float, logger: logging.Logger
) -> None:
    """Start ``service``, log its status line when it changes, stop it when ``stop`` is set."""
    service.start()
    try:
        interval = status_interval if status_interval > 0 else None
        last = ""
        while not stop.wait(interval):
            line = service.status()
            if line != last:
                logger.info("%s", line)
                last = line
    finally:
        service.stop()
