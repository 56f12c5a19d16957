"""What ``wasmfleet up`` prints once the fleet runs: copy-pasteable commands, real ports."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from wasmfleet.cli.client import DEFAULT_URL
from wasmfleet.cli.local_fleet import Child
from wasmfleet.cli.output import note
from wasmfleet.cli.up_streams import camera_command

READY_LINE = "What to try next"
"""The line tests and scripts wait for: the fleet is up."""


def cli_name() -> str:
    """How to type ``wasmfleet`` here: on PATH, the venv's script, or ``python -m``."""
    script = Path(sys.executable).parent / "wasmfleet"
    found = shutil.which("wasmfleet")
    if found and (not script.exists() or Path(found).resolve() == script.resolve()):
        return "wasmfleet"
    return _here(script) if script.exists() else f"{sys.executable} -m wasmfleet"


def _here(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def what_next(
    url: str,
    supervisors: list[Child],
    deployed: dict[str, dict[str, Any]],
    examples: Path | None = None,
    broker: str | None = None,
    cloud_broker: str | None = None,
    objects: Path | None = None,
    ca_file: Path | None = None,
    token_file: Path | None = None,
    installed: dict[str, Any] | None = None,
) -> None:
    """Copy-pasteable commands with the real ports (and the MQTT brokers' URLs, if any);
    ``ca_file``: the fleet serves HTTPS, its certificates signed by that CA; ``token_file``:
    auth is on, the orchestrator's curl lines send that token."""
    cli = cli_name()
    lines: list[tuple[str, str]] = []
    if url != DEFAULT_URL:
        lines.append((f"export WASMFLEET_ORCHESTRATOR={url}", "so the commands below find it"))
    if ca_file is not None:
        lines.append((f"export WASMFLEET_CA_FILE={ca_file}", "the CA of this run's HTTPS"))
    curl = f"curl --cacert {ca_file}" if ca_file is not None else "curl"
    api_curl = curl  # the orchestrator's routes need the token when auth is on
    if token_file is not None:
        api_curl += f' -H "Authorization: Bearer $(cat {token_file})"'
    lines += [
        (f"{cli} status", "the fleet at a glance"),
        (f"{cli} device ls", "devices, labels, capacity"),
        (
            f"{url}/ui/",
            "the web dashboard in a browser"
            + (f" (sign in with the token in {token_file})" if token_file is not None else ""),
        ),
    ]
    if deployed:
        lines.append((f"{cli} module ls", "the modules pushed from modules/"))
    if installed is not None:
        name = installed.get("name", "too-warm-lab-1")
        lines += [
            (f"{cli} location ls", "the two labs, their sensors and controllers"),
            (f"{cli} app installs", f"{name} and its next fire (every minute)"),
            (f"{cli} app fires {name}", "each scheduled run and its outcome"),
            (f"{cli} app run {name}", 'run it now: the fan in lab 1 gets {"speed": 2}'),
            (f"{url}/ui/#/apps", "the app, its binding and where it runs, in the dashboard"),
        ]
    if "camera-pipeline" in deployed:
        lines += [
            (f"{cli} deployment show camera-pipeline", "where each step went, and why"),
            (f"{cli} exec camera-pipeline", "cam-gw takes a picture, edge-box counts its pixels"),
            (f"{cli} exec camera-pipeline --trace", "the same, with its waterfall across devices"),
        ]
    if "face-pipeline" in deployed:
        lines.append(
            (f"{cli} exec face-pipeline", "cam-gw's picture; BlazeFace via WASI-NN finds the face")
        )
    if "fibo" in deployed:
        lines.append((f"{cli} exec fibo iterations=30", "on cloud-vm, placed by resources"))
    if "everywhere" in deployed:
        lines += [
            (f"{cli} exec everywhere --all iterations=10", "fibo on every device (replicas: all)"),
            (f"{cli} rollout start everywhere --to fibo@2", "after pushing a 2nd version of fibo"),
        ]
    edge = next((c for c in supervisors if c.name == "edge-box" and c.proc), None)
    if "tally" in deployed and edge is not None and edge.proc is not None:
        lines += [
            (
                f"kill -STOP {edge.proc.pid}; sleep 10; kill -CONT {edge.proc.pid}",
                "stall edge-box: tally's counter moves to cloud-vm",
            ),
            (f"{cli} status", "... edge-box dead, then back; the moved step and why"),
            (f"{cli} exec tally iterations=10", "the counter now runs on cloud-vm"),
        ]
    if examples is not None and (examples / "fibo.json").is_file():
        lines.append((f"{cli} deploy {_here(examples / 'fibo.json')}", "a wasmiot-shape manifest"))
    if broker:
        lines += [
            (
                f"{cli} sensor simulate --kind temperature --topic site/lab/temperature "
                f"--rate 5/s --broker {broker}",
                "a thermometer: thermo-alerts runs on every reading"
                if "thermo-alerts" in deployed
                else "a thermometer publishing readings",
            ),
            (
                f"{cli} sensor controller --topic 'site/+/commands' --broker {broker}",
                "a controller logging the commands it receives",
            ),
        ]
    if broker and "camera-uplink" in deployed:
        camera = " ".join(camera_command(broker, 40, "2/s")[3:])
        lines.append((f"{cli} {camera}", "the camera again: motion crops go to the cloud"))
        if objects is not None:
            lines.append((f"ls {objects}/store/crops/lab", "the crops in the object store"))
    lines += [
        (f"{cli} logs --follow", "what the supervisors log"),
        (f"{api_curl} {url}/api/v1/status", "the same over HTTP (API docs: " + url + "/docs)"),
        (f"{api_curl} {url}/metrics", "Prometheus metrics (each supervisor has /metrics too)"),
    ]
    if "fibo" in deployed:
        lines.append(
            (
                f"{api_curl} -X POST {url}/api/v1/deployments/fibo/execute "
                "-H 'content-type: application/json' -d '{\"args\": {\"iterations\": 10}}'",
                "",
            )
        )
        plan = deployed["fibo"].get("plan") or {}
        steps = plan.get("steps") or []
        urls = {c.name: c.url for c in supervisors}
        if steps and steps[0].get("device") in urls:
            base = urls[steps[0]["device"]]
            lines.append(
                (
                    f"{curl} '{base}/{deployed['fibo'].get('id')}/modules/fibo/fibo?iterations=7'",
                    "call the supervisor directly",
                )
            )
    note("")
    where = f"the orchestrator is {url}" + (f", the MQTT broker {broker}" if broker else "")
    if cloud_broker:
        where += f", the cloud's MQTT broker {cloud_broker}"
    note(f"{READY_LINE} ({where}):", "bold")
    for command, comment in lines:
        typer.echo(f"  {command}" + (f"    # {comment}" if comment else ""))
    typer.echo("\nPress Ctrl-C to stop the fleet.")
