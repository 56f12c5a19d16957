"""A deployment's lifecycle: its statuses, the events that move it, and the table of moves.

Events in, the next status out, no I/O (the orchestrator stores the result)::

                 SOLVED (from any status)            SEND (from any status)
                 ─────────► new                      ─────────► deploying
    deploying ──ACCEPTED──► active ◄──ACCEPTED── moving ◄──MOVE── active | degraded | moving
    deploying ──REFUSED───► failed               moving ──REFUSED──► degraded
    active | degraded | moving ──STRANDED──► degraded

``SOLVED`` is a (re-)solved plan stored before anything is sent; ``SEND`` a user's deploy
(any refusal rolls the devices back: ``failed``); ``MOVE`` self-healing's decision to
re-place steps (stored before sending, so a restart resumes it); ``ACCEPTED``/``REFUSED``
the devices' answers to the documents just sent; ``STRANDED`` a step on a dead device that
no other device can take. A move the table lacks raises ``IllegalTransition``: a bug in
the caller, never a user's mistake.

The groups the orchestrator acts on are derived from the table, not listed by hand:
``IN_FLIGHT`` (documents on their way: executions wait), ``RUNNABLE``, ``HEALABLE`` (steps
on dead devices are moved), ``AWAITING_HEAL`` (retried when the fleet changes) and
``RESERVING`` (its steps hold device capacity).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from wasmfleet.core.state_table import next_state


class DeploymentStatus(StrEnum):
    """Where a deployment is in its lifecycle (stored and shown as these strings)."""

    NEW = "new"
    """Solved (or re-solved); nothing sent yet."""
    DEPLOYING = "deploying"
    """A user's deploy is sending the documents."""
    ACTIVE = "active"
    """Every device of the plan took its document."""
    FAILED = "failed"
    """A user's deploy was refused by a device; the others were rolled back."""
    MOVING = "moving"
    """Self-healing decided a re-placement and is sending it."""
    DEGRADED = "degraded"
    """A step could not be (re-)placed or sent; retried when the fleet changes."""


class DeploymentEvent(StrEnum):
    """What happens to a deployment."""

    SOLVED = "solved"
    SEND = "send"
    MOVE = "move"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    STRANDED = "stranded"


_S = DeploymentStatus
_E = DeploymentEvent

TRANSITIONS: Mapping[tuple[DeploymentStatus, DeploymentEvent], DeploymentStatus] = {
    **{(s, _E.SOLVED): _S.NEW for s in _S},
    **{(s, _E.SEND): _S.DEPLOYING for s in _S},
    **{(s, _E.MOVE): _S.MOVING for s in (_S.ACTIVE, _S.DEGRADED, _S.MOVING)},
    (_S.DEPLOYING, _E.ACCEPTED): _S.ACTIVE,
    (_S.MOVING, _E.ACCEPTED): _S.ACTIVE,
    (_S.DEPLOYING, _E.REFUSED): _S.FAILED,
    (_S.MOVING, _E.REFUSED): _S.DEGRADED,
    **{(s, _E.STRANDED): _S.DEGRADED for s in (_S.ACTIVE, _S.DEGRADED, _S.MOVING)},
}
"""(status, event) -> the status after it; every pair not listed is illegal."""


def advance(status: str, event: DeploymentEvent) -> DeploymentStatus:
    """The status after ``event``; IllegalTransition when the table does not allow it."""
    return next_state(TRANSITIONS, DeploymentStatus, status, event, "deployment")


def _from(event: DeploymentEvent) -> frozenset[DeploymentStatus]:
    return frozenset(s for (s, e) in TRANSITIONS if e is event)


def _to(event: DeploymentEvent) -> frozenset[DeploymentStatus]:
    return frozenset(after for (_, e), after in TRANSITIONS.items() if e is event)


IN_FLIGHT = _from(_E.ACCEPTED)
"""Documents are on their way (deploying, moving): an execution waits for the answers."""
RUNNABLE = IN_FLIGHT | _to(_E.ACCEPTED)
"""An execution may start (at once when active, after waiting otherwise)."""
HEALABLE = _from(_E.MOVE)
"""Steps on dead devices are moved."""
AWAITING_HEAL = _to(_E.MOVE) | _to(_E.STRANDED)
"""A move to finish or to retry (moving, degraded): retried when the fleet changes."""
RESERVING = RUNNABLE | AWAITING_HEAL
"""Its steps hold (or are about to hold) capacity on devices, and need their modules."""
