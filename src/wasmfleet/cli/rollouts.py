"""``wasmfleet rollout``: move a deployment's copies to another version in gated waves."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wasmfleet.cli.client import DEFAULT_URL, CaFileOpt, Client, OrchestratorOpt, reported
from wasmfleet.cli.output import Output, OutputOpt, print_json

app = typer.Typer(
    name="rollout",
    help="Roll a deployment out to another module version in waves; pause, resume, undo.",
    no_args_is_help=True,
)

IdArg = Annotated[str, typer.Argument(help="Rollout id (see `wasmfleet rollout status`).")]


def _print(rollout: dict[str, Any], output: Output) -> None:
    if output is Output.json:
        print_json(rollout)
        return
    waves = rollout.get("waves") or []
    typer.echo(
        f"rollout {rollout['id']} of {rollout['deployment']} to {rollout['to']}: "
        f"{rollout['status']} (wave {min(rollout['wave'] + 1, len(waves))} of {len(waves)})"
    )
    if rollout.get("reason"):
        typer.echo(f"  reason: {rollout['reason']}")
    for i, devices in enumerate(waves):
        gate = next((g for g in rollout.get("gates") or [] if g.get("wave") == i + 1), None)
        verdict = "" if gate is None else (" passed: " if gate["passed"] else " FAILED: ")
        typer.echo(f"  wave {i + 1}: {', '.join(devices)}{verdict}{gate['reason'] if gate else ''}")
    for device, owed in (rollout.get("owed") or {}).items():
        typer.echo(f"  owed: {device} goes back to {owed.get('module_id')} ({owed.get('reason')})")


@app.command("start")
def start(
    deployment: Annotated[str, typer.Argument(help="Deployment name or id.")],
    to: Annotated[str, typer.Option("--to", help="Target version: fibo@4, fibo or a module id.")],
    canary: Annotated[int, typer.Option(help="Devices in the first wave.")] = 1,
    growth: Annotated[float, typer.Option(help="Each wave is this many times the last.")] = 2.0,
    waves: Annotated[
        str | None, typer.Option(help="Explicit wave sizes, e.g. 1,2,5,all (overrides growth).")
    ] = None,
    pause: Annotated[str, typer.Option(help="Observation time per wave: 10s, 500ms, 2m.")] = "10s",
    max_error_rate_increase: Annotated[
        float, typer.Option(help="Allowed error-rate increase, a fraction (0.05 = 5 points).")
    ] = 0.05,
    max_latency_increase: Annotated[
        float, typer.Option(help="Allowed median-latency increase, a ratio (0.5 = 50 %).")
    ] = 0.5,
    min_calls: Annotated[int, typer.Option(help="Calls needed to judge errors/latency.")] = 5,
    probe: Annotated[
        list[str] | None, typer.Option(help="Probe argument NAME=VALUE (repeatable).")
    ] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Start a rollout: a canary, then growing waves, each behind a health gate."""
    body: dict[str, Any] = {
        "deployment": deployment,
        "to": to,
        "canary": canary,
        "growth": growth,
        "pause": pause,
        "max_error_rate_increase": max_error_rate_increase,
        "max_latency_increase": max_latency_increase,
        "min_calls": min_calls,
    }
    if waves:
        body["waves"] = waves
    if probe:
        body["probe_args"] = dict(p.split("=", 1) for p in probe if "=" in p)
    with reported(), Client(orchestrator) as api:
        _print(api.post("/api/v1/rollouts", json=body), output)


@app.command("status")
def status(
    rollout: Annotated[str | None, typer.Argument(help="Rollout id; all when left out.")] = None,
    deployment: Annotated[str | None, typer.Option(help="Only this deployment's.")] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Show a rollout (or the latest ones): waves, gates, reason."""
    with reported(), Client(orchestrator) as api:
        if rollout:
            _print(api.get(f"/api/v1/rollouts/{rollout}"), output)
            return
        params = {"deployment": deployment} if deployment else {}
        rows = api.get("/api/v1/rollouts", params=params)
    if output is Output.json:
        print_json(rows)
        return
    for row in rows:
        _print(row, output)


def _act(action: str, rollout: str, orchestrator: str, output: Output) -> None:
    with reported(), Client(orchestrator) as api:
        _print(api.post(f"/api/v1/rollouts/{rollout}/{action}"), output)


@app.command("pause")
def pause(
    rollout: IdArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Pause after the current step."""
    _act("pause", rollout, orchestrator, output)


@app.command("resume")
def resume(
    rollout: IdArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Continue a paused rollout."""
    _act("resume", rollout, orchestrator, output)


@app.command("undo")
def undo(
    rollout: IdArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Put every updated copy back on its previous version (also after success)."""
    _act("undo", rollout, orchestrator, output)
