"""Placement: a frozen snapshot and a request in, a plan or every device's reason out.

    place(request, snapshot) -> Plan | Unplaceable

Filters (``filters``): requested device, active, host interfaces, labels, per-core CPU
(ROHE's sorted check), memory, accelerator; the first that fails names a device's reason.
Scorers (``scorers``): ``least_allocated``, ``balanced``, ``rohe``. Strategies: ``first``,
``spread`` (highest score), ``pack`` (lowest score); ties go to the lowest device name.
``place`` is the numpy solver (``solver``); ``place_reference`` is the plain-Python
definition it is tested against. Pure: no I/O.
"""

from wasmfleet.core.placement.filters import assign_cores, offers
from wasmfleet.core.placement.model import (
    SCORERS,
    STRATEGIES,
    DeviceState,
    Placement,
    PlacementRequest,
    Plan,
    Rejection,
    Resources,
    Snapshot,
    StepRequest,
    Unplaceable,
)
from wasmfleet.core.placement.reference import place_reference
from wasmfleet.core.placement.scorers import ROHE_WEIGHTS
from wasmfleet.core.placement.solver import place

__all__ = [
    "ROHE_WEIGHTS",
    "SCORERS",
    "STRATEGIES",
    "DeviceState",
    "Placement",
    "PlacementRequest",
    "Plan",
    "Rejection",
    "Resources",
    "Snapshot",
    "StepRequest",
    "Unplaceable",
    "assign_cores",
    "offers",
    "place",
    "place_reference",
]
