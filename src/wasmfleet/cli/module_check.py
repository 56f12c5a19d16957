"""``wasmfleet module check``: what a device would say about a module, before deploying it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from wasmfleet.core.describe import ExportInfo, describe_module
from wasmfleet.core.errors import InvalidDocument, InvalidWasm
from wasmfleet.core.module_check import DEFAULT_MEMORY_LIMIT, CheckReport, check_module
from wasmfleet.core.wasm_interface import WasmInterface, parse_interface

MiB = 1024 * 1024


def check(
    wasm: Annotated[
        Path, typer.Argument(help="The .wasm file.", exists=True, dir_okay=False, readable=True)
    ],
    description: Annotated[
        Path | None,
        typer.Argument(
            help="Its description (OpenAPI, or the wasmiot JSON form `module push` takes); "
            "default: description.json beside the .wasm when there is one.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    memory_limit: Annotated[
        int,
        typer.Option(help="The device's --memory-limit in MiB.", min=1),
    ] = DEFAULT_MEMORY_LIMIT // MiB,
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> None:
    """Check a module's imports, reactor model, memory and description against what devices
    offer; exit 1 when something would stop it from deploying or being called."""
    if description is None and (wasm.parent / "description.json").is_file():
        description = wasm.parent / "description.json"
    data = wasm.read_bytes()
    try:
        doc = _description(data, wasm.stem, description) if description is not None else None
        report = check_module(data, doc, memory_limit_bytes=memory_limit * MiB)
    except InvalidDocument as err:
        typer.echo(f"error  invalid_description  {err.message}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        body = {"wasm": str(wasm), "description": str(description) if description else None}
        typer.echo(json.dumps({**body, **report.to_dict()}, indent=2))
    else:
        _print(report, wasm, description)
    raise typer.Exit(0 if report.ok else 1)


def _description(data: bytes, name: str, path: Path) -> dict[str, Any]:
    """The OpenAPI description in ``path`` (the wasmiot JSON form turned into one)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidDocument(f"{path} is not JSON ({err}); pass the description file.") from None
    if not isinstance(doc, dict):
        raise InvalidDocument(f"{path} must hold a JSON object (an OpenAPI description).")
    if "openapi" in doc:
        return doc
    try:
        interface = parse_interface(data)
    except InvalidWasm:  # the report says not_wasm; the description cannot be read without it
        return doc
    return describe_module(name, doc, _exports(interface), _mount_names(doc))


def _exports(interface: WasmInterface) -> dict[str, ExportInfo]:
    return {
        name: ExportInfo(name, sig.params, sig.results) for name, sig in interface.functions.items()
    }


def _mount_names(doc: dict[str, Any]) -> set[str]:
    """Every mount name a wasmiot-form description declares (its data files are not here)."""
    names: set[str] = set()
    for spec in doc.values():
        mounts = spec.get("mounts") if isinstance(spec, dict) else None
        if isinstance(mounts, dict):
            names.update(str(k) for k in mounts)
        elif isinstance(mounts, list):
            names.update(str(m.get("name")) for m in mounts if isinstance(m, dict))
    return names


def _print(report: CheckReport, wasm: Path, description: Path | None) -> None:
    what = f"{wasm}" + (f" with {description}" if description else " (no description)")
    interface = report.interface
    functions = [n for n in interface.functions if not n.startswith("_")]
    typer.echo(f"checked {what}")
    if not report.findings or report.findings[0].code != "not_wasm":
        typer.echo(
            f"  exports {', '.join(functions) or 'no functions'}; "
            f"imports {len(interface.imports)} function(s)"
        )
    for finding in report.findings:
        typer.echo(f"{finding.level:<7}  {finding.code:<18}  {finding.message}")
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = "ok" if report.ok else "not deployable as it is"
    typer.echo(f"{verdict}: {errors} error(s), {warnings} warning(s)")
