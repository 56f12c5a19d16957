"""``wasmfleet location add|ls|show|rm``: the places sensors, controllers and installs sit at."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wasmfleet.cli.client import Client, reported
from wasmfleet.cli.output import Output, OutputOpt, ago, key_values, print_json, show, table
from wasmfleet.cli.things import OrchestratorFlag

app = typer.Typer(
    name="location",
    help="Locations (campus/building/room) where sensors, controllers and apps sit.",
    no_args_is_help=True,
)

PathArg = Annotated[str, typer.Argument(help="A location path, e.g. campus/lab-1.")]


def _url(path: str) -> str:
    from urllib.parse import quote

    return "/api/v1/locations/" + quote(path.strip().strip("/"), safe="/")


@app.command("add")
def add(
    path: PathArg,
    description: Annotated[str, typer.Option(help="What is there, for people.")] = "",
    orchestrator: OrchestratorFlag = None,
    output: OutputOpt = Output.table,
) -> None:
    """Add a location; missing parents are added too (campus for campus/lab-1)."""
    with reported(), Client(orchestrator) as api:
        made = api.post("/api/v1/locations", json={"path": path, "description": description})
    if output is Output.json:
        print_json(made)
        return
    for each in made.get("created", [made["path"]]):
        typer.echo(f"location {each} added")


@app.command("ls")
def ls(orchestrator: OrchestratorFlag = None, output: OutputOpt = Output.table) -> None:
    """List locations with the sensors and controllers at or below each."""
    with reported(), Client(orchestrator) as api:
        places: list[dict[str, Any]] = api.get("/api/v1/locations")
    if output is Output.json:
        print_json(places)
        return
    result = table("location", "sensors", "controllers", "description", "added")
    for p in places:
        depth = p["path"].count("/")
        result.add_row(
            "  " * depth + p["path"],
            str(p["sensors"]),
            str(p["controllers"]),
            p.get("description") or "",
            ago(p.get("created_at")),
        )
    show(result)


@app.command("show")
def show_one(
    path: PathArg, orchestrator: OrchestratorFlag = None, output: OutputOpt = Output.table
) -> None:
    """Show a location and the sensors and controllers at or below it."""
    with reported(), Client(orchestrator) as api:
        place = api.get(_url(path))
        things = {
            kind: api.get(f"/api/v1/{kind}", params={"location": place["path"]})
            for kind in ("sensors", "controllers")
        }
    if output is Output.json:
        print_json({**place, **things})
        return
    rows = [
        ("location", place["path"]),
        ("description", place.get("description") or ""),
        ("parent", place.get("parent") or "none"),
        ("added", f"{ago(place.get('created_at'))} by {place.get('created_by')}"),
    ]
    for kind, listed in things.items():
        names = [f"{t['name']} ({t['type']}, {t['location']})" for t in listed]
        rows.append((kind, ", ".join(names) or "none"))
    rows.append(("devices", ", ".join(place.get("devices") or []) or "none"))
    show(key_values(rows, title=f"location {place['path']}"))


@app.command("rm")
def rm(path: PathArg, orchestrator: OrchestratorFlag = None) -> None:
    """Remove a location; refused while locations, things or installs sit at or below it."""
    with reported(), Client(orchestrator) as api:
        api.delete(_url(path))
    typer.echo(f"location {path.strip().strip('/')} removed")
