"""Reading an install request: the app, the place, parameters, schedule and notify targets.

Every check runs before anything is stored: an unknown app or location is 404, an end user
outside their locations 403, a bad schedule, parameter or target 400, each with a sentence.
A schedule also gets the checks core/schedule leaves to the caller: it must fire at least
once between now and its end, and its ``count`` must be reachable before the end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wasmfleet.core import rbac
from wasmfleet.core.apps import App
from wasmfleet.core.errors import Forbidden, InvalidDocument, NotFound
from wasmfleet.core.names import check_identifier
from wasmfleet.core.places import is_at_or_below, parse_location
from wasmfleet.core.schedule import Mode, Schedule, ScheduleError, next_fires, parse_schedule
from wasmfleet.orchestrator.auth import Identity
from wasmfleet.orchestrator.store import Store

_KEYS = {"app", "location", "name", "params", "schedule", "notify", "dry_run"}
_URL = re.compile(r"^https?://[^\s/]+\S*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_TARGETS = 16


@dataclass(frozen=True, slots=True)
class InstallRequest:
    """A checked install request (the app and location still to be looked up)."""

    app: str
    location: str
    name: str | None
    params: dict[str, Any]
    schedule: Schedule | None
    function: str | None
    notify: dict[str, list[str]]
    dry_run: bool


def read_request(body: object) -> InstallRequest:
    """The install request in ``body``; InvalidDocument naming what to change."""
    if not isinstance(body, dict):
        raise InvalidDocument(
            'Send a JSON object like {"app": "too-warm", "location": "campus/lab-1", '
            '"params": {"speed": 2}}.'
        )
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise InvalidDocument(
            f"Unknown install field(s) {', '.join(unknown)}; an install takes "
            f"{', '.join(sorted(_KEYS))}."
        )
    app = body.get("app")
    if not isinstance(app, str) or not app:
        raise InvalidDocument('Name the app to install: "app": "too-warm" (or "too-warm@2").')
    location = parse_location(body.get("location"), "location")
    name = body.get("name")
    if name is not None:
        name = check_identifier("The install name", name)
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidDocument('"params" must be an object like {"speed": 2}.')
    schedule, function = _schedule(body.get("schedule"))
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidDocument('"dry_run" must be true or false.')
    return InstallRequest(
        app, location, name, params, schedule, function, notify_targets(body.get("notify")), dry_run
    )


def _schedule(raw: object) -> tuple[Schedule | None, str | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise ScheduleError("A schedule must be an object with at least 'cron' and 'timezone'.")
    doc = dict(raw)
    function = doc.pop("function", None)
    if function is not None and (not isinstance(function, str) or not function):
        raise ScheduleError("The schedule's 'function' must name a function of the app's steps.")
    schedule = parse_schedule(doc)
    if function is not None and schedule.mode is Mode.WINDOW:
        raise ScheduleError(
            "'function' is for mode 'run' (the function each fire calls); a 'window' schedule "
            "deploys the app for a while and calls nothing."
        )
    return schedule, function


def check_schedule(schedule: Schedule, now: datetime) -> list[datetime]:
    """The first fires (at most 3) after ``now``; ScheduleError when it never fires again or
    its ``count`` cannot be reached before its ``end``."""
    fires = next_fires(schedule, now, 3)
    if not fires:
        raise ScheduleError(
            "The schedule never fires between now and its end; give a later end, an earlier "
            "start or another cron expression."
        )
    if schedule.count is not None and schedule.end is not None:
        reachable = next_fires(schedule, now, schedule.count)
        if len(reachable) < schedule.count:
            raise ScheduleError(
                f"The schedule's count {schedule.count} cannot be reached: only "
                f"{len(reachable)} fire(s) come before its end; lower the count or move the end."
            )
    return fires


def check_function(app: App, function: str | None) -> str:
    """The function a ``run`` fire calls: the first step's (the pipeline starts there)."""
    first = app.steps[0].function
    if function is not None and function != first:
        named = [s.function for s in app.steps]
        hint = f" ({function!r} is step {named.index(function) + 1})" if function in named else ""
        raise ScheduleError(
            f"A scheduled run calls app {app.name!r} from its first step, function {first!r}; "
            f"'function' {function!r} cannot be called on its own{hint}. Leave 'function' out "
            "or give the first step's."
        )
    return first


def notify_targets(raw: object) -> dict[str, list[str]]:
    """``{"webhook": [...], "email": [...]}`` checked; InvalidDocument for a bad target."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or set(raw) - {"webhook", "email"}:
        raise InvalidDocument(
            '"notify" must be an object like {"webhook": ["https://..."], "email": ["a@b.org"]}.'
        )
    out: dict[str, list[str]] = {}
    for key, pattern, what in (
        ("webhook", _URL, "an http(s) URL"),
        ("email", _EMAIL, "an e-mail address"),
    ):
        values = raw.get(key) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or len(values) > MAX_TARGETS:
            raise InvalidDocument(f'"notify.{key}" must be a list of at most {MAX_TARGETS}.')
        for value in values:
            if not isinstance(value, str) or not pattern.match(value):
                raise InvalidDocument(f'"notify.{key}" {value!r} is not {what}.')
        if values:
            out[key] = list(values)
    return out


def check_place(store: Store, who: Identity, location: str) -> None:
    """NotFound for an unregistered location; Forbidden for an end user outside theirs."""
    if store.get_location(location) is None:
        raise NotFound(
            f"No location {location!r}; a platform configurer adds it with "
            f"`wasmfleet location add {location}`."
        )
    if who.role is not rbac.Role.END_USER:
        return
    user = store.get_user(who.actor)
    allowed = user.locations if user is not None else []
    if allowed is None:
        return
    if not any(is_at_or_below(location, a) for a in allowed):
        where = ", ".join(allowed) or "nowhere yet"
        raise Forbidden(
            f"{who.actor} may install apps at or below {where}, not at {location}; ask an "
            "admin to add the location (wasmfleet users add --location)."
        )
