"""``wasmfleet run``: one module, run locally the way a supervisor runs it, with no service.

The same pieces as a device: the engine and instance of runtime/ (limits included), the host
functions of runtime/host/ over a simulated device (authoring/sim_host.py), arguments bound by
``core.args.bind_arguments`` (by the described names, else by position), execution mounts
checked and the output file found by runtime/call_io.py, the bytes ABI by
runtime/bytes_abi.py. One instance serves every call of a run, so module state is kept from
call to call, as on a device.

The module's directory is a temporary folder (WASI-preopened as ``.``); deployment-stage
files are laid out there before the module starts, execution-mount files before each call,
and an output file is copied out to ``out_dir`` afterwards.
"""

from __future__ import annotations

import difflib
import gc
import json
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wasmfleet.core.args import ArgValue, bind_arguments, format_value
from wasmfleet.core.deploy_doc import complete_from_description
from wasmfleet.core.errors import (
    ConfigurationError,
    ExecutionFailed,
    InvalidArgument,
    InvalidDocument,
    InvalidWasm,
    MissingImports,
    NotFound,
)
from wasmfleet.core.models import DeploymentSpec, FunctionSpec, ModuleSpec
from wasmfleet.runtime.bytes_abi import call_with_bytes, takes_bytes
from wasmfleet.runtime.call_io import (
    before_call,
    bytes_as_text,
    keep_bytes_output,
    mount_files,
    output_after_call,
    write_inputs,
)
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import missing_imports
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import RuntimeLimits

DEPLOYMENT = "local"
"""The deployment id the module sees (log lines, ``wasmfleet.qoa_report`` keys)."""
DESCRIPTION = "description.json"
CLI_HOW = "(give it with --file {mount}=PATH)"


@dataclass(frozen=True, slots=True)
class CallResult:
    """What one call produced, in the supervisor's terms."""

    function: str
    result: Any
    """As a supervisor's history entry shows it: a scalar's text, the bytes output as text
    (``base64:`` when not UTF-8), the output file's name, or None."""
    output_file: Path | None = None
    """Where the output file (an output mount, or a binary bytes-ABI output) was copied."""
    output_bytes: bytes | None = None
    """The bytes ABI's output buffer, as the function returned it."""
    ms: float = 0.0


def find_description(wasm: Path) -> Path | None:
    """``description.json`` next to the .wasm, else in its folder's ``build/``; None."""
    for candidate in (wasm.parent / DESCRIPTION, wasm.parent / "build" / DESCRIPTION):
        if candidate.is_file():
            return candidate
    return None


def read_description(path: Path) -> dict[str, Any]:
    """A module description (OpenAPI JSON); InvalidDocument saying what is wrong."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidDocument(f"Cannot read the description {path}: {err}.") from None
    except json.JSONDecodeError as err:
        raise InvalidDocument(f"The description {path} is not valid JSON: {err}.") from None
    if not isinstance(data, dict):
        raise InvalidDocument(f"The description {path} must be an OpenAPI object with 'paths'.")
    return data


class LocalRunner:
    """One module instantiated on the simulated device; ``call`` runs its functions."""

    def __init__(
        self,
        wasm: Path,
        devices: HostDevices,
        *,
        description: Mapping[str, Any] | None = None,
        files: Mapping[str, Path] | None = None,
        limits: RuntimeLimits | None = None,
        out_dir: Path | None = None,
    ) -> None:
        self.name = wasm.stem
        self.devices = devices
        self.out_dir = out_dir or Path.cwd()
        self.files = dict(files or {})
        self.engine = WasmEngine(limits or RuntimeLimits())
        self._tmp = tempfile.TemporaryDirectory(prefix=f"wasmfleet-run-{self.name}-")
        self.workdir = Path(self._tmp.name)
        try:
            binary = _read(wasm, "module")
            self.compiled = self.engine.compile(binary, name=self.name)
            missing = missing_imports(self.compiled.imports, devices.lacking)
            if missing:
                hint = " (drop --no-broker-print to offer them)" if devices.mqtt is None else ""
                raise MissingImports(
                    f"Module {self.name!r} needs imports wasmfleet run does not offer: "
                    f"{'; '.join(missing)}{hint}.",
                    missing,
                )
            self.spec = self._spec(wasm, description)
            self._lay_out_deployment_files(wasm)
            self.instance = WasmInstance(
                self.engine,
                self.compiled,
                self.workdir,
                devices,
                deployment=DEPLOYMENT,
                module=self.name,
            )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LocalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the instance, stop the engine's ticker and delete the module's directory.

        The instance (its wasmtime store and WASI context) is freed here, not left to the
        interpreter's exit: freed during finalization, wasmtime's WASI runtime aborted the
        process now and then (a Rust panic in a thread start, exit status 134)."""
        if hasattr(self, "instance"):
            del self.instance
            gc.collect()
        self.engine.close()
        self._tmp.cleanup()

    def function(self, name: str) -> FunctionSpec | None:
        """The described function, or None for an export the description leaves out (then:
        positional arguments, a scalar result); NotFound when the module does not export it."""
        try:
            self.instance.signature(name)
        except NotFound as err:
            close = difflib.get_close_matches(name, list(self.compiled.functions), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise NotFound(err.message + hint) from None
        return self.spec.function(self.name, name)

    def takes_body(self, name: str) -> bool:
        """True when the function follows the bytes ABI: ``data`` is its payload."""
        return takes_bytes(self.compiled.functions, name)

    def call(
        self,
        name: str,
        args: Sequence[tuple[str, ArgValue]] = (),
        *,
        data: bytes | None = None,
    ) -> CallResult:
        """Run one call; InvalidArgument/InvalidMount/NotFound for bad input, ExecutionFailed
        (a trap, a rejected input, a limit) when the module fails."""
        described = self.function(name)
        fn = described or FunctionSpec(module=self.name, name=name)
        signature = self.compiled.functions[name]
        bytes_abi = self.takes_body(name)
        if data is not None and not bytes_abi:
            raise InvalidArgument(
                f"{self.name}.{name} does not take bytes (it is not an (i32 ptr, i32 len) "
                f"function of a module exporting alloc): give it arguments, not --data."
            )
        values = [] if bytes_abi else bind_arguments(fn, signature.params, _named(fn, args))  # type: ignore[arg-type]
        if bytes_abi and args:
            raise InvalidArgument(
                f"{self.name}.{name} takes bytes, not arguments: give them with --data TEXT "
                "or --data-file PATH."
            )
        given = {mount: _read(path, f"file for {mount}") for mount, path in self.files.items()}
        if described is None:  # no mounts declared: the files go in under their names
            declared = frozenset(given)
        else:
            declared = frozenset(m.name for m in fn.mounts_at("execution"))
            given = {k: v for k, v in given.items() if k in declared}
        inputs = mount_files(self.name, name, declared, given, CLI_HOW)
        outputs = fn.mounts_at("output")
        output_mount = outputs[0].name if outputs else None
        write_inputs(self.workdir, inputs)
        before = None if bytes_abi else before_call(self.workdir, fn, output_mount)
        started = time.perf_counter()
        if bytes_abi:
            value = call_with_bytes(self.instance, name, data or b"", None)
        else:
            value = self.instance.call(name, values)
        ms = round((time.perf_counter() - started) * 1000, 3)
        if bytes_abi:
            output = keep_bytes_output(self.workdir, fn, output_mount, value)
        elif fn.returns_file:
            output = output_after_call(self.workdir, fn, output_mount, before, value)
        else:
            output = None
        raw = value if isinstance(value, bytes) else None
        if output is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            copied = self.out_dir / output
            shutil.copyfile(self.workdir / output, copied)
            return CallResult(name, output, copied, raw, ms)
        if raw is not None:
            return CallResult(name, bytes_as_text(raw), None, raw, ms)
        return CallResult(name, format_value(value, signature.results), None, None, ms)  # type: ignore[arg-type]

    def _spec(self, wasm: Path, description: Mapping[str, Any] | None) -> DeploymentSpec:
        module = ModuleSpec(id=self.name, name=self.name, binary_url=wasm.as_uri())
        spec = DeploymentSpec(id=DEPLOYMENT, modules=(module,), functions=())
        if description is None:
            return spec
        return complete_from_description(spec, self.name, dict(description))

    def _lay_out_deployment_files(self, wasm: Path) -> None:
        """Deployment-stage mounts: from ``files``, else the file of that name beside the
        .wasm (as the examples keep them); ConfigurationError naming a missing one."""
        needed = {m.name for fn in self.spec.functions for m in fn.mounts_at("deployment")}
        laid: dict[str, Path] = {}
        for mount in sorted(needed):
            source = self.files.pop(mount, None) or wasm.parent / mount
            if not source.is_file():
                raise ConfigurationError(
                    f"Module {self.name!r} needs the deployment-stage file {mount!r}: give it "
                    f"with --file {mount}=PATH (or put it next to {wasm.name})."
                )
            shutil.copyfile(source, self.workdir / mount)
            laid[mount] = self.workdir / mount
        if self.devices.nn is not None and laid:
            self.devices.nn.deployment_installed(DEPLOYMENT, {self.name: laid})
        execution = {m.name for fn in self.spec.functions for m in fn.mounts_at("execution")}
        unknown = sorted(set(self.files) - execution)
        if unknown and self.spec.functions:
            raise ConfigurationError(
                f"--file {unknown[0]}: module {self.name!r} has no mount of that name "
                f"(execution mounts: {', '.join(sorted(execution)) or 'none'})."
            )


def _named(fn: FunctionSpec, args: Sequence[tuple[str, ArgValue]]) -> list[tuple[str, ArgValue]]:
    """Values given by position under the described names, when there is one per parameter
    (so a sentence about an argument names it as the description does)."""
    positional = all(name.isdigit() for name, _ in args)
    if args and positional and len(fn.params) == len(args):
        return [(p.name, value) for p, (_, value) in zip(fn.params, args, strict=True)]
    return list(args)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigurationError(f"Cannot read the {what} {path}: {err.strerror or err}.") from None


def failed(err: Exception) -> bool:
    """True when ``err`` means the call (or the module) failed, not the command line: a
    trap, a rejected input, a limit, a module this host cannot run or start."""
    return isinstance(err, ExecutionFailed | MissingImports | InvalidWasm)
