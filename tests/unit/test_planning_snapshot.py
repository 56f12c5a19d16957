"""The solver's view of the fleet: which devices count as active, and why the others do not."""

from __future__ import annotations

from wasmfleet.orchestrator.planning import snapshot
from wasmfleet.orchestrator.store import DeviceRecord


def _device(name: str, status: str = "active") -> DeviceRecord:
    return DeviceRecord(name=name, status=status, description={"platform": {}})


def test_flapping_devices_are_unavailable_and_tolerated_ones_count_as_active() -> None:
    devices = [
        _device("up"),
        _device("flappy"),
        _device("slow", "suspect"),
        _device("gone", "dead"),
    ]
    fleet = snapshot(
        devices,
        [],
        reasons={"slow": "suspect: no heartbeat for 2.2 s", "gone": "dead: refused"},
        unavailable={"flappy": "flapping: 3 failures within 60 s"},
        tolerate=frozenset({"slow"}),
    )
    states = {d.name: d for d in fleet.devices}
    assert states["up"].active and states["slow"].active
    assert not states["flappy"].active and states["flappy"].status_reason.startswith("flapping")
    assert not states["gone"].active and states["gone"].status_reason == "dead: refused"
    plain = {d.name: d.active for d in snapshot(devices, []).devices}
    assert plain == {"up": True, "flappy": True, "slow": False, "gone": False}
