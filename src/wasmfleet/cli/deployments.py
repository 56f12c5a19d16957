"""``wasmfleet deploy``, ``wasmfleet exec`` and ``wasmfleet deployment``: pipelines on devices."""

from __future__ import annotations

from pathlib import Path
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
from wasmfleet.cli.deployment_views import (
    deployments_table,
    print_copies,
    print_deployment,
    print_execution,
    print_warnings,
    report_deploy_error,
)
from wasmfleet.cli.manifest_file import read_manifest
from wasmfleet.cli.modules import media_type, parse_pairs
from wasmfleet.cli.output import (
    Output,
    OutputOpt,
    note,
    print_json,
    show,
    spinner,
    styled,
    table,
)
from wasmfleet.cli.trace_view import print_waterfall
from wasmfleet.cli.watch import IntervalOpt, WatchOpt, show_once_or_watch

app = typer.Typer(
    name="deployment",
    help="List, inspect, redeploy and remove deployments.",
    no_args_is_help=True,
)


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
    api: Client,
    name: str,
    args: dict[str, str],
    files: dict[str, Path],
    *,
    timeout: float = 120,
    every_copy: bool = False,
) -> dict[str, Any]:
    """Run a deployment once (``every_copy``: once per copy of its first step, answering
    ``{"copies": [...]}``); ApiError (with the execution in the body) when it failed."""
    url = f"/api/v1/deployments/{name}/execute" + ("?all=true" if every_copy else "")
    if files:
        parts = {m: (p.name, p.read_bytes(), media_type(p)) for m, p in files.items()}
        answer = api.post(url, data=args, files=parts, timeout=timeout)
    else:
        answer = api.post(url, json={"args": args}, timeout=timeout)
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
    ca_file: CaFileOpt = None,
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
    every_copy: Annotated[
        bool,
        typer.Option(
            "--all", help="Run it from every copy of a fleet-wide first step; one result each."
        ),
    ] = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Then print the execution's trace: a waterfall of its hops across devices.",
        ),
    ] = False,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Run a deployment once and print its result and what each step did.

    A fleet-wide step (``replicas``) runs on one of its copies: the first step round robin
    over the copies on active devices, each later one on the copy on the same device if
    there is one. ``--all`` runs the pipeline from every copy of the first step. ``--trace``
    adds the waterfall (with ``--output json``: the answer's ``trace``)."""
    values = parse_pairs(args or [], "an argument key")
    files = {m: Path(p) for m, p in parse_pairs(file or [], "--file MOUNT").items()}
    for mount, path in files.items():
        if not path.is_file():
            fail(f"--file {mount}={path}: no such file.", 2)
    with Client(orchestrator) as api:
        try:
            with spinner(f"running {deployment}..."):
                execution = execute(
                    api, deployment, values, files, timeout=timeout, every_copy=every_copy
                )
        except ApiError as err:
            failed = err.body.get("execution") if isinstance(err.body, dict) else None
            if trace and isinstance(failed, dict) and output is not Output.json:
                print_execution(failed)
                show_trace(api, failed)
            report_deploy_error(err, output)
        traces = fetch_traces(api, execution) if trace else []
    if output is Output.json:
        if trace and "copies" in execution:
            execution = {**execution, "traces": traces}
        elif trace:
            execution = {**execution, "trace": traces[0] if traces else None}
        print_json(execution)
        return
    if "copies" in execution:
        print_copies(execution["copies"], then=lambda: print_waterfalls(traces))
    else:
        print_execution(execution)
        print_waterfalls(traces)


def print_waterfalls(traces: list[dict[str, Any]]) -> None:
    """Each trace's waterfall, a blank line before each."""
    for one in traces:
        note("")
        print_waterfall(one)


def fetch_traces(api: Client, execution: dict[str, Any]) -> list[dict[str, Any]]:
    """The traces of an execution answer (one per copy for ``--all``)."""
    runs = [c.get("execution") for c in execution.get("copies") or []] or [execution]
    found: list[dict[str, Any]] = []
    for run in runs:
        if isinstance(run, dict) and run.get("id"):
            found.append(api.get(f"/api/v1/executions/{run['id']}/trace"))
    return found


def show_trace(api: Client, execution: dict[str, Any]) -> None:
    """Print a (failed) execution's waterfall, if its trace can be read."""
    try:
        found = fetch_traces(api, execution)
    except ApiError as err:
        note(f"(no trace: {err.message})")
        return
    print_waterfalls(found)


@app.command("ls")
def list_deployments(
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
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
    ca_file: CaFileOpt = None,
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
    ca_file: CaFileOpt = None,
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


def update_copies(
    api: Client, name: str, module: str, devices: list[str] | None = None
) -> dict[str, Any]:
    """POST the update of a deployment's copies; the answer (a device refusal is an answer
    too, with ``error``)."""
    body: dict[str, Any] = {"module": module}
    if devices:
        body["devices"] = list(devices)
    try:
        answer: dict[str, Any] = api.post(
            f"/api/v1/deployments/{name}/update", json=body, timeout=180
        )
    except ApiError as err:
        if err.status == 502 and isinstance(err.body, dict) and "devices" in err.body:
            return {**err.body}
        raise
    return answer


@app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="Deployment name or id.")],
    to: Annotated[str, typer.Option("--to", help="fibo@4 (a version), or fibo (the latest).")],
    device: Annotated[
        list[str] | None, typer.Option(help="Only the copies on this device (repeatable).")
    ] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Move a deployment's copies of a module to another version (same epoch, the other
    copies untouched); refused before anything changes when the version cannot work."""
    with reported(), Client(orchestrator) as api:
        answer = update_copies(api, name, to, device)
    if output is Output.json:
        print_json(answer)
    else:
        result = table("device", "answer", "from", "to", "message")
        for dev, outcome in sorted((answer.get("devices") or {}).items()):
            result.add_row(
                dev,
                styled("ok" if outcome.get("ok") else "failed"),
                str(outcome.get("from_version") or "-"),
                str(outcome.get("to_version") or "-"),
                outcome.get("message"),
            )
        show(result)
    if answer.get("error"):
        fail(str(answer["error"].get("message")), 1)


@app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Deployment name or id.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
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
