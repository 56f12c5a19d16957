"""``wasmfleet deploy``, ``wasmfleet exec`` and ``wasmfleet deployment``: pipelines on devices."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from wasmfleet.cli.client import DEFAULT_URL, ApiError, Client, OrchestratorOpt, fail, reported
from wasmfleet.cli.manifest_file import read_manifest
from wasmfleet.cli.modules import media_type, parse_pairs
from wasmfleet.cli.output import (
    Output,
    OutputOpt,
    ago,
    clock,
    err_console,
    key_values,
    ms,
    note,
    print_json,
    result_text,
    show,
    spinner,
    styled,
    table,
)
from wasmfleet.cli.watch import IntervalOpt, WatchOpt, show_once_or_watch
from wasmfleet.core.protocol import ErrorCode

app = typer.Typer(
    name="deployment",
    help="List, inspect, redeploy and remove deployments.",
    no_args_is_help=True,
)


def step_text(step: dict[str, Any]) -> str:
    """``module.function`` of a plan step, or ``bridge → <broker>`` for a bridge step."""
    if step.get("bridge") is not None:
        return f"bridge → {step['bridge'].get('to', '?')}"
    return f"{step.get('module')}.{step.get('function')}"


def plan_table(deployment: dict[str, Any]) -> Any:
    """step, module.function, device, score, fit (one row per step)."""
    plan = deployment.get("plan") or {}
    result = table("step", "module.function", "device", "score", "fit")
    if plan.get("strategy"):
        result.caption = f"strategy {plan['strategy']}, scorer {plan.get('scorer')}"
    for step in plan.get("steps") or []:
        result.add_row(
            str(int(step.get("step", 0)) + 1),
            step_text(step),
            step.get("device", "?"),
            f"{float(step.get('score', 0.0)):.3f}",
            str(step.get("fit", "-")),
        )
    return result


def rejections_table(deployment: dict[str, Any]) -> Any | None:
    """The devices each step rejected, with the reason (None when nothing was rejected)."""
    rows = [
        (str(int(step.get("step", 0)) + 1), r.get("device", "?"), r.get("reason", ""))
        for step in (deployment.get("plan") or {}).get("steps") or []
        for r in step.get("rejected") or []
    ]
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


def create_deployment(
    api: Client, body: bytes, content_type: str, *, deploy: bool = True
) -> dict[str, Any]:
    """POST the manifest; ApiError (with the body) when unplaceable or a device refused."""
    answer: dict[str, Any] = api.post(
        "/api/v1/deployments",
        params={"deploy": str(deploy).lower()},
        content=body,
        headers={"content-type": content_type},
        timeout=180,
    )
    return answer


def apply_manifest(api: Client, path: Path) -> dict[str, Any]:
    """Create and deploy a manifest file, or redeploy it when its name exists already."""
    body, content_type, parsed = read_manifest(path)
    try:
        api.get(f"/api/v1/deployments/{parsed.get('name')}")
    except ApiError as err:
        if err.status != 404:
            raise
        return create_deployment(api, body, content_type)
    answer: dict[str, Any] = api.put(
        f"/api/v1/deployments/{parsed.get('name')}",
        content=body,
        headers={"content-type": content_type},
        timeout=180,
    )
    return answer


def execute(
    api: Client, name: str, args: dict[str, str], files: dict[str, Path], *, timeout: float = 120
) -> dict[str, Any]:
    """Run a deployment once; ApiError (with the execution in the body) when it failed."""
    if files:
        parts = {m: (p.name, p.read_bytes(), media_type(p)) for m, p in files.items()}
        answer = api.post(
            f"/api/v1/deployments/{name}/execute", data=args, files=parts, timeout=timeout
        )
    else:
        answer = api.post(
            f"/api/v1/deployments/{name}/execute", json={"args": args}, timeout=timeout
        )
    result: dict[str, Any] = answer
    return result


def deploy(
    manifest: Annotated[
        Path, typer.Argument(help="A manifest file (.yaml, .yml or .json).", dir_okay=False)
    ],
    no_deploy: Annotated[
        bool, typer.Option("--no-deploy", help="Only create and solve; deploy later.")
    ] = False,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Create a deployment from a manifest, place its steps and deploy them to the devices.

    Prints where each step goes and why the other devices did not fit, then each device's
    answer. Exits 1 when no device fits a step or a device refused. ``${NAME}`` in the
    file is replaced with the environment variable NAME (``${NAME:-default}`` when unset).
    """
    body, content_type, parsed = read_manifest(manifest)
    doing = "placing" if no_deploy else "placing and deploying"
    with Client(orchestrator) as api:
        try:
            with spinner(f"{doing} {parsed.get('name', manifest.stem)}..."):
                deployment = create_deployment(api, body, content_type, deploy=not no_deploy)
        except ApiError as err:
            report_deploy_error(err, output)
    if output is Output.json:
        print_warnings(deployment)
        print_json(deployment)
    else:
        print_deployment(deployment)


def exec_command(
    deployment: Annotated[str, typer.Argument(help="Deployment name or id.")],
    args: Annotated[
        list[str] | None, typer.Argument(help="Arguments as key=value (e.g. iterations=7).")
    ] = None,
    file: Annotated[
        list[str] | None,
        typer.Option("--file", "-f", help="An execution-stage file MOUNT=PATH (repeatable)."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the result.")] = 120,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Run a deployment once and print its result and what each step did."""
    values = parse_pairs(args or [], "an argument key")
    files = {m: Path(p) for m, p in parse_pairs(file or [], "--file MOUNT").items()}
    for mount, path in files.items():
        if not path.is_file():
            fail(f"--file {mount}={path}: no such file.", 2)
    with Client(orchestrator) as api:
        try:
            with spinner(f"running {deployment}..."):
                execution = execute(api, deployment, values, files, timeout=timeout)
        except ApiError as err:
            report_deploy_error(err, output)
    if output is Output.json:
        print_json(execution)
    else:
        print_execution(execution)


@app.command("ls")
def list_deployments(
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
    watch: WatchOpt = False,
    interval: IntervalOpt = 2.0,
) -> None:
    """List every deployment with its status, steps and devices."""
    show_once_or_watch(
        orchestrator,
        "/api/v1/deployments",
        deployments_view,
        output=output,
        watch=watch,
        interval=interval,
    )


def deployments_view(deployments: Any, url: str) -> Any:
    """The deployments table, or what to do when there is none."""
    if not deployments:
        return Text("No deployments yet. Create one with `wasmfleet deploy MANIFEST.yaml`.")
    return deployments_table(deployments)


@app.command("show")
def show_deployment(
    name: Annotated[str, typer.Argument(help="Deployment name or id.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Show a deployment: placement, rejected devices and each device's answer."""
    with reported(), Client(orchestrator) as api:
        deployment = api.get(f"/api/v1/deployments/{name}")
    if output is Output.json:
        print_json(deployment)
    else:
        print_deployment(deployment)


@app.command("redeploy")
def redeploy(
    name: Annotated[str, typer.Argument(help="Deployment name or id.")],
    manifest: Annotated[
        Path | None, typer.Option(help="A changed manifest of the same name.", dir_okay=False)
    ] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Place a deployment again (on today's fleet) and deploy it."""
    kw: dict[str, Any] = {}
    if manifest is not None:
        body, content_type, _ = read_manifest(manifest)
        kw = {"content": body, "headers": {"content-type": content_type}}
    with Client(orchestrator) as api:
        try:
            with spinner(f"placing and deploying {name}..."):
                deployment = api.put(f"/api/v1/deployments/{name}", timeout=180, **kw)
        except ApiError as err:
            report_deploy_error(err, output)
    if output is Output.json:
        print_warnings(deployment)
        print_json(deployment)
    else:
        print_deployment(deployment)


@app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Deployment name or id.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    output: OutputOpt = Output.table,
) -> None:
    """Remove a deployment from its devices and delete it."""
    with reported(), Client(orchestrator) as api:
        answer = api.delete(f"/api/v1/deployments/{name}", timeout=60)
    if output is Output.json:
        print_json(answer)
        return
    note(f"removed deployment {name}")
    removed = (answer or {}).get("removed") or {}
    if removed:
        result = table("device", "answer", "message")
        for device, outcome in sorted(removed.items()):
            result.add_row(
                device, styled("ok" if outcome.get("ok") else "failed"), outcome.get("message")
            )
        show(result)
