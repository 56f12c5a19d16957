"""Hot swap: replacing an installed deployment while it is being called, failing no call.

``DeploymentManager.deploy`` builds the new deployment beside the old one (new instances,
compiled modules from the cache), then ``HotSwap``:

1. ``switch``: carries module state over where both versions export the hooks of
   runtime/state_hooks.py — on the old instance's lane, with later calls held at the
   old runtime's ``gate`` so none runs between the snapshot and the switch — and then
   installs the new deployment with one reference swap (``deployments[id] = new``).
   Calls that resolved the old version before it finish on the old instance.
2. ``switch_back``: when persisting the new deployment fails, the old one comes back.
3. ``retire``: once the old instances have no call in flight (bounded by the call time
   limit), their directory is deleted and the last references to them dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from wasmfleet.runtime.state_hooks import can_restore, can_snapshot, carry_state
from wasmfleet.supervisor.deployment import Deployment, ModuleRuntime
from wasmfleet.supervisor.executor import CallExecutor
from wasmfleet.supervisor.store import DeploymentStore

log = logging.getLogger("wasmfleet.supervisor.deploy")
DRAIN_MARGIN_S = 5.0
"""Time an old instance may take, beyond the call time limit, to finish its calls."""
DRAIN_POLL_S = 0.01


class HotSwap:
    """Switches deployments in place and retires the versions they replaced."""

    def __init__(self, executor: CallExecutor, store: DeploymentStore, call_timeout_s: float):
        self.executor = executor
        self.store = store
        self.drain_s = call_timeout_s + DRAIN_MARGIN_S
        self.swaps = 0
        self.states_carried = 0
        self.retired = 0
        self.retire_timeouts = 0
        self._retiring: set[asyncio.Task[None]] = set()

    async def switch(
        self, deployments: dict[str, Deployment], old: Deployment, new: Deployment
    ) -> None:
        """Carry state where both versions have the hooks, then install ``new`` at once."""
        carried = [
            (name, old.modules[name], runtime)
            for name, runtime in new.modules.items()
            if name in old.modules
            and can_snapshot(old.modules[name].compiled.functions)
            and can_restore(runtime.compiled.functions)
        ]
        if not carried:
            deployments[new.spec.id] = new  # the swap: calls resolve the new version now
            self.swaps += 1
            return
        loop = asyncio.get_running_loop()
        for _, before, _ in carried:
            before.gate = loop.create_future()
        try:
            for name, before, after in carried:
                size = await before.lane.submit(
                    lambda b=before, a=after: carry_state(b.instance, a.instance)  # type: ignore[misc]
                )
                log.info(
                    "module state carried over",
                    extra={"deployment": new.spec.id, "wasm_module": name, "bytes": size},
                )
            deployments[new.spec.id] = new
        except BaseException:
            _open([before for _, before, _ in carried], keep=False)
            raise
        # The old instances' state now lives in the new ones: their gates stay set (done),
        # so a call that still holds the old version runs on the new one instead.
        _open([before for _, before, _ in carried], keep=True)
        self.swaps += 1
        self.states_carried += len(carried)

    def switch_back(
        self, deployments: dict[str, Deployment], old: Deployment, new: Deployment
    ) -> None:
        """Reinstall ``old`` after ``new`` could not be persisted."""
        if deployments.get(new.spec.id) is new:
            deployments[new.spec.id] = old
            self.swaps -= 1
        _open(list(old.modules.values()), keep=False)

    def retire(self, old: Deployment, directory: Path | None) -> None:
        """Drop ``old`` (and delete ``directory``) once its calls in flight are done."""
        task = asyncio.get_running_loop().create_task(self._retire(old, directory))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _retire(self, old: Deployment, directory: Path | None) -> None:
        deadline = time.monotonic() + self.drain_s
        while not _drained(old.modules.values()):
            if time.monotonic() >= deadline:
                self.retire_timeouts += 1
                log.warning(
                    "old version still busy after the drain time; dropping it anyway",
                    extra={"deployment": old.spec.id, "seconds": self.drain_s},
                )
                break
            await asyncio.sleep(DRAIN_POLL_S)
        if directory is not None:
            await self.executor.run_blocking(lambda: self.store.drop_old(directory))
        old.functions.clear()
        old.modules.clear()  # the instances go with the last call that still holds them
        self.retired += 1

    def close(self) -> None:
        """Stop retiring (at shutdown): the next start's ``DeploymentStore.recover`` deletes
        the directories left behind."""
        for task in list(self._retiring):
            task.cancel()

    def stats(self) -> dict[str, int]:
        """Counters for /api/v1/status."""
        return {
            "swaps": self.swaps,
            "states_carried": self.states_carried,
            "retired": self.retired,
            "retiring": len(self._retiring),
            "retire_timeouts": self.retire_timeouts,
        }


def _drained(runtimes: Iterable[ModuleRuntime]) -> bool:
    return all(r.active == 0 and r.lane.idle for r in runtimes)


def _open(runtimes: list[ModuleRuntime], *, keep: bool) -> None:
    """Release the calls held at these runtimes' gates; ``keep`` leaves the gates set."""
    for runtime in runtimes:
        gate = runtime.gate
        if not keep:
            runtime.gate = None
        if gate is not None and not gate.done():
            gate.set_result(None)
