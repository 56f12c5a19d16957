"""Locations, sensors and controllers as the API serves them: checks, answers, sentences.

The store keeps the records (``store/places.py``); this service reads request documents with
``core.places``, turns records into the answers of ``/api/v1/locations``, ``/sensors`` and
``/controllers``, and says what to do when something is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wasmfleet.core.errors import InvalidDocument, NotFound
from wasmfleet.core.manifest_fields import kind_of, no_unknown_keys
from wasmfleet.core.names import check_identifier
from wasmfleet.core.places import (
    KINDS,
    ThingKind,
    check_type_name,
    is_at_or_below,
    parents,
    parse_location,
    parse_thing,
)
from wasmfleet.core.quantities import show
from wasmfleet.orchestrator.store import Store
from wasmfleet.orchestrator.store.places import LocationRecord, ThingRecord
from wasmfleet.orchestrator.store.records import DeviceRecord

MAX_DESCRIPTION = 1000
"""The longest description a location may have, in characters."""


def location_view(
    record: LocationRecord,
    things: Iterable[ThingRecord] = (),
    devices: Iterable[DeviceRecord] = (),
) -> dict[str, Any]:
    """A location as /api/v1 shows it, with the sensors and controllers at or below it and the
    devices whose ``location`` label puts them there."""
    counts = {"sensors": 0, "controllers": 0}
    for each in things:
        if is_at_or_below(each.thing.location, record.path):
            counts[f"{each.thing.kind}s"] += 1
    above = parents(record.path)
    return {
        "path": record.path,
        "description": record.description,
        "parent": above[0] if above else None,
        "created_by": record.created_by,
        "created_at": record.created_at,
        **counts,
        "devices": [d.name for d in devices if _device_at(d, record.path)],
    }


def _device_at(device: DeviceRecord, path: str) -> bool:
    """Whether a device's ``location`` label (a location path) is at or below ``path``."""
    label = device.labels.get("location")
    try:
        return label is not None and is_at_or_below(parse_location(label), path)
    except InvalidDocument:
        return False  # a label like "Lab 1" is not a path: the device sits at no location


def thing_view(record: ThingRecord, held_by: Iterable[str] = ()) -> dict[str, Any]:
    """A sensor or controller as /api/v1 shows it: its document, who added it, its holders."""
    return {
        **record.thing.to_dict(),
        "id": record.id,
        "created_by": record.created_by,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "held_by": list(held_by),
    }


def check_kind(kind: str) -> ThingKind:
    """``sensor`` or ``controller`` (the route's own kind)."""
    if kind == "sensor":
        return "sensor"
    if kind == "controller":
        return "controller"
    raise InvalidDocument(f"kind must be one of {', '.join(KINDS)}, got {show(kind)}.")


class Places:
    """The places of one orchestrator: registration, lookups and removal with sentences."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- locations ----------------------------------------------------------------------

    def add_location(self, body: object, actor: str) -> dict[str, Any]:
        """Register ``{"path", "description"?}`` (and missing parents); the location's view
        with ``created``, the paths added."""
        if not isinstance(body, dict):
            raise InvalidDocument(
                'Send a JSON object like {"path": "campus/lab-1", "description": "the lab"}, '
                f"not a {kind_of(body)}."
            )
        no_unknown_keys(body, ("path", "description"), "The location")
        if "path" not in body:
            raise InvalidDocument('Give the location\'s path: "path": "campus/building/room".')
        path = parse_location(body["path"], "path")
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise InvalidDocument(
                f"description must be text of at most {MAX_DESCRIPTION} characters, "
                f"got {show(description)}."
            )
        created = self.store.add_location(path, description, actor)
        view = location_view(created[-1])
        view["created"] = [c.path for c in created]
        return view

    def locations(self) -> list[dict[str, Any]]:
        """Every location with its counts, by path."""
        things, devices = self.store.list_things(), self.store.list_devices()
        return [location_view(r, things, devices) for r in self.store.list_locations()]

    def location(self, raw_path: str) -> dict[str, Any]:
        """One location with its counts; NotFound naming how to add it."""
        path = self._known_location(raw_path)
        record = self.store.get_location(path)
        if record is None:  # removed in between
            raise NotFound(self._no_location(path))
        things = self.store.list_things(location=path)
        return location_view(record, things, self.store.list_devices())

    def remove_location(self, raw_path: str) -> None:
        """Remove an empty location; NotFound, or Conflict naming what sits at or below."""
        self.store.delete_location(parse_location(raw_path, "The location"))

    # --- things -------------------------------------------------------------------------

    def register(
        self, kind: ThingKind, body: object, actor: str, *, replace: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Register a sensor or controller document; its view and whether it was created."""
        thing = parse_thing(body, kind)
        record, created = self.store.add_thing(thing, actor, replace=replace)
        return self._view(record), created

    def things(
        self, kind: ThingKind, location: str | None = None, type_name: str | None = None
    ) -> list[dict[str, Any]]:
        """The sensors or controllers at or below ``location`` of ``type_name``, by name."""
        path = self._known_location(location) if location is not None else None
        if type_name is not None:
            check_type_name(type_name, "type")
        records = self.store.list_things(kind, path, type_name)
        holders = self.store.thing_holders([r.id for r in records])
        return [thing_view(r, holders.get(r.id, ())) for r in records]

    def thing(self, kind: ThingKind, name: str) -> dict[str, Any]:
        """One sensor or controller; NotFound saying where to look (or that it is the other
        kind)."""
        check_identifier(f"The {kind} name", name)
        record = self.store.get_thing(name)
        if record is None:
            raise NotFound(f"No {kind} named {name!r}; see `wasmfleet {kind} ls`.")
        if record.thing.kind != kind:
            other = record.thing.kind
            raise NotFound(
                f"{name!r} is a {other}, not a {kind}; see `wasmfleet {other} show {name}`."
            )
        return self._view(record)

    def remove(self, kind: ThingKind, name: str) -> None:
        """Remove a sensor or controller; NotFound, or Conflict naming installs holding it."""
        check_identifier(f"The {kind} name", name)
        self.store.delete_thing(name, kind)

    # --- helpers ------------------------------------------------------------------------

    def _view(self, record: ThingRecord) -> dict[str, Any]:
        return thing_view(record, self.store.thing_holders([record.id]).get(record.id, ()))

    def _known_location(self, raw: str) -> str:
        path = parse_location(raw, "location")
        if self.store.get_location(path) is None:
            raise NotFound(self._no_location(path))
        return path

    @staticmethod
    def _no_location(path: str) -> str:
        return (
            f"No location {path!r}; see `wasmfleet location ls`, or add it with "
            f"`wasmfleet location add {path}`."
        )
