"""``wasmfleet status``: the fleet at a glance."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from wasmfleet.cli.client import DEFAULT_URL, CaFileOpt, OrchestratorOpt
from wasmfleet.cli.deployment_views import deployments_table, moves_table
from wasmfleet.cli.devices import devices_table
from wasmfleet.cli.output import Output, OutputOpt, key_values
from wasmfleet.cli.watch import IntervalOpt, WatchOpt, show_once_or_watch


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


def _leader(leader: Any) -> str:
    """Who leads (docs/scale-out.md): this orchestrator, or the holder of the lease."""
    if not isinstance(leader, dict):
        return "-"
    fencing = f"fencing number {leader.get('fencing')}"
    if leader.get("leading"):
        return f"this orchestrator ({fencing})"
    return f"{leader.get('holder') or 'nobody'} ({fencing}); this one follows"


def status_view(answer: Any, url: str) -> RenderableType:
    """The orchestrator's facts, its devices by status, its deployments and moves."""
    info = answer.get("orchestrator") or {}
    counts = answer.get("counts") or {}
    executions = counts.get("executions") or {}
    parts: list[RenderableType] = [
        key_values(
            [
                ("orchestrator", url),
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
                ("leader", _leader(info.get("leader"))),
            ],
            title="wasmfleet status",
        )
    ]
    devices = sorted(
        answer.get("devices") or [], key=lambda d: (d.get("status") != "active", d.get("name"))
    )
    if devices:
        parts.append(devices_table(devices, title="devices"))
    else:
        parts.append(Text("No devices yet: start supervisors with --orchestrator " + url))
    deployments = answer.get("deployments") or []
    if deployments:
        table = deployments_table(deployments)
        table.title = "deployments"
        parts.append(table)
        moved = moves_table(deployments)
        if moved is not None:
            parts.append(moved)
    installs = answer.get("installs") or []
    if installs:
        from wasmfleet.cli.apps import installs_table

        shown = installs_table(installs)
        shown.title = "installs"
        parts.append(shown)
    return Group(*parts)


def status(
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
    watch: WatchOpt = False,
    interval: IntervalOpt = 2.0,
) -> None:
    """Show the orchestrator, its devices by status, its deployments, installs and counts."""
    show_once_or_watch(
        orchestrator,
        "/api/v1/status",
        status_view,
        output=output,
        watch=watch,
        interval=interval,
    )
