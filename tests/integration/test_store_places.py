"""Locations, sensors and controllers in the store, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from wasmfleet.core.errors import Conflict, InvalidDocument, NotFound, Unprocessable
from wasmfleet.core.places import parse_thing
from wasmfleet.orchestrator.store import Store
from wasmfleet.orchestrator.store.base import utcnow
from wasmfleet.orchestrator.store.schema import apps, holds, installs

TEMP: dict[str, Any] = {
    "kind": "sensor",
    "name": "lab-temp",
    "type": "temperature",
    "location": "campus/lab-1",
    "topic": "campus/lab-1/temp",
    "outputs": {"celsius": "float"},
}
FAN: dict[str, Any] = {
    "kind": "controller",
    "name": "lab-fan",
    "type": "fan",
    "location": "campus/lab-1",
    "device": "edge-1",
    "inputs": {"speed": "int 0..3"},
}


def _hold(store: Store, thing_id: str, install: str, *, exclusive: bool) -> None:
    """Write an app, an install and its hold the way the installs store will."""
    now = utcnow()
    with store.engine.begin() as conn:
        conn.execute(
            insert(apps).values(
                id=f"app-{install}",
                name=f"app-{install}",
                version=1,
                manifest={},
                modules={},
                description="",
                author="t",
                created_at=now,
            )
        )
        conn.execute(
            insert(installs).values(
                id=f"inst-{install}",
                name=install,
                app_id=f"app-{install}",
                location="campus/lab-1",
                params={},
                binding={},
                schedule=None,
                notify={},
                status="running",
                owner="t",
                fired=0,
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            insert(holds).values(
                install_id=f"inst-{install}",
                need="x",
                thing_id=thing_id,
                exclusive_thing=thing_id if exclusive else None,
            )
        )


def test_adding_a_location_adds_its_missing_parents(orchestrator_store: Store) -> None:
    store = orchestrator_store
    created = store.add_location("/campus/lab-1/bench/", "the bench", "alice")
    assert [c.path for c in created] == ["campus", "campus/lab-1", "campus/lab-1/bench"]
    assert [c.description for c in created] == ["", "", "the bench"]
    assert {c.created_by for c in created} == {"alice"}
    again = store.add_location("campus/lab-2", "", "bob")
    assert [c.path for c in again] == ["campus/lab-2"]  # campus exists already
    with pytest.raises(Conflict, match="campus/lab-1' already exists"):
        store.add_location("campus/lab-1", "", "bob")
    with pytest.raises(InvalidDocument, match="segment 2"):
        store.add_location("campus/Lab 3", "", "bob")
    assert [loc.path for loc in store.list_locations()] == [
        "campus",
        "campus/lab-1",
        "campus/lab-1/bench",
        "campus/lab-2",
    ]
    bench = store.get_location("campus/lab-1/bench")
    assert bench is not None and bench.description == "the bench"
    assert store.get_location("campus/lab") is None


def test_a_location_is_removed_only_when_nothing_sits_at_or_below(
    orchestrator_store: Store,
) -> None:
    store = orchestrator_store
    store.add_location("campus/lab-1", "", "alice")
    store.add_location("campus-2", "", "alice")
    store.add_thing(parse_thing(TEMP), "alice")
    with pytest.raises(Conflict) as err:
        store.delete_location("campus")
    assert "campus/lab-1 lie below" in err.value.message
    assert "lab-temp" in err.value.message
    with pytest.raises(Conflict, match="lab-temp are registered there"):
        store.delete_location("campus/lab-1")
    store.delete_thing("lab-temp", "sensor")
    store.delete_location("campus/lab-1")
    store.delete_location("campus")  # campus-2 is not below campus
    assert [loc.path for loc in store.list_locations()] == ["campus-2"]
    with pytest.raises(NotFound, match="wasmfleet location ls"):
        store.delete_location("campus")


def test_things_need_a_registered_location_and_a_free_name(orchestrator_store: Store) -> None:
    store = orchestrator_store
    with pytest.raises(Unprocessable, match="wasmfleet location add campus/lab-1"):
        store.add_thing(parse_thing(TEMP), "alice")
    assert store.list_things() == []
    store.add_location("campus/lab-1", "", "alice")
    record, created = store.add_thing(parse_thing(TEMP), "alice")
    assert created and record.thing == parse_thing(TEMP) and record.created_by == "alice"
    same, created = store.add_thing(parse_thing(TEMP), "bob")
    assert not created and same.id == record.id and same.created_by == "alice"
    moved = dict(TEMP, topic="campus/lab-1/temperature")
    with pytest.raises(Conflict, match="--replace"):
        store.add_thing(parse_thing(moved), "bob")
    replaced, created = store.add_thing(parse_thing(moved), "bob", replace=True)
    assert not created and replaced.id == record.id
    assert replaced.thing.to_dict()["topic"] == "campus/lab-1/temperature"
    assert replaced.updated_at >= record.updated_at and replaced.created_at == record.created_at
    stored = store.get_thing("lab-temp")
    assert stored is not None and stored.thing.to_dict() == parse_thing(moved).to_dict()
    as_controller = dict(FAN, name="lab-temp")
    with pytest.raises(Conflict, match="already a sensor"):
        store.add_thing(parse_thing(as_controller), "bob", replace=True)


def test_things_filter_by_kind_place_and_type(orchestrator_store: Store) -> None:
    store = orchestrator_store
    store.add_location("campus/lab-1/bench", "", "alice")
    store.add_location("campus/lab-10", "", "alice")
    store.add_thing(parse_thing(TEMP), "alice")
    store.add_thing(parse_thing(FAN), "alice")
    store.add_thing(parse_thing(dict(TEMP, name="bench-temp", location="campus/lab-1/bench")), "a")
    store.add_thing(parse_thing(dict(TEMP, name="lab10-temp", location="campus/lab-10")), "a")

    def names(**filters: str) -> list[str]:
        return [r.thing.name for r in store.list_things(**filters)]

    assert names() == ["bench-temp", "lab-fan", "lab-temp", "lab10-temp"]
    assert names(kind="controller") == ["lab-fan"]
    assert names(location="campus/lab-1") == ["bench-temp", "lab-fan", "lab-temp"]
    assert names(location="campus/lab-1/bench") == ["bench-temp"]
    assert names(location="campus", type="temperature", kind="sensor") == [
        "bench-temp",
        "lab-temp",
        "lab10-temp",
    ]
    assert names(type="camera") == []
    assert store.get_thing("lab-fan", "sensor") is None
    fan = store.get_thing("lab-fan", "controller")
    assert fan is not None and fan.thing.via.kind == "device"


def test_a_held_thing_is_neither_removed_nor_changed(orchestrator_store: Store) -> None:
    store = orchestrator_store
    store.add_location("campus/lab-1", "", "alice")
    fan, _ = store.add_thing(parse_thing(FAN), "alice")
    temp, _ = store.add_thing(parse_thing(TEMP), "alice")
    _hold(store, fan.id, "too-warm-lab-1", exclusive=True)
    _hold(store, temp.id, "logger-lab-1", exclusive=False)
    assert store.thing_holders([fan.id, temp.id, "nope"]) == {
        fan.id: ["too-warm-lab-1"],
        temp.id: ["logger-lab-1"],
    }
    with pytest.raises(Conflict, match="too-warm-lab-1"):
        store.delete_thing("lab-fan", "controller")
    with pytest.raises(Conflict, match="too-warm-lab-1; it cannot change"):
        store.add_thing(parse_thing(dict(FAN, inputs={"speed": "int 0..5"})), "b", replace=True)
    with pytest.raises(Conflict, match="logger-lab-1"):
        store.add_thing(parse_thing(dict(TEMP, location="campus")), "b", replace=True)
    with pytest.raises(Conflict, match="installs logger-lab-1, too-warm-lab-1 run there"):
        store.delete_location("campus/lab-1")
    # the same document again is still fine while held (self-registration on restart)
    assert store.add_thing(parse_thing(FAN), "b", replace=True)[1] is False
    with pytest.raises(NotFound, match="wasmfleet sensor ls"):
        store.delete_thing("lab-fan", "sensor")
    assert store.get_thing("lab-fan") is not None


def test_module_versions_an_app_pins_are_in_use(orchestrator_store: Store) -> None:
    store = orchestrator_store
    from wasmfleet.orchestrator.store.records import ModuleRecord

    old = store.add_module(ModuleRecord(name="logic", sha256="a" * 64, size=1))
    new = store.add_module(ModuleRecord(name="logic", sha256="b" * 64, size=1))
    assert old.id not in store.module_ids_in_use()
    store.add_app("too-warm", {"name": "too-warm"}, {"logic": old.id}, "", "tester")
    assert old.id in store.module_ids_in_use()  # retention keeps what an install would deploy
    assert new.id not in store.module_ids_in_use()
