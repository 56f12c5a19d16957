"""Apps: publish a manifest (or a bundle with its modules) as a version, read, delete.

``publish`` validates everything before it stores anything: a bundle's binaries are compiled
(never instantiated) and its descriptions checked, then the manifest is parsed with the
bundle's modules counted as known (core/apps.py). Only then are the bundle's modules pushed
as module versions (author = the publisher) and the app version stored, pinning each module
need to the exact module version it resolved to (``name@N``), so an app version always
deploys the same binaries. ``app_of`` gives the parsed app of a stored version with those pins.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from wasmfleet.core.apps import App, parse_app
from wasmfleet.core.describe import ExportInfo, describe_module
from wasmfleet.core.errors import Conflict, InvalidDocument, NotFound
from wasmfleet.core.manifest_fields import kind_of
from wasmfleet.core.versions import parse_module_ref
from wasmfleet.orchestrator.app_bundle import Bundle, is_bundle, read_bundle
from wasmfleet.orchestrator.modules import ModuleService
from wasmfleet.orchestrator.store import ModuleRecord, Store
from wasmfleet.orchestrator.store.apps import AppRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Published:
    """What publishing did: the app version, whether it is new, modules pushed on the way."""

    app: AppRecord
    created: bool
    pushed: tuple[str, ...] = ()
    """Sentences about the bundle's modules (``name version N ...``)."""


class AppService:
    """Publish, read and delete apps; the parsed app of a stored version."""

    def __init__(self, store: Store, modules: ModuleService, max_bundle_bytes: int) -> None:
        self.store = store
        self.modules = modules
        self.max_bundle_bytes = max_bundle_bytes

    def publish(self, data: bytes, author: str) -> Published:
        """Store the next version of the app in ``data`` (a YAML/JSON manifest or a bundle)."""
        bundle = read_bundle(data, self.max_bundle_bytes) if is_bundle(data) else None
        text = bundle.manifest if bundle is not None else _text(data)
        doc = _load(text)
        known: dict[str, set[int]] = {}
        for module in self.store.list_modules():
            known.setdefault(module.name, set()).add(module.version)
        if bundle is not None:
            self._check_bundle(bundle, known)
        app = parse_app(doc, known)
        if bundle is not None:
            needs = app.needs.values()
            wanted = {parse_module_ref(n.type).name for n in needs if n.kind == "module"}
            unused = sorted(set(bundle.wasm) - wanted)
            if unused:
                raise InvalidDocument(
                    f"The bundle holds {unused[0]}.wasm, but no module need of app "
                    f"{app.name!r} names module {unused[0]!r}; drop it or declare the need."
                )
        pushed = self._push_bundle(bundle, author) if bundle is not None else {}
        pins: dict[str, str] = {}
        for need in app.needs.values():
            if need.kind != "module":
                continue
            ref = parse_module_ref(need.type)
            found = pushed.get(ref.name) if ref.version is None else None
            pins[need.name] = (found or self.modules.resolve(str(ref))).id
        record, created = self.store.add_app(app.name, doc, pins, app.description, author)
        log.info("app published", extra={"app": record.key, "new_version": created})
        notes = tuple(
            f"module {m.name} version {m.version} (sha256 {m.sha256[:12]})" for m in pushed.values()
        )
        return Published(record, created, notes)

    def _check_bundle(self, bundle: Bundle, known: dict[str, set[int]]) -> None:
        """Compile each binary and check each description; count each module as known at
        the version pushing it would give (the version with the same bytes, else the next)."""
        for name, data in sorted(bundle.wasm.items()):
            exports, _ = self.modules.inspect(name, data)
            if name in bundle.descriptions:
                infos = {
                    e["name"]: ExportInfo(e["name"], tuple(e["params"]), tuple(e["results"]))
                    for e in exports
                }
                describe_module(name, bundle.descriptions[name], infos, ())
            self.modules.signatures.check_binary(name, data)
            same = self.store.module_with_sha(name, hashlib.sha256(data).hexdigest())
            versions = known.setdefault(name, set())
            versions.add(same.version if same is not None else max(versions, default=0) + 1)

    def _push_bundle(self, bundle: Bundle, author: str) -> dict[str, ModuleRecord]:
        out: dict[str, ModuleRecord] = {}
        for name, data in sorted(bundle.wasm.items()):
            result = self.modules.push(name, data, created_by=author)
            module = result.module
            if name in bundle.descriptions and result.created:
                module = self.modules.describe(module.id, bundle.descriptions[name], [])
            out[name] = module
        return out

    def get(self, key: str) -> AppRecord:
        """The app version with this id or ``name@N``, or the newest of ``name``; NotFound."""
        found = self.store.get_app(key)
        if found is None:
            names = ", ".join(sorted({a.name for a in self.store.list_apps()})) or "none yet"
            raise NotFound(f"No app {key!r} (apps: {names}); publish it with `wasmfleet app push`.")
        return found

    def versions(self, name: str) -> list[AppRecord]:
        """Every version of ``name``, newest first; NotFound when there is none."""
        found = self.store.app_versions(name)
        if not found:
            found = self.store.app_versions(self.get(name).name)
        return found

    def delete(self, key: str) -> list[AppRecord]:
        """Delete one version (id or ``name@N``) or every version of a name; Conflict while
        any of them is installed."""
        found = self.get(key)
        targets = [found] if key in (found.id, found.key) else self.store.app_versions(found.name)
        self.store.delete_apps([a.id for a in targets])
        return targets

    def app_of(self, record: AppRecord) -> App:
        """The parsed app of a stored version, its module needs pinned to ``name@N``."""
        doc = copy.deepcopy(record.manifest)
        known: dict[str, set[int]] = {}
        for need, module_id in record.modules.items():
            module = self.store.get_module(module_id)
            if module is None:
                raise Conflict(
                    f"App {record.key} needs a module version for {need!r} that was deleted "
                    "since it was published; publish the app again."
                )
            doc["needs"][need]["module"] = f"{module.name}@{module.version}"
            known.setdefault(module.name, set()).add(module.version)
        return parse_app(doc, known)

    def view(self, record: AppRecord, installs: int | None = None) -> dict[str, Any]:
        """An app version as /api/v1 shows it."""
        if installs is None:
            installs = self.store.install_counts().get(record.id, 0)
        modules: dict[str, str] = {}
        for need, module_id in record.modules.items():
            module = self.store.get_module(module_id)
            shown = f"{module.name}@{module.version}" if module else f"(deleted {module_id})"
            modules[need] = shown
        doc = record.manifest
        return {
            "id": record.id,
            "name": record.name,
            "version": record.version,
            "key": record.key,
            "description": record.description,
            "parameters": _parameters(doc.get("parameters")),
            "needs": doc.get("needs", {}),
            "steps": doc.get("steps", []),
            "modules": modules,
            "author": record.author,
            "created_at": record.created_at,
            "installs": installs,
        }


def _parameters(raw: object) -> dict[str, Any]:
    """Each parameter as {type, default?, required}."""
    out: dict[str, Any] = {}
    for key, spec in (raw or {}).items() if isinstance(raw, Mapping) else ():
        if isinstance(spec, Mapping):
            shown: dict[str, Any] = {"type": spec.get("type"), "required": "default" not in spec}
            if "default" in spec:
                shown["default"] = spec["default"]
            if "description" in spec:
                shown["description"] = spec["description"]
            out[key] = shown
        else:
            out[key] = {"type": spec, "required": True}
    return out


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidDocument(
            "Send an app manifest as YAML or JSON text, or a bundle as tar.gz or zip."
        ) from None


def _load(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidDocument(f"The app manifest is not valid YAML or JSON{where}.") from None
    if not isinstance(doc, dict):
        raise InvalidDocument(
            f"An app manifest must be an object with name, needs and steps, not a {kind_of(doc)}."
        )
    return doc
