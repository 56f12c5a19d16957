"""``wasmfleet sensor register|ls|show|rm`` and ``wasmfleet controller ...``: registered things.

The same four commands serve both kinds (``add_thing_commands``); the ``sensor`` group also
keeps its simulators (cli/sensor.py), which register themselves with ``register_simulated``.

Its commands are built in a function per kind, so their annotations are evaluated when they
are defined (no ``from __future__ import annotations``: typer reads them at run time).
"""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from wasmfleet.cli.client import Client, fail, reported
from wasmfleet.cli.output import Output, OutputOpt, ago, key_values, print_json, show, table

OrchestratorFlag = Annotated[
    str | None,
    typer.Option(
        "--orchestrator",
        help="Base URL of the orchestrator (env WASMFLEET_ORCHESTRATOR; orchestrator in the "
        "client's config file).",
    ),
]
SIMULATED_OUTPUTS: dict[str, dict[str, str]] = {
    "temperature": {"sensor": "string", "seq": "int 1..", "ts": "float", "celsius": "float"},
    "camera": {},
}
"""What each simulated sensor publishes (cli/sensor.py's kinds), declared when it registers."""

controller_app = typer.Typer(
    name="controller",
    help="Controllers (a fan, a display, an AC) registered at locations: register, ls, show, rm.",
    no_args_is_help=True,
)


def _own(kind: str) -> str:
    return "outputs" if kind == "sensor" else "inputs"


def parse_fields(values: list[str], flag: str) -> dict[str, str]:
    """``["celsius=float", "speed=int 0..3"]`` → ``{"celsius": "float", ...}``; exit 2 if not."""
    fields: dict[str, str] = {}
    for value in values:
        name, sep, ptype = value.partition("=")
        if not sep or not name.strip() or not ptype.strip():
            fail(f"{flag} {value!r} must be FIELD=TYPE, like celsius=float or 'speed=int 0..3'.", 2)
        fields[name.strip()] = ptype.strip()
    return fields


def read_thing_file(path: Path) -> list[Any]:
    """The documents of a YAML or JSON file: one mapping, or a list of them (exit 2 if not)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        fail(f"Cannot read {path}: {err.strerror or err}.", 2)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        fail(f"{path} is not valid YAML or JSON: {err}", 2)
    docs = data if isinstance(data, list) else [data]
    if not docs or not all(isinstance(d, dict) for d in docs):
        fail(f"{path} must hold one sensor or controller (a mapping) or a list of them.", 2)
    return docs


def post_thing(api: Client, kind: str, doc: dict[str, Any], *, replace: bool) -> dict[str, Any]:
    """Register one document; the orchestrator's answer (ApiError when refused)."""
    params = {"replace": "true"} if replace else None
    answer: dict[str, Any] = api.post(f"/api/v1/{kind}s", json=doc, params=params)
    return answer


def via_text(thing: dict[str, Any]) -> str:
    """``topic campus/lab-1/temp`` or ``device edge-1``."""
    if "topic" in thing:
        return f"topic {thing['topic']}"
    return f"device {thing.get('device', '?')}"


def params_text(params: dict[str, Any] | None) -> str:
    """``celsius=float, speed=int 0..3``."""
    return ", ".join(f"{k}={v}" for k, v in (params or {}).items())


def register_simulated(
    kind: str,
    name: str,
    type_name: str,
    location: str,
    topic: str,
    params: dict[str, str],
    orchestrator: str | None,
) -> None:
    """Register a simulated sensor or controller (replacing its earlier document), or exit 1
    with the orchestrator's sentence."""
    doc = {
        "kind": kind,
        "name": name,
        "type": type_name,
        "location": location,
        "topic": topic,
        _own(kind): params,
    }
    with reported(), Client(orchestrator) as api:
        answer = post_thing(api, kind, doc, replace=True)
    typer.secho(
        f"registered {kind} {answer['name']} ({answer['type']}) at {answer['location']}, "
        f"{via_text(answer)}",
        err=True,
    )


def add_thing_commands(app: typer.Typer, kind: str) -> None:
    """Add ``register``, ``ls``, ``show`` and ``rm`` for ``kind`` (sensor or controller)."""
    own = _own(kind)
    flag = "--output" if kind == "sensor" else "--input"  # a sensor's field: not the format
    example = "celsius=float" if kind == "sensor" else "'speed=int 0..3'"

    @app.command(
        "register",
        help=f"Register a {kind} at a location: --name, --type, --location, --topic or "
        f"--device, and its {own} ({flag} {example}); or --file FILE. See docs/apps.md.",
    )
    def register(
        name: Annotated[str | None, typer.Option(help=f"The {kind}'s unique name.")] = None,
        type_name: Annotated[
            str | None,
            typer.Option("--type", help="Its type: temperature, camera, fan, display ..."),
        ] = None,
        location: Annotated[
            str | None, typer.Option(help="Where it is: a registered location, campus/lab-1.")
        ] = None,
        topic: Annotated[
            str | None, typer.Option(help="The MQTT topic it is reached on (no wildcards).")
        ] = None,
        device: Annotated[
            str | None, typer.Option(help="The device it is attached to (instead of --topic).")
        ] = None,
        fields: Annotated[
            list[str] | None,
            typer.Option(
                flag,
                help=f"One of its {own}, FIELD=TYPE ({example}); repeat for each. Types: int, "
                "float, bool, string, 'int 0..3', 'off|low|high'.",
            ),
        ] = None,
        file: Annotated[
            Path | None,
            typer.Option(
                "--file", "-f", help=f"A YAML or JSON file: one {kind} or a list (not with flags)."
            ),
        ] = None,
        replace: Annotated[
            bool, typer.Option(help="Replace a registered one of the same name.")
        ] = False,
        orchestrator: OrchestratorFlag = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the orchestrator's answer as JSON.")
        ] = False,
    ) -> None:
        given = [name, type_name, location, topic, device, fields]
        if file is not None:
            if any(v for v in given):
                fail("Give either --file or the flags (--name, --type ...), not both.", 2)
            docs = read_thing_file(file)
        else:
            missing = [f for f, v in (("--name", name), ("--type", type_name)) if not v]
            missing += [] if location else ["--location"]
            if missing:
                fail(f"Give {', '.join(missing)} (or --file FILE).", 2)
            if (topic is None) == (device is None):
                fail(f"Give exactly one of --topic or --device: how the {kind} is reached.", 2)
            doc: dict[str, Any] = {"name": name, "type": type_name, "location": location}
            doc.update({"topic": topic} if topic is not None else {"device": device})
            doc[own] = parse_fields(fields or [], flag)
            docs = [doc]
        answers = []
        with reported(), Client(orchestrator) as api:
            for each in docs:
                answers.append(post_thing(api, kind, {"kind": kind, **each}, replace=replace))
        if as_json:
            print_json(answers[0] if file is None else answers)
            return
        for answer in answers:
            typer.echo(
                f"{kind} {answer['name']} ({answer['type']}) registered at "
                f"{answer['location']}, {via_text(answer)}"
            )

    @app.command("ls", help=f"List the registered {kind}s, by name.")
    def ls(
        location: Annotated[
            str | None, typer.Option(help="Only those at this location or below it.")
        ] = None,
        type_name: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
        orchestrator: OrchestratorFlag = None,
        output: OutputOpt = Output.table,
    ) -> None:
        params = {k: v for k, v in (("location", location), ("type", type_name)) if v}
        with reported(), Client(orchestrator) as api:
            things = api.get(f"/api/v1/{kind}s", params=params)
        if output is Output.json:
            print_json(things)
            return
        result = table("name", "type", "location", "reached by", own, "held by")
        for t in things:
            result.add_row(
                t["name"],
                t["type"],
                t["location"],
                via_text(t),
                params_text(t.get(own)),
                ", ".join(t.get("held_by") or []),
            )
        show(result)

    @app.command("show", help=f"Show one {kind}: type, location, reach, {own}, holders.")
    def show_one(
        name: Annotated[str, typer.Argument(help=f"The {kind}'s name.")],
        orchestrator: OrchestratorFlag = None,
        output: OutputOpt = Output.table,
    ) -> None:
        with reported(), Client(orchestrator) as api:
            thing = api.get(f"/api/v1/{kind}s/{quote(name, safe='')}")
        if output is Output.json:
            print_json(thing)
            return
        rows = [
            ("name", thing["name"]),
            ("type", thing["type"]),
            ("location", thing["location"]),
            ("reached by", via_text(thing)),
            (own, params_text(thing.get(own)) or "none"),
            ("held by", ", ".join(thing.get("held_by") or []) or "no install"),
            ("registered", f"{ago(thing.get('created_at'))} by {thing.get('created_by')}"),
        ]
        show(key_values(rows, title=f"{kind} {thing['name']}"))

    @app.command("rm", help=f"Remove a {kind}; refused while installs hold it.")
    def rm(
        name: Annotated[str, typer.Argument(help=f"The {kind}'s name.")],
        orchestrator: OrchestratorFlag = None,
    ) -> None:
        with reported(), Client(orchestrator) as api:
            api.delete(f"/api/v1/{kind}s/{quote(name, safe='')}")
        typer.echo(f"{kind} {name} removed")


add_thing_commands(controller_app, "controller")
