"""Starting and stopping a service with its ASGI app, and knowing which of the two it is doing."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Managed(Protocol):
    """A service that starts before the app serves and stops after it."""

    async def start(self) -> None:
        """Start background work; the app serves once this returns."""

    async def stop(self) -> None:
        """Stop what ``start`` started."""


class Phase(enum.StrEnum):
    """Where a service is in its life."""

    STARTING = "starting"
    SERVING = "serving"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Lifecycle:
    """The phase of one service, moved on by ``lifespan_of`` and read by ``/readyz``."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING

    def problem(self) -> str | None:
        """None while serving, else a sentence saying why the service is not ready."""
        if self.phase is Phase.SERVING:
            return None
        if self.phase is Phase.STARTING:
            return "Start-up has not finished yet; the service is ready once it has."
        return "The service is shutting down."


def lifespan_of(
    service: Managed, lifecycle: Lifecycle | None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The ASGI lifespan that starts ``service`` with the app and stops it after;
    ``lifecycle`` (when given) follows: serving once ``start`` returned, stopping from
    the moment the app shuts down."""
    phases = lifecycle or Lifecycle()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        phases.phase = Phase.STARTING
        try:
            await service.start()
        except BaseException:
            phases.phase = Phase.STOPPED
            raise
        phases.phase = Phase.SERVING
        try:
            yield
        finally:
            phases.phase = Phase.STOPPING
            try:
                await service.stop()
            finally:
                phases.phase = Phase.STOPPED

    return lifespan
