"""How deployments, plans, placements and executions look in the terminal (rich tables)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from rich.text import Text

from wasmfleet.cli.client import ApiError, fail
from wasmfleet.cli.output import (
    Output,
    ago,
    clock,
    err_console,
    key_values,
    ms,
    note,
    print_json,
    result_text,
    show,
    styled,
    table,
)
from wasmfleet.core.protocol import ErrorCode


def step_text(step: dict[str, Any]) -> str:
    """``module.function`` of a plan step, or ``bridge → <broker>`` for a bridge step."""
    if step.get("bridge") is not None:
        return f"bridge → {step['bridge'].get('to', '?')}"
    return f"{step.get('module')}.{step.get('function')}"


def plan_table(deployment: dict[str, Any]) -> Any:
    """step, module.function, device, version, score, fit: one row per copy (a fleet-wide
    step has one per device; one that no device matches yet has a row saying so)."""
    plan = deployment.get("plan") or {}
    result = table("step", "module.function", "device", "version", "score", "fit")
    if plan.get("strategy"):
        result.caption = f"strategy {plan['strategy']}, scorer {plan.get('scorer')}"
    entries = plan.get("steps") or []
    placed = {int(step.get("step", 0)) for step in entries}
    rows: list[tuple[int, tuple[str, ...]]] = []
    for step in entries:
        version = step.get("version")
        rows.append(
            (
                int(step.get("step", 0)),
                (
                    str(int(step.get("step", 0)) + 1),
                    step_text(step),
                    step.get("device", "?"),
                    str(version) if isinstance(version, int) else "-",
                    f"{float(step.get('score', 0.0)):.3f}",
                    str(step.get("fit", "-")),
                ),
            )
        )
    for index, wanted in enumerate((deployment.get("manifest") or {}).get("steps") or []):
        if isinstance(wanted, dict) and "replicas" in wanted and index not in placed:
            label = f"{wanted.get('module')}.{wanted.get('function')}"
            waiting = "none yet (no device matches; waiting for one)"
            rows.append((index, (str(index + 1), label, waiting, "-", "-", "0")))
    for _, row in sorted(rows, key=lambda r: r[0]):
        result.add_row(*row)
    return result


def rejections_table(deployment: dict[str, Any]) -> Any | None:
    """The devices each step rejected, with the reason (None when nothing was rejected)."""
    rows = list(  # the copies of a fleet-wide step share their rejections: shown once
        dict.fromkeys(
            (str(int(step.get("step", 0)) + 1), r.get("device", "?"), r.get("reason", ""))
            for step in (deployment.get("plan") or {}).get("steps") or []
            for r in step.get("rejected") or []
        )
    )
    if not rows:
        return None
    result = table("step", "rejected device", "reason", title="devices that did not fit")
    for row in rows:
        result.add_row(*row)
    return result


def answers_table(deployment: dict[str, Any]) -> Any | None:
    """Each device's answer to the deploy (None before deploying)."""
    answers = deployment.get("devices") or {}
    if not answers:
        return None
    result = table("device", "answer", "message", title="device answers")
    for device, answer in sorted(answers.items()):
        ok = bool(answer.get("ok"))
        result.add_row(device, styled("ok" if ok else "failed"), answer.get("message") or "")
    return result


def reasons_table(error: dict[str, Any]) -> Any:
    """An unplaceable answer's per-device reasons."""
    step = error.get("step")
    result = table("device", "reason", title=f"why step {step} fits nowhere" if step else None)
    for device, reason in sorted((error.get("reasons") or {}).items()):
        result.add_row(device, str(reason))
    return result


def print_warnings(answer: Any) -> None:
    """The manifest's warnings in a create/update answer or its error, on stderr."""
    places = (
        (answer, answer.get("error"), answer.get("deployment")) if isinstance(answer, dict) else ()
    )
    found = [p["warnings"] for p in places if isinstance(p, dict) and p.get("warnings")]
    for warning in found[0] if found else []:
        err_console.print(Text(f"warning: {warning}", style="yellow"))


def print_deployment(deployment: dict[str, Any], *, with_error: bool = True) -> None:
    """Status, placement, rejections and device answers (and the error) of a deployment."""
    print_warnings(deployment)
    note(f"deployment {deployment.get('name')}: {deployment.get('status')}", "bold")
    parts = (
        plan_table(deployment),
        rejections_table(deployment),
        answers_table(deployment),
        moves_table([deployment]),
    )
    for i, part in enumerate(p for p in parts if p is not None):
        if i:
            note("")
        show(part)
    if with_error and deployment.get("error"):
        note(f"error: {deployment['error']}", "red")


def print_failure(err: ApiError, output: Output = Output.table) -> None:
    """What a failed deploy or execution answered: the JSON, or reasons/plan/steps tables."""
    body = err.body if isinstance(err.body, dict) else {}
    if output is Output.json and err.body is not None:
        print_warnings(err.body)
        print_json(err.body)
    elif err.code == ErrorCode.UNPLACEABLE:
        print_warnings(err.body)
        show(reasons_table(err.error))
    elif isinstance(body.get("deployment"), dict):
        print_deployment(body["deployment"], with_error=False)
    elif isinstance(body.get("execution"), dict):
        print_execution(body["execution"])


def report_deploy_error(err: ApiError, output: Output) -> NoReturn:
    """Print what a failed create/deploy/redeploy answered, then exit 1."""
    print_failure(err, output)
    fail(err.message)


def deployments_table(deployments: Iterable[dict[str, Any]]) -> Any:
    """name, status, steps, devices, moved steps, updated."""
    result = table("name", "status", "steps", "devices", "moved", "updated")
    for d in deployments:
        steps = (d.get("plan") or {}).get("steps") or []
        devices = sorted({s.get("device", "?") for s in steps})
        moves = d.get("moves") or []
        last = moves[-1] if moves else None
        moved = f"{len(moves)} (last {last['from']} → {last['to']})" if last else "-"
        result.add_row(
            d.get("name", "?"),
            styled(str(d.get("status", "?"))),
            " → ".join(step_text(s) for s in steps) or "-",
            ", ".join(devices) or "-",
            moved,
            ago(d.get("updated_at")),
        )
    return result


def moves_table(deployments: Iterable[dict[str, Any]], limit: int = 10) -> Any | None:
    """The steps self-healing moved, newest last (None when nothing moved)."""
    moves = [(move, d.get("name", "?")) for d in deployments for move in (d.get("moves") or [])]
    if not moves:
        return None
    moves.sort(key=lambda pair: str(pair[0].get("at")))
    result = table("time", "deployment", "step", "from", "to", "why", title="moved steps")
    for move, name in moves[-limit:]:
        result.add_row(
            clock(move.get("at")),
            name,
            f"{int(move.get('step', 0)) + 1} {move.get('function', '')}",
            str(move.get("from")),
            str(move.get("to")),
            str(move.get("reason")),
        )
    return result


def execution_table(execution: dict[str, Any]) -> Any:
    """step, device, function, result, duration."""
    result = table("step", "device", "function", "result", "ms", "ok")
    for step in execution.get("steps") or []:
        result.add_row(
            str(int(step.get("step", 0)) + 1),
            step.get("device", "?"),
            f"{step.get('module')}.{step.get('function')}",
            result_text(step.get("result")),
            ms(step.get("duration_ms")),
            styled("ok" if step.get("success") else "failed"),
        )
    return result


def print_execution(execution: dict[str, Any]) -> None:
    """The final result, then the per-step table."""
    rows: list[tuple[str, Any]] = [("result", result_text(execution.get("result")))]
    if execution.get("result_url"):
        rows.append(("result url", execution["result_url"]))
    rows.append(("took", f"{ms(execution.get('duration_ms'))} ms"))
    show(key_values(rows))
    note("")
    show(execution_table(execution))


def print_copies(copies: list[dict[str, Any]], then: Callable[[], object] | None = None) -> None:
    """``exec --all``: one row per copy of the first step, its result or error (``then``:
    what to print after the table, before a failure exits)."""
    result = table("device", "answer", "result", title="one run per copy")
    for copy in copies:
        ok = bool(copy.get("success"))
        shown = result_text(copy.get("result")) if ok else str(copy.get("error") or "")
        result.add_row(copy.get("device", "?"), styled("ok" if ok else "failed"), shown)
    show(result)
    if then is not None:
        then()
    if not all(c.get("success") for c in copies):
        raise SystemExit(1)
