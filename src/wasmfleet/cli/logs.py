"""``wasmfleet logs``: what the supervisors reported, optionally followed live."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.text import Text

from wasmfleet.cli.client import (
    DEFAULT_URL,
    ApiError,
    CaFileOpt,
    Client,
    OrchestratorOpt,
    fail,
    reported,
)
from wasmfleet.cli.output import Output, OutputOpt, clock, console, note, print_json

LEVEL_STYLES = {"error": "red", "critical": "red", "warning": "yellow", "debug": "dim"}


def log_line(entry: dict[str, Any]) -> Text:
    """``time device level message`` for one log entry."""
    level = str(entry.get("level") or "info").lower()
    line = Text(f"{clock(entry.get('time'))} ")
    line.append(f"{entry.get('device') or '-':<10} ", style="bold")
    line.append(f"{level:<7} ", style=LEVEL_STYLES.get(level, ""))
    line.append(str(entry.get("message") or ""))
    return line


def print_entries(entries: Iterable[dict[str, Any]], output: Output) -> int | None:
    """Print entries (one JSON object per line with json); the last id seen."""
    last: int | None = None
    for entry in entries:
        if output is Output.json:
            typer.echo(json.dumps(entry, ensure_ascii=False, default=str))
        else:
            console.print(log_line(entry))
        if isinstance(entry.get("id"), int):
            last = entry["id"]
    return last


def logs(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new entries until Ctrl-C.")
    ] = False,
    device: Annotated[str | None, typer.Option(help="Only this device's entries.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only entries after this ISO time, e.g. 2025-01-31T12:00.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries per request.")] = 1000,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 1.0,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Print the supervisors' logs as `time device level message`, oldest first.

    With --output json, prints the API's list (or, with --follow, one JSON object per line).
    """
    params: dict[str, Any] = {"limit": max(1, min(limit, 10_000))}  # the API's range
    if device:
        params["device"] = device
    if since:
        params["since"] = since
    with reported(), Client(orchestrator, timeout=10) as api:
        entries = api.get("/api/v1/logs", params=params)
    if not follow:
        if output is Output.json:
            print_json(entries)
        elif not entries:
            note("No log entries yet.")
        else:
            print_entries(entries, output)
        return
    last = print_entries(entries, output)
    lost = False
    try:
        with Client(orchestrator, timeout=10) as api:
            while True:
                time.sleep(max(0.1, interval))
                query = dict(params)
                if last is not None:
                    query["after_id"] = last
                    query.pop("since", None)
                try:
                    fresh = api.get("/api/v1/logs", params=query)
                except ApiError as err:
                    if err.status is not None:
                        fail(err.message)
                    if not lost:
                        typer.secho(f"warning: {err.message} Retrying...", fg="yellow", err=True)
                    lost = True
                    continue
                if lost:
                    typer.secho("reconnected to the orchestrator", fg="green", err=True)
                lost = False
                last = print_entries(fresh, output) or last
    except KeyboardInterrupt:
        return
