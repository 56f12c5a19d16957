"""Starting and stopping a service with its ASGI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Managed(Protocol):
    """A service that starts before the app serves and stops after it."""

    async def start(self) -> None:
        """Start background work; the app serves once this returns."""

    async def stop(self) -> None:
        """Stop what ``start`` started."""


def lifespan_of(service: Managed) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The ASGI lifespan that starts ``service`` with the app and stops it after."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    return lifespan
