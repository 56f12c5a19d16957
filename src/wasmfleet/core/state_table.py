"""One rule for every state machine kept as an explicit table (``core/lifecycle.py`` for
deployments, ``core/rollout.py`` for rollouts): ``(state, event) -> next state``, and a pair
the table does not list is an ``IllegalTransition`` naming what the state can take."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from wasmfleet.core.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


def next_state(
    table: Mapping[tuple[S, E], S], states: type[S], status: str, event: E, what: str
) -> S:
    """The state after ``event`` in ``table``; IllegalTransition for a status that is not one of
    ``states`` or a move the table lacks (``what`` names the thing in the message)."""
    try:
        current = states(status)
    except ValueError:
        raise IllegalTransition(
            f"{status!r} is not a {what} status ({', '.join(s.value for s in states)})."
        ) from None
    after = table.get((current, event))
    if after is None:
        allowed = sorted(e.value for (s, e) in table if s is current)
        raise IllegalTransition(
            f"A {what} that is {current.value} cannot take the event {event.value!r} "
            f"(it can take: {', '.join(allowed) or 'nothing'})."
        )
    return after
