"""``--watch``: show a command's view again every ``--interval`` seconds, until Ctrl-C.

On a terminal the view is redrawn in place; piped, each refresh is printed after the last (so
``wasmfleet status --watch | tee fleet.log`` keeps a record), and with ``--output json`` each
refresh is one JSON document on one line. When the orchestrator cannot be reached, the view
says so, keeps the last answer it had, and the next refresh tries again. Ctrl-C ends the watch
with exit status 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from wasmfleet.cli.client import ApiError, Client, reported
from wasmfleet.cli.output import Output, console, err_console, print_json, show

WatchOpt = Annotated[
    bool,
    typer.Option("--watch", "-w", help="Show it again every --interval seconds, until Ctrl-C."),
]
IntervalOpt = Annotated[
    float,
    typer.Option(
        "--interval", min=0.2, max=3600.0, help="Seconds between two refreshes with --watch."
    ),
]

View = Callable[[Any, str], RenderableType]
"""Turns the API's answer (and the orchestrator URL) into what a person sees."""


def show_once_or_watch(
    orchestrator: str,
    path: str,
    view: View,
    *,
    output: Output,
    watch: bool,
    interval: float,
) -> None:
    """GET ``path`` and show it (JSON or ``view``); with ``watch``, again and again."""
    if not watch:
        with reported(), Client(orchestrator) as api:
            answer = api.get(path)
        if output is Output.json:
            print_json(answer)
        else:
            show(view(answer, api.url))
        return
    with reported(), Client(orchestrator, timeout=max(5.0, interval)) as api:
        try:
            if output is Output.json:
                _watch_json(api, path, interval)
            else:
                _watch_view(api, path, view, interval)
        except KeyboardInterrupt:
            return  # Ctrl-C is how a watch ends


def _heading(interval: float, error: str | None, last_ok: str | None) -> RenderableType:
    now = datetime.now().strftime("%H:%M:%S")
    line = Text(f"every {interval:g} s · {now} · Ctrl-C to stop", style="dim")
    if error is None:
        return line
    since = f"; showing the answer of {last_ok}" if last_ok else ""
    problem = Text(f"error: {error} (trying again every {interval:g} s{since})", style="red")
    return Group(line, problem)


def _watch_view(api: Client, path: str, view: View, interval: float) -> None:
    last: RenderableType | None = None
    last_ok: str | None = None
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    try:
        while True:
            began = time.monotonic()
            error = None
            try:
                last = view(api.get(path), api.url)
                last_ok = datetime.now().strftime("%H:%M:%S")
            except ApiError as err:
                error = err.message
            frame = Group(_heading(interval, error, last_ok), *([last] if last is not None else []))
            if live is not None:
                live.update(frame, refresh=True)
            else:
                console.print(frame)
                console.print()
                console.file.flush()
            time.sleep(max(0.0, interval - (time.monotonic() - began)))
    finally:
        if live is not None:
            live.stop()


def _watch_json(api: Client, path: str, interval: float) -> None:
    while True:
        began = time.monotonic()
        try:
            answer = api.get(path)
        except ApiError as err:
            err_console.print(Text(f"error: {err.message}", style="red"))
        else:
            typer.echo(json.dumps(answer, ensure_ascii=False, default=str))
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
