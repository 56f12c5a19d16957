"""``wasmfleet demo``: placeholder until the example modules land."""

from __future__ import annotations


def demo() -> None:
    """Start a supervisor with the example modules deployed and print what to try."""
    raise SystemExit("the demo needs the example modules")
