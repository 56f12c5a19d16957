"""``wasmfleet audit``: who changed what, and when (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wasmfleet.cli.client import DEFAULT_URL, Client, OrchestratorOpt, reported
from wasmfleet.cli.output import Output, OutputOpt, clock, print_json, show, table


def audit(
    since: Annotated[
        str | None, typer.Option(help="From this ISO time, or this long ago (2h, 7d).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only changes by this user.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries (1-1000).")] = 100,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Show the audit log: changes made through the API, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if since:
        params["since"] = since
    if actor:
        params["actor"] = actor
    with reported(), Client(orchestrator) as api:
        entries = api.get("/api/v1/audit", params=params)
    if output is Output.json:
        print_json(entries)
        return
    result = table("time", "actor", "role", "change", "target", "status")
    for e in entries:
        result.add_row(
            clock(e.get("time")),
            e["actor"],
            e.get("role") or "",
            f"{e['method']} {e['route']}",
            e.get("target") or "",
            str(e["status"]),
        )
    show(result)
