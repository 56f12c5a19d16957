"""The seam between rollouts and the copy updater (orchestrator/updates.py, issue 14).

``CopyUpdates`` is what the driver calls (``orchestrator.updates.CopyUpdater`` in the
service); ``device_results`` reads the updater's answer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol


class CopyUpdates(Protocol):
    """Changes the module version of some copies of a deployment (orchestrator/updates.py)."""

    async def update(
        self,
        deployment: str,
        module_ref: str,
        *,
        devices: Collection[str] | None = None,
        roll_back_on_refusal: bool = True,
    ) -> Any:
        """Point the copies on ``devices`` at ``module_ref``; per-device results (see
        ``device_results``); raises a WasmfleetError when refused before anything changed."""
        ...


def device_results(result: Any) -> dict[str, dict[str, Any]]:
    """Device → ``{"ok", "message", ...}`` from an updater's answer (a mapping, or an object
    with a ``devices`` or ``results`` mapping)."""
    for candidate in (result, getattr(result, "devices", None), getattr(result, "results", None)):
        if isinstance(candidate, Mapping):
            return {str(k): dict(v) for k, v in candidate.items() if isinstance(v, Mapping)}
    return {}
