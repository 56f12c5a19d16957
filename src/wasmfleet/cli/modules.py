"""``wasmfleet module``: upload, describe, list and delete modules."""

from __future__ import annotations

import getpass
import hashlib
import json
import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from wasmfleet.cli import module_check, sign
from wasmfleet.cli.client import DEFAULT_URL, CaFileOpt, Client, OrchestratorOpt, fail, reported
from wasmfleet.cli.output import (
    Output,
    OutputOpt,
    err_console,
    human_size,
    note,
    print_json,
    show,
    table,
)

app = typer.Typer(
    name="module",
    help="Upload WebAssembly modules with their descriptions, list and delete them.",
    no_args_is_help=True,
)
app.command("sign")(sign.sign_command)
app.command("verify")(sign.verify_command)
app.command("check")(module_check.check)


def parse_pairs(values: Iterable[str], what: str) -> dict[str, str]:
    """['a=b', 'c=d=e'] -> {'a': 'b', 'c': 'd=e'}; BadParameter names the bad one."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{value!r} is not {what}=VALUE.")
        pairs[key.strip()] = rest
    return pairs


def deployment_mounts(description: Any) -> list[str]:
    """Names of the deployment-stage mounts an OpenAPI description declares (x-mounts)."""
    names: list[str] = []
    paths = description.get("paths") if isinstance(description, dict) else None
    for item in (paths or {}).values():
        if not isinstance(item, dict):
            continue
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for mount in op.get("x-mounts") or []:
                if isinstance(mount, dict) and mount.get("stage") == "deployment":
                    name = str(mount.get("name", ""))
                    if name and name not in names:
                        names.append(name)
    return names


def media_type(path: Path) -> str:
    """A file's media type from its name."""
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def plan_upload(
    wasm: Path, describe: Path | None, data: dict[str, str]
) -> tuple[Path | None, dict[str, Path], list[str]]:
    """(description file, data files by mount name, warnings) for a push.

    Without ``describe``, a ``description.json`` beside the binary is used; without ``data``,
    the description's deployment-stage mounts found beside it are sent.
    """
    warnings: list[str] = []
    if describe is None and (wasm.parent / "description.json").is_file():
        describe = wasm.parent / "description.json"
    files = {name: Path(path) for name, path in data.items()}
    for name, path in files.items():
        if not path.is_file():
            fail(f"--data {name}={path}: no such file.", 2)
    if describe is not None:
        if not describe.is_file():
            fail(f"--describe {describe}: no such file.", 2)
        try:
            description = json.loads(describe.read_text())
        except (ValueError, UnicodeDecodeError) as err:
            fail(f"{describe} is not valid JSON ({err}).", 2)
        for name in deployment_mounts(description):
            if name in files:
                continue
            beside = describe.parent / name
            if not data and beside.is_file():
                files[name] = beside
            else:
                warnings.append(
                    f"the description needs the deployment file {name!r}; pass --data {name}=PATH"
                )
    return describe, files, warnings


def push_module(
    api: Client,
    wasm: Path,
    name: str,
    *,
    describe: Path | None = None,
    data: dict[str, str] | None = None,
    progress: bool = True,
    note_text: str | None = None,
    by: str | None = None,
    binary: bytes | None = None,
) -> dict[str, Any]:
    """Upload a module as a new version of ``name`` (with a progress bar), then its
    description and data files; the answer says which version it is."""
    describe, files, warnings = plan_upload(wasm, describe, data or {})
    binary = wasm.read_bytes() if binary is None else binary
    fields = {"name": name}
    if note_text:
        fields["note"] = note_text
    if by:
        fields["created_by"] = by
    parts = {"wasm": (wasm.name, binary, "application/wasm")}
    with Progress(
        TextColumn("uploading {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=err_console,
        transient=True,
        disable=not progress or not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(wasm.name, total=len(binary))

        def advance(sent: int, total: int) -> None:
            bar.update(task, completed=sent, total=total)

        module: dict[str, Any] = api.upload(
            "/api/v1/modules", data=fields, files=parts, progress=advance, timeout=120
        )
    pushed = {k: module.get(k) for k in ("created", "message")}
    for warning in [*warnings, *_checker_warnings(module)]:
        err_console.print(f"[yellow]warning:[/] {warning}")
    if describe is not None:
        uploads = {
            mount: (mount, path.read_bytes(), media_type(path)) for mount, path in files.items()
        }
        module = api.upload(
            f"/api/v1/modules/{module['id']}/description",
            data={"description": describe.read_text()},
            files=uploads,
            timeout=120,
        )
        for warning in _checker_warnings(module):
            err_console.print(f"[yellow]warning:[/] {warning}")
    elif files:
        fail("--data needs a description (--describe DESC.json) to know the mounts.", 2)
    return {**module, **pushed}


def _checker_warnings(answer: dict[str, Any]) -> list[str]:
    """The module checker's warnings in an upload's answer, as "code: message" lines."""
    found = answer.get("warnings")
    if not isinstance(found, list):
        return []
    return [escape(f"{w.get('code')}: {w.get('message')}") for w in found if isinstance(w, dict)]


def module_files(folder: Path) -> list[tuple[str, Path]]:
    """(name, binary) of every ``<name>/<name>.wasm`` under ``folder``, by name."""
    return [
        (entry.name, entry / f"{entry.name}.wasm")
        for entry in sorted(folder.iterdir())
        if (entry / f"{entry.name}.wasm").is_file()
    ]


def push_folder(api: Client, folder: Path) -> list[dict[str, Any]]:
    """Push every module of ``folder`` with its description and data files.

    A module already stored with the same sha256 and a description is left as it is; one
    with other bytes becomes its next version.
    """
    existing = {m.get("name"): m for m in api.get("/api/v1/modules")}
    pushed = []
    for name, wasm in module_files(folder):
        old = existing.get(name)
        if old is not None:
            sha256 = hashlib.sha256(wasm.read_bytes()).hexdigest()
            if old.get("sha256") == sha256 and old.get("description"):
                pushed.append(old)
                continue
        pushed.append(push_module(api, wasm, name, progress=False))
    return pushed


def modules_table(modules: Iterable[dict[str, Any]]) -> Any:
    """name, version (of how many), id, size, sha256, exports, requirements, described."""
    result = table(
        "name", "version", "id", "size", "sha256", "exports", "requires", "described", "data"
    )
    for m in modules:
        exports = [e.get("name", "?") for e in m.get("exports") or []]
        version = str(m.get("version") or "-")
        if m.get("versions"):
            version += f" (of {m['versions']})"
        result.add_row(
            m.get("name", "?"),
            version,
            str(m.get("id", "?")),
            human_size(m.get("size")),
            str(m.get("sha256") or "")[:12] or "-",
            ", ".join(exports) or "-",
            str(len(m.get("requirements") or [])),
            "yes" if m.get("description") else "no",
            ", ".join(sorted(m.get("data_files") or {})) or "-",
        )
    return result


@app.command("push")
def push(
    wasm: Annotated[
        Path, typer.Argument(help="The .wasm file.", exists=True, dir_okay=False, readable=True)
    ],
    name: Annotated[
        str | None, typer.Option(help="Module name (default: the file name without .wasm).")
    ] = None,
    describe: Annotated[
        Path | None,
        typer.Option(
            help="Description (OpenAPI or wasmiot JSON) (default: description.json beside FILE)."
        ),
    ] = None,
    data: Annotated[
        list[str] | None,
        typer.Option(help="A deployment-stage data file NAME=FILE (repeatable)."),
    ] = None,
    note_: Annotated[
        str | None, typer.Option("--note", help="What changed in this version.")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who pushes it (default: your user name).")] = None,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Upload a module (a taken name gets its next version), then its description and data
    files."""
    pairs = parse_pairs(data or [], "--data NAME")
    with reported(), Client(orchestrator) as api:
        module = push_module(
            api,
            wasm,
            name or wasm.stem,
            describe=describe,
            data=pairs,
            note_text=note_,
            by=by or default_user(),
        )
    if output is Output.json:
        print_json(module)
        return
    show(modules_table([module]))
    if module.get("message"):
        note(str(module["message"]))
    functions = module.get("functions") or []
    if functions:
        note(f"functions: {', '.join(functions)}")
    else:
        note("not described yet: pass --describe DESC.json to make its functions deployable")


@app.command("ls")
def list_modules(
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """List the latest version of every module: version, size, sha256, exports, imports and
    whether it is described (`module history NAME` lists every version)."""
    with reported(), Client(orchestrator) as api:
        modules = api.get("/api/v1/modules")
    if output is Output.json:
        print_json(modules)
    elif not modules:
        note("No modules yet. Upload one with `wasmfleet module push FILE.wasm`.")
    else:
        show(modules_table(modules))


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Module name.")],
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """List every version of a module, newest first: sha256, size, when, by whom, the note,
    and the deployments using it."""
    with reported(), Client(orchestrator) as api:
        versions = api.get(f"/api/v1/modules/{name}/versions")
    if output is Output.json:
        print_json(versions)
        return
    result = table("version", "sha256", "size", "created", "by", "note", "used by")
    for v in versions:
        result.add_row(
            str(v.get("version")),
            str(v.get("sha256") or "")[:12],
            human_size(v.get("size")),
            str(v.get("created_at") or "-")[:19].replace("T", " "),
            v.get("created_by") or "-",
            v.get("note") or "-",
            ", ".join(v.get("deployments") or []) or "-",
        )
    show(result)


def default_user() -> str | None:
    """The OS user name (who pushes, unless --by says otherwise); None if unknown."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Module name or id.")],
    force: Annotated[bool, typer.Option(help="Delete even while a deployment uses it.")] = False,
    orchestrator: OrchestratorOpt = DEFAULT_URL,
    ca_file: CaFileOpt = None,
    output: OutputOpt = Output.table,
) -> None:
    """Delete a module (refused while an active deployment uses it, unless --force)."""
    with reported(), Client(orchestrator) as api:
        api.delete(f"/api/v1/modules/{name}", params={"force": str(force).lower()})
    if output is Output.json:
        print_json({"deleted": name})
    else:
        note(f"deleted module {name}")
