"""``wasmfleet run``: call a module's function locally, as a device would, with no service."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from wasmfleet.core.args import ArgValue
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.runtime.limits import MiB, RuntimeLimits

OK, FAILED, USAGE = 0, 1, 2
"""Exit codes: the calls ran; a call (or the module) failed; the command line is wrong."""
_DEFAULTS = RuntimeLimits()


def run(
    wasm: Annotated[Path, typer.Argument(help="The module's .wasm file.")],
    function: Annotated[str, typer.Argument(help="The exported function to call.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Arguments: NAME=VALUE by the described names, or values by position "
            "(put -- before negative numbers)."
        ),
    ] = None,
    file: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            "-f",
            metavar="MOUNT=PATH",
            help="A file for an execution (or deployment) mount.",
        ),
    ] = None,
    data: Annotated[
        str | None, typer.Option(help="The payload of a bytes-ABI function, as text.")
    ] = None,
    data_file: Annotated[
        Path | None, typer.Option(help="The payload of a bytes-ABI function, from a file.")
    ] = None,
    description: Annotated[
        Path | None,
        typer.Option(
            help="The module's OpenAPI description (default: description.json next to the "
            ".wasm, else in its folder's build/)."
        ),
    ] = None,
    temperature: Annotated[float, typer.Option(help="What dht.getTemperature reads (°C).")] = 21.5,
    humidity: Annotated[float, typer.Option(help="What dht.getHumidity reads (%).")] = 45.0,
    camera: Annotated[
        Path | None,
        typer.Option(
            help="The picture camera.* takes (a JPEG, or a folder of JPEGs served in turn); "
            "default: the bundled sample."
        ),
    ] = None,
    broker_print: Annotated[
        bool,
        typer.Option(
            "--broker-print/--no-broker-print",
            help="Offer wasmfleet.publish and print each message to stderr; without it the "
            "module sees a device with no broker.",
        ),
    ] = True,
    out: Annotated[
        Path | None, typer.Option(help="Folder the output file is written to (default: .).")
    ] = None,
    repeat: Annotated[
        int, typer.Option(min=1, max=10_000, help="Call the function this many times.")
    ] = 1,
    then: Annotated[
        list[str] | None,
        typer.Option(
            metavar="'FUNCTION ARGS'",
            help="Another call on the same instance, after the first "
            "(repeatable; module state is kept between calls, as on a device).",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.001, help="Wall-clock limit of one call, in seconds.")
    ] = _DEFAULTS.call_timeout_s,
    memory: Annotated[
        int, typer.Option(min=1, help="Linear memory limit of the instance, in MiB.")
    ] = _DEFAULTS.memory_limit_bytes // MiB,
    stack: Annotated[
        int, typer.Option(min=64, help="Guest stack size, in KiB.")
    ] = _DEFAULTS.max_wasm_stack_bytes // 1024,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per call on stdout.")
    ] = False,
) -> None:
    """Run a module's function locally with the supervisor's runtime, limits and host
    functions over a simulated device (camera from a file, sensors with given values,
    publish printed): the inner loop of module development, without any service.

    Exit code 0 when every call ran, 1 when a call (or the module) failed, 2 for a usage
    error."""
    from wasmfleet.authoring.runner import (
        LocalRunner,
        failed,
        find_description,
        read_description,
    )
    from wasmfleet.authoring.sim_host import SimulatedHostOptions, simulated_devices

    _guest_output_to_stderr()
    try:
        if data is not None and data_file is not None:
            _usage("give the payload with --data or with --data-file, not both.")
        payload = data.encode() if data is not None else None
        if data_file is not None:
            payload = _read_payload(data_file)
        calls = [(function, _parse_args(args or []))] * repeat
        for extra in then or []:
            words = shlex.split(extra)
            if not words:
                _usage("--then needs a function name, e.g. --then 'get'.")
            calls.append((words[0], _parse_args(words[1:])))
        described = description or find_description(wasm)
        doc = read_description(described) if described is not None else None
        devices = simulated_devices(
            SimulatedHostOptions(temperature, humidity, camera, broker_print), _note
        )
        limits = RuntimeLimits(
            call_timeout_s=timeout,
            memory_limit_bytes=memory * MiB,
            max_wasm_stack_bytes=stack * 1024,
        )
        runner = LocalRunner(
            wasm, devices, description=doc, files=_parse_files(file or []), limits=limits,
            out_dir=out,
        )  # fmt: skip
    except WasmfleetError as err:
        _fail(err, FAILED if failed(err) else USAGE, as_json, function)
    with runner:
        if payload is not None and not any(runner.takes_body(name) for name, _ in calls):
            _usage(
                f"--data is the payload of a bytes-ABI function ((i32 ptr, i32 len) in a module "
                f"exporting alloc), and {function} is not one: give it arguments instead."
            )
        for name, values in calls:
            try:
                bytes_call = runner.takes_body(name)
                result = runner.call(name, values, data=payload if bytes_call else None)
            except WasmfleetError as err:
                _fail(err, FAILED if failed(err) else USAGE, as_json, name)
            if as_json:
                typer.echo(json.dumps(_json_line(result), ensure_ascii=False))
            elif result.output_file is not None:
                typer.echo(str(result.output_file))
            elif result.output_bytes is not None:
                sys.stdout.buffer.write(result.output_bytes)
                if sys.stdout.isatty() and not result.output_bytes.endswith(b"\n"):
                    sys.stdout.buffer.write(b"\n")  # a prompt after it, not on its line
                sys.stdout.flush()
            elif result.result is not None:
                typer.echo(result.result)


def _json_line(result: Any) -> dict[str, Any]:
    return {
        "function": result.function,
        "success": True,
        "result": result.result,
        "output": str(result.output_file) if result.output_file is not None else None,
        "ms": result.ms,
    }


def _parse_args(words: list[str]) -> list[tuple[str, ArgValue]]:
    """NAME=VALUE pairs, or values by position (named ``0``, ``1``... as a JSON list's)."""
    named = ["=" in w and w.split("=", 1)[0].isidentifier() for w in words]
    if any(named) and not all(named):
        _usage(f"give arguments all by name (NAME=VALUE) or all by position, not both: {words}.")
    if all(named) and words:
        return [(w.split("=", 1)[0], w.split("=", 1)[1]) for w in words]
    return [(str(i), w) for i, w in enumerate(words)]


def _parse_files(items: list[str]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for item in items:
        mount, sep, path = item.partition("=")
        if not sep or not mount or not path:
            _usage(f"--file {item!r}: write it as MOUNT=PATH, e.g. --file input.jpg=./cat.jpg.")
        files[mount] = Path(path)
    return files


def _read_payload(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        _usage(f"--data-file {path}: {err.strerror or err}.")


def _note(line: str) -> None:
    typer.echo(line, err=True)


class _GuestLines(logging.Handler):
    """The module's stdout/stderr and sys.print lines, on stderr, as ``[stream] text``."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = getattr(record, "stream", "log")
        typer.echo(f"[{stream}] {record.getMessage()}", err=True)


def _guest_output_to_stderr() -> None:
    guest = logging.getLogger("wasmfleet.guest")
    if not any(isinstance(h, _GuestLines) for h in guest.handlers):
        guest.addHandler(_GuestLines())
    guest.setLevel(logging.INFO)
    guest.propagate = False


def _usage(sentence: str) -> NoReturn:
    typer.secho(f"error: {sentence}", fg=typer.colors.RED, err=True)
    raise typer.Exit(USAGE)


def _fail(err: WasmfleetError, code: int, as_json: bool, function: str) -> NoReturn:
    if as_json and code == FAILED:
        line = {"function": function, "success": False, "error": err.message, "code": err.code}
        typer.echo(json.dumps(line, ensure_ascii=False))
    typer.secho(f"error: {err.message}", fg=typer.colors.RED, err=True)
    err.__traceback__ = None  # its frames hold the instance: it must be freed before exit
    raise typer.Exit(code) from None
