"""Which copy of a fleet-wide step a call or a hop goes to: a pure, documented rule.

A step placed with ``replicas`` has several copies, one per device (``core.placement``).
The rule, used both for the ``to`` of each copy's deployment document and by the
orchestrator when it calls a pipeline:

1. A hop from a copy on device D goes to the next step's copy on D when there is one
   (no network hop at all).
2. Otherwise it goes to the next step's copies in turn: the copy at position
   ``turn % len(copies)``, copies sorted by device name. For a hop, ``turn`` is the
   position of the sending copy among its own step's copies (so the senders spread over
   the receivers); for the first step of an execution, ``turn`` is a counter the
   orchestrator advances on every call (round robin), over the copies whose device is
   active.

Zero copies means no target (``None``): a ``replicas: all`` step that no device matches
waits for one.
"""

from __future__ import annotations

from collections.abc import Sequence


def pick_copy(devices: Sequence[str], *, near: str | None = None, turn: int = 0) -> str | None:
    """The device of the copy to target among ``devices`` (rule above), or None if none."""
    if not devices:
        return None
    if near is not None and near in devices:
        return near
    ordered = sorted(devices)
    return ordered[turn % len(ordered)]


def route(copies: Sequence[Sequence[str]], first: str) -> list[str | None]:
    """The device of each step a call that starts at copy ``first`` of step 0 goes through.

    ``copies[k]`` are the devices of step k's copies (in any order); a step with no copy
    and every step after it get None (the chain stops there)."""
    path: list[str | None] = [first]
    for k in range(1, len(copies)):
        previous = path[-1]
        if previous is None:
            path.append(None)
            continue
        senders = sorted(copies[k - 1])
        turn = senders.index(previous) if previous in senders else 0
        path.append(pick_copy(copies[k], near=previous, turn=turn))
    return path
