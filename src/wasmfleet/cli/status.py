"""``wasmfleet status``: the fleet at a glance."""

from __future__ import annotations

from typing import Any

from wasmfleet.cli.client import DEFAULT_URL, Client, OrchestratorOpt, reported
from wasmfleet.cli.deployments import deployments_table, moves_table
from wasmfleet.cli.devices import devices_table
from wasmfleet.cli.output import Output, OutputOpt, key_values, note, print_json, show


def _by_status(counts: Any) -> str:
    if isinstance(counts, dict):
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "0"
    return str(counts if counts is not None else 0)


def _healing(healing: Any) -> str:
    if not isinstance(healing, dict):
        return "-"
    return (
        f"{healing.get('steps_moved', 0)} steps moved, "
        f"{healing.get('stale_copies_removed', 0)} stale copies removed, "
        f"{healing.get('heartbeats', 0)} heartbeats"
    )


def status(orchestrator: OrchestratorOpt = DEFAULT_URL, output: OutputOpt = Output.table) -> None:
    """Show the orchestrator, its devices by status, its deployments and counts."""
    with reported(), Client(orchestrator) as api:
        answer = api.get("/api/v1/status")
    if output is Output.json:
        print_json(answer)
        return
    info = answer.get("orchestrator") or {}
    counts = answer.get("counts") or {}
    executions = counts.get("executions") or {}
    show(
        key_values(
            [
                ("orchestrator", api.url),
                ("version", info.get("version", "?")),
                ("database", info.get("database", "?")),
                ("public url", info.get("public_url", "?")),
                ("uptime", f"{float(info.get('uptime_s') or 0):.0f} s"),
                ("devices", _by_status(counts.get("devices"))),
                ("modules", counts.get("modules", 0)),
                ("deployments", _by_status(counts.get("deployments"))),
                (
                    "executions",
                    f"{executions.get('total', 0)} ({executions.get('failed', 0)} failed)",
                ),
                ("log entries", counts.get("logs", 0)),
                ("self-healing", _healing(info.get("healing"))),
            ],
            title="wasmfleet status",
        )
    )
    devices = sorted(
        answer.get("devices") or [], key=lambda d: (d.get("status") != "active", d.get("name"))
    )
    if devices:
        show(devices_table(devices, title="devices"))
    else:
        note("No devices yet: start supervisors with --orchestrator " + api.url)
    deployments = answer.get("deployments") or []
    if deployments:
        table = deployments_table(deployments)
        table.title = "deployments"
        show(table)
        moved = moves_table(deployments)
        if moved is not None:
            show(moved)
