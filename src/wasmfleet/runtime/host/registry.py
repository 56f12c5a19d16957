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

from wasmfleet.core.host_catalog import WASI_FUNCTIONS, WASI_MODULE, find, is_wasi, suggest, unmet
from wasmfleet.runtime.engine import ImportSpec
from wasmfleet.runtime.host.functions import HOST_FUNCTIONS, HostDevices, HostFunction, HostImpl
from wasmfleet.runtime.host.guest import GuestContext, HostCallError

_BY_NAME: dict[tuple[str, str], HostFunction] = {(f.module, f.name): f for f in HOST_FUNCTIONS}


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
            if not is_wasi(imp.module, imp.name):
                missing.append(f"{imp.qualified} (not a WASI preview1 function{_hint(imp)})")
        else:
            host = _BY_NAME.get((imp.module, imp.name))
            if host is None:
                missing.append(f"{imp.qualified} {imp.signature}{_hint(imp, ' (')}")
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
    entry = find(host.module, host.name)
    return unmet(entry) if entry is not None else f"this device has no {host.needs}"


def _hint(imp: ImportSpec, opening: str = "; ") -> str:
    """A "did you mean" clause for an unknown import ('' when nothing is close)."""
    close = suggest(imp.module, imp.name, limit=2)
    if not close:
        return ""
    return f"{opening}did you mean {' or '.join(close)}?" + (")" if opening == " (" else "")


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
