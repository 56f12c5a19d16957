"""``wasmfleet device``: the devices the orchestrator knows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.text import Text

from wasmfleet.cli.client import DEFAULT_URL, CaFileOpt, Client, OrchestratorOpt, fail, reported
from wasmfleet.cli.output import (
    Output,
    OutputOpt,
    ago,
    capacity_text,
    clock,
    key_values,
    labels_text,
    note,
    print_json,
    show,
    styled,
    table,
)
from wasmfleet.cli.watch import IntervalOpt, WatchOpt, show_once_or_watch

app = typer.Typer(
    name="device",
    help="List, inspect and forget the devices of the fleet.",
    no_args_is_help=True,
)


def devices_table(devices: Iterable[dict[str, Any]], title: str | None = None) -> Any:
    """name, status, url, labels, interfaces, capacity, last seen, and why if not healthy."""
    devices = list(devices)
    troubled = any(_why(d) for d in devices)
    streaming = any(d.get("streams") for d in devices)
    columns = ["name", "status", "url", "labels", "ifaces", "capacity", "seen"]
    columns += ["messages"] if streaming else []
    result = table(*columns, *(["why"] if troubled else []), title=title)
    for d in devices:
        row = [
            d.get("name", "?"),
            styled(str(d.get("status", "?"))),
            d.get("url") or "-",
            labels_text(d.get("labels")),
            str(len(d.get("interfaces") or [])),
            capacity_text(d.get("capacity")),
            ago(d.get("last_seen")),
        ]
        if streaming:
            row.append(messages_text(d.get("streams")))
        result.add_row(*row, *([_why(d) or ""] if troubled else []))
    return result


def messages_text(streams: Any) -> str:
    """``120 in, 118 ok, 2 failed, 130 out, 118 bridged`` from a device's message counters
    (``-`` if none): out counts results and ``wasmfleet.publish`` calls."""
    if not isinstance(streams, dict):
        return "-"
    text = f"{streams.get('received', 0)} in, {streams.get('handled', 0)} ok"
    if streams.get("failed"):
        text += f", {streams['failed']} failed"
    if streams.get("dead_lettered"):
        text += f" ({streams['dead_lettered']} dead-lettered)"
    text += f", {streams.get('published', 0) + streams.get('guest_published', 0)} out"
    if "bridged" in streams:
        text += f", {streams['bridged']} bridged"
    return text


def _why(device: dict[str, Any]) -> str | None:
    """Why a device is suspect, dead or gets no new work (None when it is healthy)."""
    if device.get("status") not in (None, "active"):
        return str(device.get("reason") or device.get("status"))
    if device.get("placeable") is False and device.get("unplaceable_because"):
        return str(device["unplaceable_because"])
    return None


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_num(v) for v in value) + "]"
    return str(value)


def interfaces_text(names: list[str], spell_out: int = 8) -> str:
    """Host interfaces grouped by namespace; big namespaces (WASI) as a count."""
    groups: dict[str, list[str]] = {}
    for name in names:
        namespace, _, function = name.rpartition(".")
        groups.setdefault(namespace or "(no namespace)", []).append(function)
    parts = []
    for namespace, functions in sorted(groups.items()):
        if len(functions) > spell_out:
            parts.append(f"{namespace}: {len(functions)} functions")
        else:
            parts.append(f"{namespace}: {', '.join(functions)}")
    return "; ".join(parts) or "-"


@app.command("ls")
def list_devices(
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
    watch: WatchOpt = False,
    interval: IntervalOpt = 2.0,
) -> None:
    """List every device with its status, labels and capacity."""
    show_once_or_watch(
        orchestrator, "/api/v1/devices", devices_view, output=output, watch=watch, interval=interval
    )


def devices_view(devices: Any, url: str) -> Any:
    """The devices table, or what to do when there is none."""
    if not devices:
        return Text(
            f"No devices yet. Start a supervisor with --orchestrator {url} (or run `wasmfleet up`)."
        )
    return devices_table(devices)


@app.command("show")
def show_device(
    name: Annotated[str, typer.Argument(help="Device name or id.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Show one device: addresses, platform, interfaces, health and its status log."""
    with reported(), Client(orchestrator) as api:
        device = api.get(f"/api/v1/devices/{name}")
    if output is Output.json:
        print_json(device)
        return
    platform = device.get("platform") or {}
    cpu = platform.get("cpu") or {}
    health = device.get("health") or {}
    rows: list[tuple[str, Any]] = [
        ("name", device.get("name")),
        ("id", device.get("id")),
        ("status", styled(str(device.get("status", "?")))),
        ("url", device.get("url")),
        ("addresses", ", ".join(device.get("addresses") or []) or "-"),
        ("labels", labels_text(device.get("labels"))),
        ("capacity", capacity_text(device.get("capacity"))),
        ("last seen", f"{clock(device.get('last_seen'))} ({ago(device.get('last_seen'))})"),
        ("watched by", device.get("monitoring") or "-"),
        ("phi", device.get("phi") if device.get("phi") is not None else "-"),
        ("failed polls", device.get("failures", 0)),
    ]
    if _why(device):
        rows.insert(3, ("why", _why(device)))
    if cpu:
        rows.append(("cpu", cpu.get("humanReadableName") or cpu.get("name") or cpu))
    if health:
        rows.append(("health", ", ".join(f"{k}={_num(v)}" for k, v in sorted(health.items()))))
    rows.append(("interfaces", interfaces_text(device.get("interfaces") or [])))
    show(key_values(rows, title=f"device {device.get('name')}"))
    log = device.get("status_log") or []
    if log:
        history = table("time", "status", "reason", title="status log")
        for entry in log:
            history.add_row(
                clock(entry.get("time")), styled(str(entry.get("status"))), entry.get("reason")
            )
        show(history)


@app.command("forget")
def forget(
    name: Annotated[str | None, typer.Argument(help="Device name or id.")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="Forget every device.")] = False,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Forget a device (or --all); a running supervisor is found again when it registers."""
    if (name is None) == (not all_devices):
        fail("Name one device to forget, or pass --all (not both).", 2)
    with reported(), Client(orchestrator) as api:
        if all_devices:
            answer = api.delete("/api/v1/devices")
            count = int((answer or {}).get("forgotten", 0))
            text = f"forgot {count} device{'s' if count != 1 else ''}"
        else:
            answer = api.delete(f"/api/v1/devices/{name}")
            text = f"forgot device {name}"
    if output is Output.json:
        print_json(answer if answer is not None else {"forgotten": name})
    else:
        note(text)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="Name of a device that joined.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Revoke a joined device: its credential is refused, it gets no more work, and its
    steps move to other devices (admins)."""
    with reported(), Client(orchestrator) as api:
        answer = api.post(f"/api/v1/devices/{name}/revoke")
    if output is Output.json:
        print_json(answer)
    else:
        note(f"revoked device {name} ({answer.get('tokens', 0)} credential(s) refused from now on)")
