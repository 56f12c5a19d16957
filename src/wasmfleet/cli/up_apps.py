"""``wasmfleet up``'s places and apps (issue 17): two labs, their things, a scheduled app.

The platform configurer's part: the locations ``campus/lab-1`` and ``campus/lab-2``; in lab 1 a
temperature sensor attached to edge-box (its simulated DHT) and a fan on an MQTT topic; in lab
2 a temperature sensor and a fan that are simulator processes registering themselves
(``sensor simulate --register``, ``sensor controller --register``), like real gateways would.
The app developer's part: ``examples/apps/too-warm.yaml``. The end user's part: install it in
lab 1 with a low threshold on a one-minute schedule, run it once now, and show the binding,
where it runs and its next fires. Lab 1's fan is a ``sensor controller`` child too, so its log
(DIR/logs/lab-1-fan.log) shows each command the app sends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from wasmfleet.cli.apps import print_install
from wasmfleet.cli.client import ApiError, Client
from wasmfleet.cli.local_fleet import Child, child_env
from wasmfleet.cli.output import note, spinner

LOCATIONS = (
    ("campus/lab-1", "Lab 1: the edge box's room"),
    ("campus/lab-2", "Lab 2: sensors that register themselves"),
)
LAB1_SENSOR = {
    "name": "lab-1-temp", "type": "temperature", "location": "campus/lab-1",
    "device": "edge-box", "outputs": {"celsius": "float"},
}  # fmt: skip
FAN_INPUT = "speed=int 0..3"
APP_FILE = Path("apps") / "too-warm.yaml"
INSTALL = "too-warm-lab-1"
SCHEDULE = {"cron": "* * * * *", "timezone": "Europe/Helsinki", "missed": "skip"}
PARAMS = {"threshold": 20, "speed": 2}
"""Below the simulated DHT's 21.5 °C, so the demo's fan turns on."""


def _wasmfleet(*args: str) -> list[str]:
    return [sys.executable, "-m", "wasmfleet", *args]


def _add_location(api: Client, path: str, description: str) -> None:
    """Add a location; one kept from an earlier run (``--data-dir``) is fine."""
    try:
        api.post("/api/v1/locations", json={"path": path, "description": description})
    except ApiError as err:
        if err.status != 409:
            raise


def _install(api: Client, app: str) -> dict[str, Any]:
    """Install the app in lab 1; an install kept from an earlier run is shown as it is."""
    body = {"app": app, "location": "campus/lab-1", "name": INSTALL, "params": PARAMS,
            "schedule": SCHEDULE}  # fmt: skip
    try:
        view: dict[str, Any] = api.post("/api/v1/installs", json=body)
    except ApiError as err:
        if err.status != 409 or INSTALL not in err.message:
            raise
        view = api.get(f"/api/v1/installs/{INSTALL}")
    return view


def thing_children(root: Path, url: str, broker: str, log: Sequence[str] = ()) -> list[Child]:
    """The simulated things of the labs as child processes that register themselves."""
    own = ["--orchestrator", url, "--broker", broker, *log]
    fans = [
        ("lab-1-fan", "campus/lab-1"),
        ("lab-2-fan", "campus/lab-2"),
    ]
    children = [
        Child(
            name, 0,
            _wasmfleet(
                "sensor", "controller", "--topic", f"{where}/fan", "--register", name,
                "--type", "fan", "--location", where, "--input", FAN_INPUT, *own,
            ),
            root / "logs" / f"{name}.log",
        )
        for name, where in fans
    ]  # fmt: skip
    children.append(
        Child(
            "lab-2-temp", 0,
            _wasmfleet(
                "sensor", "simulate", "--kind", "temperature", "--topic", "campus/lab-2/temp",
                "--rate", "1/s", "--register", "lab-2-temp", "--location", "campus/lab-2",
                "--base", "24", *own,
            ),
            root / "logs" / "lab-2-temp.log",
        )
    )  # fmt: skip
    return children


def set_up_places(
    url: str,
    root: Path,
    examples: Path,
    broker: str,
    started: list[Child],
    token_file: Path | None = None,
    ca_file: Path | None = None,
    log: Sequence[str] = (),
) -> dict[str, Any] | None:
    """Register the labs and their things, publish the app, install and run it; the install's
    view, or None when a step failed (said on stderr; the rest of ``up`` goes on)."""
    try:
        with Client(url, timeout=60) as api:
            for path, description in LOCATIONS:
                _add_location(api, path, description)
            api.post("/api/v1/sensors", json=LAB1_SENSOR, params={"replace": "true"})
            note(f"registered {', '.join(p for p, _ in LOCATIONS)} and lab-1-temp (on edge-box)")
            env = child_env()
            if token_file is not None:
                env["WASMFLEET_TOKEN_FILE"] = str(token_file)
            if ca_file is not None:
                env["WASMFLEET_CA_FILE"] = str(ca_file)
            for child in thing_children(root, url, broker, log):
                started.append(child)
                child.start(env)
            with spinner("waiting for the simulated things to register themselves..."):
                _wait_registered(api, ("lab-1-fan", "lab-2-fan", "lab-2-temp"), started)
            note("the simulators registered lab-1-fan, lab-2-fan and lab-2-temp themselves")
            app = api.post(
                "/api/v1/apps",
                content=(examples / APP_FILE).read_bytes(),
                headers={"content-type": "application/yaml"},
            )
            note(f"published the app {app['key']} ({examples / APP_FILE})")
            with spinner(f"installing {app['key']} at campus/lab-1..."):
                view = _install(api, app["key"])
            print_install(view)
            ran = api.post(f"/api/v1/installs/{INSTALL}/run")
            note(f"ran {INSTALL} once now: {ran.get('outcome')} {ran.get('detail') or ''}".rstrip())
            return view
    except ApiError as err:
        typer.secho(f"error: setting up the labs' app failed: {err.message}", fg="red", err=True)
    except TimeoutError as err:
        typer.secho(f"error: {err}", fg="red", err=True)
    return None


def _wait_registered(api: Client, names: Sequence[str], children: list[Child]) -> None:
    """Wait (bounded) until every simulator has registered its thing."""
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        listed = [*api.get("/api/v1/sensors"), *api.get("/api/v1/controllers")]
        have = {thing["name"] for thing in listed}
        if set(names) <= have:
            return
        dead = [c for c in children if c.name in names and c.exited() is not None]
        if dead:
            raise TimeoutError(
                f"the simulator {dead[0].name} exited with status {dead[0].exited()}; "
                f"its log: {dead[0].log_path}"
            )
        time.sleep(0.3)
    missing = sorted(set(names) - have)
    raise TimeoutError(f"the simulators did not register {', '.join(missing)} within 30 s")
