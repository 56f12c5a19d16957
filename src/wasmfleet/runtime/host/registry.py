"""Which imports this supervisor offers, the deploy-time import check, and linking.

A device offers WASI preview1 plus the host functions of ``functions.HOST_FUNCTIONS``,
except those whose ``needs`` it lacks (``lacking``, e.g. ``camera`` on a device started
with ``--camera none``, ``broker`` for ``wasmfleet.publish`` on one without ``--broker``,
``images`` for ``wasmfleet.image_*`` where Pillow is not installed, ``nn`` for
``wasi_ephemeral_nn.*`` where no inference backend is; see ``HostDevices.lacking``).
``missing_imports`` names every import a module needs that the device cannot satisfy, so
deploying it is refused with a message instead of failing at instantiation.
"""

from __future__ import annotations

from typing import Any

import wasmtime

from wasmfleet.runtime.engine import ImportSpec
from wasmfleet.runtime.host.functions import HOST_FUNCTIONS, HostDevices, HostFunction, HostImpl
from wasmfleet.runtime.host.guest import GuestContext, HostCallError

WASI_MODULE = "wasi_snapshot_preview1"

# The functions of WASI preview1 (wasi_snapshot_preview1), all provided by wasmtime.
WASI_FUNCTIONS: tuple[str, ...] = (
    "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
    "clock_time_get", "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_get",
    "fd_fdstat_set_flags", "fd_fdstat_set_rights", "fd_filestat_get", "fd_filestat_set_size",
    "fd_filestat_set_times", "fd_pread", "fd_prestat_get", "fd_prestat_dir_name", "fd_pwrite",
    "fd_read", "fd_readdir", "fd_renumber", "fd_seek", "fd_sync", "fd_tell", "fd_write",
    "path_create_directory", "path_filestat_get", "path_filestat_set_times", "path_link",
    "path_open", "path_readlink", "path_remove_directory", "path_rename", "path_symlink",
    "path_unlink_file", "poll_oneoff", "proc_exit", "proc_raise", "sched_yield", "random_get",
    "sock_accept", "sock_recv", "sock_send", "sock_shutdown",
)  # fmt: skip

_LACKS = {
    "camera": "this device has no camera",
    "dht": "this device has no DHT sensor",
    "broker": "this device has no MQTT broker (start its supervisor with --broker)",
    "images": "this device has no Pillow (install it there: pip install pillow)",
    "nn": "this device has no WASI-NN backend (install ONNX Runtime and LiteRT there: "
    "pip install 'wasmfleet[nn]')",
}
"""Why a device does not offer the host functions with each need, in a sentence."""
_BY_NAME: dict[tuple[str, str], HostFunction] = {(f.module, f.name): f for f in HOST_FUNCTIONS}
_WASI = frozenset(WASI_FUNCTIONS)


def offered_interfaces(
    lacking: frozenset[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """(bare names as wasmiot lists them, qualified ``module.name`` names) of every import
    offered, leaving out the host functions whose need is ``lacking``."""
    hosts = [f for f in HOST_FUNCTIONS if _offered(f, lacking)]
    qualified = [f"{WASI_MODULE}.{n}" for n in WASI_FUNCTIONS] + [f.qualified for f in hosts]
    bare = list(dict.fromkeys([*WASI_FUNCTIONS, *(f.name for f in hosts)]))
    return bare, qualified


def missing_imports(
    imports: tuple[ImportSpec, ...], lacking: frozenset[str] = frozenset()
) -> list[str]:
    """Human-readable descriptions of the imports this device cannot satisfy."""
    missing: list[str] = []
    for imp in imports:
        if imp.kind != "func":
            missing.append(f"{imp.qualified} ({imp.kind} imports are not provided)")
        elif imp.module == WASI_MODULE:
            if imp.name not in _WASI:
                missing.append(f"{imp.qualified} (not a WASI preview1 function)")
        else:
            host = _BY_NAME.get((imp.module, imp.name))
            if host is None:
                missing.append(f"{imp.qualified} {imp.signature}")
            elif not _offered(host, lacking):
                missing.append(f"{imp.qualified} {imp.signature} ({_unmet(host)})")
            elif imp.signature not in host.variants:
                offered = " or ".join(str(s) for s in host.variants)
                missing.append(f"{imp.qualified} {imp.signature} (this device offers {offered})")
    return missing


def define_imports(
    linker: wasmtime.Linker,
    imports: tuple[ImportSpec, ...],
    ctx: GuestContext,
    devices: HostDevices,
) -> None:
    """Link WASI and the host-function variants matching the module's imports (never those
    whose need ``devices`` lacks)."""
    linker.define_wasi()
    lacking = devices.lacking
    done: set[tuple[str, str]] = set()
    for imp in imports:
        host = _BY_NAME.get((imp.module, imp.name))
        if host is None or imp.signature is None or (imp.module, imp.name) in done:
            continue
        if not _offered(host, lacking):
            continue
        builder = host.variants.get(imp.signature)
        if builder is None:
            continue
        functype = wasmtime.FuncType(
            [_valtype(t) for t in imp.signature.params],
            [_valtype(t) for t in imp.signature.results],
        )
        impl = _guarded(builder(ctx, devices), host.qualified, ctx)
        linker.define_func(imp.module, imp.name, functype, impl, access_caller=True)
        done.add((imp.module, imp.name))


def _offered(host: HostFunction, lacking: frozenset[str]) -> bool:
    """Whether a device lacking ``lacking`` offers ``host``."""
    return host.needs is None or host.needs not in lacking


def _unmet(host: HostFunction) -> str:
    """Why ``host`` is not offered and what else goes with it, for a missing-import message."""
    lacks = _LACKS.get(host.needs or "", f"this device has no {host.needs}")
    same_module = [f for f in HOST_FUNCTIONS if f.module == host.module]
    if all(f.needs == host.needs for f in same_module):
        return f"{lacks}: it offers no {host.module}.* functions"
    needing = ", ".join(f.qualified for f in same_module if f.needs == host.needs)
    return f"{lacks}: it offers none of {needing}"


def _guarded(impl: HostImpl, qualified: str, ctx: GuestContext) -> HostImpl:
    """Record any failure in the guest's context, so the trap message can name it."""

    def call(*args: Any) -> Any:
        try:
            return impl(*args)
        except HostCallError:
            raise
        except Exception as err:
            raise ctx.fail(qualified, f"{type(err).__name__}: {err}") from err

    return call


def _valtype(name: str) -> wasmtime.ValType:
    factory = {
        "i32": wasmtime.ValType.i32,
        "i64": wasmtime.ValType.i64,
        "f32": wasmtime.ValType.f32,
        "f64": wasmtime.ValType.f64,
    }[name]
    return factory()
