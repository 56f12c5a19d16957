"""``wasmfleet exec --trace``: an execution's trace as a waterfall in the terminal.

One row per span (``GET /api/v1/executions/{id}/trace``): where it ran, when it started
(offset from the execution's start), how long it took, how much of that was the function's
own time, and a bar drawn to scale — ``█`` the function's own time, ``░`` waiting for the
hops after it, ``▒`` the orchestrator's span (calling and reading the steps' records).
"""

from __future__ import annotations

from typing import Any

from wasmfleet.cli.output import ms, show, styled, table

BAR_WIDTH = 40
OWN, WAIT, ROOT = "█", "░", "▒"


def bar(start: float | None, duration: float | None, own: float | None, total: float) -> str:
    """A span's bar, ``BAR_WIDTH`` cells for ``total`` ms; ``?`` when its times are unknown."""
    if start is None or duration is None or total <= 0:
        return "?"
    scale = BAR_WIDTH / total
    lead = min(BAR_WIDTH - 1, max(0, round(start * scale)))
    cells = max(1, min(BAR_WIDTH - lead, round(duration * scale)))
    if own is None:
        return " " * lead + ROOT * cells
    own_cells = min(cells, max(1 if own > 0 else 0, round(own * scale)))
    return " " * lead + OWN * own_cells + WAIT * (cells - own_cells)


def waterfall_rows(trace: dict[str, Any]) -> list[tuple[str, str, str, str, str, str, str]]:
    """``(span, device, start, took, own, bar, ok)`` per span, the root first."""
    spans = trace.get("spans") or []
    ends = [
        (s.get("start_ms") or 0) + (s.get("duration_ms") or 0)
        for s in spans
        if s.get("duration_ms") is not None
    ]
    total = max([trace.get("duration_ms") or 0, *ends])
    rows = []
    for span in spans:
        step = span.get("kind") == "step"
        rows.append(
            (
                ("  " if step else "") + str(span.get("name")),
                span.get("device") or "orchestrator",
                "+" + ms(span.get("start_ms")),
                ms(span.get("duration_ms")),
                ms(span.get("self_ms")) if step else "-",
                bar(
                    span.get("start_ms"),
                    span.get("duration_ms"),
                    span.get("self_ms") if step else None,
                    total,
                ),
                "ok" if span.get("success") else "failed",
            )
        )
    return rows


def print_waterfall(trace: dict[str, Any]) -> None:
    """Print the trace as a table with a bar per span, then the legend."""
    result = table(
        "span",
        "device",
        "start ms",
        "took ms",
        "own ms",
        "waterfall",
        "ok",
        title=f"trace {trace.get('trace_id')}",
    )
    for *cells, ok in waterfall_rows(trace):
        result.add_row(*cells, styled(ok))
    show(result)
    show(
        f"{OWN} the function's own time   {WAIT} waiting for the next hop   "
        f"{ROOT} the orchestrator   (start: on each device's clock, see docs/tracing.md)"
    )
