"""How the CLI prints: rich tables for people, the raw API JSON with ``--output json``.

Tables and notes go to stdout; progress bars, spinners and errors go to stderr, so that
``--output json`` always leaves stdout parseable.
"""

from __future__ import annotations

import enum
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wasmfleet.cli.client import client_setting


def _width() -> int | None:
    """Let rich size a terminal (or honour COLUMNS); piped output gets wide, unfolded lines."""
    try:
        interactive = sys.stdout.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return None if interactive or os.environ.get("COLUMNS") else PIPE_WIDTH


PIPE_WIDTH = 160
console = Console(highlight=False, width=_width())
err_console = Console(stderr=True, highlight=False)


class Output(enum.StrEnum):
    """What a command prints."""

    table = "table"
    json = "json"


OutputOpt = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        help="table for people, json for the raw API answer (env WASMFLEET_OUTPUT; output "
        "in the client's config file).",
        callback=client_setting("output", Output),
    ),
]

STATUS_STYLES = {
    "active": "green",
    "ok": "green",
    "inactive": "red",
    "suspect": "yellow",
    "dead": "red",
    "degraded": "red",
    "moving": "yellow",
    "failed": "red",
    "unplaceable": "red",
    "deploying": "yellow",
    "new": "yellow",
    "error": "red",
    "warning": "yellow",
}


def print_json(data: Any) -> None:
    """The API's JSON, indented, on stdout."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def styled(value: str) -> Text:
    """A status word coloured by what it means."""
    return Text(value, style=STATUS_STYLES.get(value.lower(), ""))


NO_WRAP = {"name", "status", "device", "url", "step", "answer", "ok", "ms", "score", "fit", "size"}


def table(*columns: str, title: str | None = None) -> Table:
    """An empty table with these column headers (short identifying columns never wrap)."""
    result = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in columns:
        result.add_column(column, overflow="fold", no_wrap=column in NO_WRAP)
    return result


def show(renderable: Any) -> None:
    """Print a table or text on stdout."""
    console.print(renderable)


def note(message: str, style: str = "") -> None:
    """A line for people on stdout (markup off)."""
    console.print(Text(message, style=style))


def human_size(size: int | None) -> str:
    """1536 -> '1.5 KiB'."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def parse_time(value: str | None) -> datetime | None:
    """An ISO time from the API (naive times are UTC), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ago(value: str | None, now: datetime | None = None) -> str:
    """'3 s ago', '5 min ago', '2 h ago', or '-' for never."""
    when = parse_time(value)
    if when is None:
        return value or "-"
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} d ago"


def clock(value: str | None) -> str:
    """An ISO time as local 'YYYY-MM-DD HH:MM:SS' (the value itself when unparseable)."""
    when = parse_time(value)
    if when is None:
        return value or "-"
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def labels_text(labels: Mapping[str, Any] | None) -> str:
    """{'a': 'b'} -> 'a=b' (comma separated, sorted)."""
    return ", ".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "-"


def capacity_text(capacity: Mapping[str, Any] | None) -> str:
    """'4 cores, 8192Mi, accel 100 %' from a device's capacity (memory in MiB, as manifests
    spell it)."""
    if not capacity:
        return "-"
    cores = capacity.get("cores") or []
    parts = [f"{len(cores)} core{'s' if len(cores) != 1 else ''}"]
    if capacity.get("memory_mb"):
        parts.append(f"{capacity['memory_mb']}Mi")
    if capacity.get("accelerator_pct"):
        parts.append(f"accel {capacity['accelerator_pct']} %")
    return ", ".join(parts)


def result_text(value: Any) -> str:
    """A function result for a table cell."""
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def ms(value: Any) -> str:
    """A duration in milliseconds for a table cell."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.1f}"
    return "-"


@contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr while the block runs (silent when stderr is not a terminal)."""
    if not err_console.is_terminal:
        yield
        return
    with err_console.status(message):
        yield


def key_values(rows: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column table of facts."""
    result = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    result.add_column(style="bold")
    result.add_column(overflow="fold")
    for key, value in rows:
        result.add_row(key, value if isinstance(value, Text) else result_text(value))
    return result
