"""``wasmfleet app``: publish apps, install them at places (with a schedule), run, remove."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from wasmfleet.cli.client import DEFAULT_URL, CaFileOpt, Client, OrchestratorOpt, reported
from wasmfleet.cli.output import Output, OutputOpt, ago, clock, print_json, show, table

app = typer.Typer(
    name="app",
    help="Publish apps (manifest or bundle), install them at locations, schedule and run them.",
    no_args_is_help=True,
)
NameArg = Annotated[str, typer.Argument(help="App name, name@N or id.")]
InstallArg = Annotated[str, typer.Argument(help="Install name (see `wasmfleet app installs`).")]


def pack_folder(folder: Path) -> bytes:
    """A folder's files (app.yaml, *.wasm, *.json) as a tar.gz bundle, at its root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file() and (path.suffix in (".wasm", ".json", ".yaml", ".yml")):
                archive.add(path, arcname=path.name)
    return buf.getvalue()


def _body_of(path: Path) -> tuple[bytes, str]:
    if path.is_dir():
        return pack_folder(path), "application/gzip"
    data = path.read_bytes()
    if data.startswith(b"PK"):
        return data, "application/zip"
    if data.startswith(b"\x1f\x8b"):
        return data, "application/gzip"
    return data, "application/yaml"


@app.command("push")
def push(
    path: Annotated[
        Path, typer.Argument(help="app.yaml, a bundle (.tar.gz or .zip) or a folder to pack.")
    ],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Publish an app: the next version of its name (a folder is packed with its modules)."""
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist.", param_hint="PATH")
    data, media = _body_of(path)
    with reported(), Client(orchestrator) as api:
        answer = api.post("/api/v1/apps", content=data, headers={"content-type": media})
    if output is Output.json:
        print_json(answer)
        return
    verb = "published" if answer.get("created") else "unchanged:"
    typer.echo(f"{verb} {answer['key']}")
    for line in answer.get("pushed") or []:
        typer.echo(f"  pushed {line}")
    for need, ref in (answer.get("modules") or {}).items():
        typer.echo(f"  {need} -> {ref}")


def _apps_table(apps: list[dict[str, Any]]) -> Any:
    result = table("app", "description", "needs", "installs", "author", "published")
    for a in apps:
        needs = ", ".join(
            f"{n}:{next(iter(v.values()))}" for n, v in (a.get("needs") or {}).items()
        )
        result.add_row(
            a["key"], a.get("description") or "", needs, str(a.get("installs", 0)),
            a.get("author") or "", ago(a.get("created_at")),
        )  # fmt: skip
    return result


@app.command("ls")
def ls(
    all: Annotated[bool, typer.Option("--all", help="Every version, not only the newest.")] = False,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """List apps (the newest version of each)."""
    with reported(), Client(orchestrator) as api:
        apps = api.get("/api/v1/apps", params={"all": str(all).lower()})
    print_json(apps) if output is Output.json else show(_apps_table(apps))


@app.command("show")
def show_app(
    name: NameArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Show an app version: parameters, needs, steps, pinned modules."""
    with reported(), Client(orchestrator) as api:
        found = api.get(f"/api/v1/apps/{name}")
    if output is Output.json:
        print_json(found)
        return
    typer.echo(yaml.safe_dump(found, sort_keys=False, default_flow_style=False).rstrip())


@app.command("rm")
def rm(
    name: NameArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
) -> None:
    """Delete an app version (name@N) or every version of a name (refused while installed)."""
    with reported(), Client(orchestrator) as api:
        api.delete(f"/api/v1/apps/{name}")
    typer.echo(f"deleted {name}")


def _params(values: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE.", param_hint="--param")
        out[key] = yaml.safe_load(raw) if raw else ""
    return out


@app.command("install")
def install(
    name: NameArg,
    location: Annotated[str, typer.Option(help="Where: campus/building/room.")],
    install_name: Annotated[
        str | None, typer.Option("--name", help="Install name (default: APP-LOCATION).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Parameter NAME=VALUE (repeatable).")
    ] = None,
    cron: Annotated[str | None, typer.Option(help="Schedule: cron such as '0 8,20 * * *'.")] = None,
    timezone: Annotated[str, typer.Option(help="IANA zone the cron reads.")] = "UTC",
    start: Annotated[str | None, typer.Option(help="First day/time (ISO 8601).")] = None,
    end: Annotated[
        str | None, typer.Option(help="End (exclusive; a date: that whole day).")
    ] = None,
    count: Annotated[int | None, typer.Option(help="At most this many fires.")] = None,
    window: Annotated[
        str | None, typer.Option(help="Deploy for this long at each fire (8h, 90m).")
    ] = None,
    missed: Annotated[str, typer.Option(help="Missed fires while down: once or skip.")] = "once",
    function: Annotated[
        str | None, typer.Option(help="The function a fire runs (the first step's).")
    ] = None,
    webhook: Annotated[list[str] | None, typer.Option(help="Notify this URL.")] = None,
    email: Annotated[list[str] | None, typer.Option(help="Notify this address.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the binding; install nothing.")] = False,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Install an app at a location: bind its sensors and controllers there, then deploy it
    (now, or on its schedule)."""
    body: dict[str, Any] = {"app": name, "location": location, "params": _params(param)}
    if install_name:
        body["name"] = install_name
    if cron:
        schedule: dict[str, Any] = {"cron": cron, "timezone": timezone, "missed": missed}
        for key, value in (("start", start), ("end", end), ("count", count)):
            if value is not None:
                schedule[key] = value
        if window:
            schedule.update(mode="window", duration=window)
        if function:
            schedule["function"] = function
        body["schedule"] = schedule
    notify = {k: v for k, v in (("webhook", webhook), ("email", email)) if v}
    if notify:
        body["notify"] = notify
    if dry_run:
        body["dry_run"] = True
    with reported(), Client(orchestrator) as api:
        answer = api.post("/api/v1/installs", json=body)
    if output is Output.json:
        print_json(answer)
        return
    print_install(answer)


def print_install(view: dict[str, Any]) -> None:
    """An install as lines: status, binding, where it runs, schedule, reason."""
    head = "would install" if view.get("dry_run") else "installed"
    typer.echo(f"{head} {view['name']} ({view['app']} at {view['location']}): {view['status']}")
    for need, bound in (view.get("binding") or {}).items():
        if bound.get("kind") == "module":
            typer.echo(f"  {need} -> {bound['module']}")
        else:
            extra = ", exclusive" if bound.get("exclusive") else ""
            typer.echo(
                f"  {need} -> {bound['thing']} ({bound['kind']} {bound['type']}, "
                f"{bound['location']}{extra})"
            )
    for where in view.get("where") or []:
        typer.echo(f"  runs {where['module']}.{where['function']} on {where['device']}")
    schedule = view.get("schedule")
    if schedule:
        fires = ", ".join(f["local"] for f in schedule.get("next_fires", []))
        typer.echo(f"  schedule {schedule['cron']} ({schedule['timezone']}); next: {fires}")
    if view.get("reason"):
        typer.echo(f"  reason: {view['reason']}")


def installs_table(installs: list[dict[str, Any]]) -> Any:
    """Installs as a table: name, app, location, status, next fire, where."""
    result = table("install", "app", "location", "status", "next fire", "runs on")
    for i in installs:
        devices = sorted({w["device"] for w in i.get("where") or [] if w.get("device")})
        result.add_row(
            i["name"], i["app"], i["location"], i["status"], clock(i.get("next_fire")),
            ", ".join(devices),
        )  # fmt: skip
    return result


@app.command("installs")
def installs(
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """List installs (an end user sees their own)."""
    with reported(), Client(orchestrator) as api:
        found = api.get("/api/v1/installs")
    print_json(found) if output is Output.json else show(installs_table(found))


@app.command("uninstall")
def uninstall(
    name: InstallArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
) -> None:
    """Remove an install's deployment and the install (its things are free again)."""
    with reported(), Client(orchestrator) as api:
        api.delete(f"/api/v1/installs/{name}")
    typer.echo(f"uninstalled {name}")


@app.command("run")
def run(
    name: InstallArg,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Run an install once now."""
    with reported(), Client(orchestrator) as api:
        answer = api.post(f"/api/v1/installs/{name}/run")
    if output is Output.json:
        print_json(answer)
        return
    typer.echo(f"{name}: {answer['outcome']} ({answer.get('detail') or ''})")
    if answer["outcome"] != "ok":
        raise typer.Exit(1)


@app.command("fires")
def fires(
    name: InstallArg,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """An install's fires: when, who claimed each, how it went."""
    with reported(), Client(orchestrator) as api:
        found = api.get(f"/api/v1/installs/{name}/fires", params={"limit": limit})
    if output is Output.json:
        print_json(found)
        return
    result = table("fire", "outcome", "claimed by", "detail")
    for f in found:
        result.add_row(f["fire_at"], f.get("outcome") or "", f["claimed_by"], f.get("detail") or "")
    show(result)
