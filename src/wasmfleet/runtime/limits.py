"""Resource limits applied to every Wasm instance (plain data, no wasmtime import)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """Safe defaults for running untrusted modules; every field is configurable."""

    call_timeout_s: float = 10.0
    """Wall-clock limit of one call, enforced by epoch interruption."""
    memory_limit_bytes: int = 256 * MiB
    """Cap on an instance's linear memory; growing past it fails and is reported."""
    max_module_bytes: int = 64 * MiB
    """Largest .wasm binary accepted for deployment."""
    epoch_tick_s: float = 0.005
    """Resolution of the wall-clock limit: how often the engine's epoch advances."""
    max_wasm_stack_bytes: int = 1 * MiB
    """Guest stack size; deep recursion traps with 'call stack exhausted'."""

    def timeout_ticks(self) -> int:
        """Epoch ticks after which a call started now is interrupted."""
        return max(1, int(self.call_timeout_s / self.epoch_tick_s + 0.999)) + 1
