"""Every host function a device can offer a module: the one table the runtime, the checker and
the docs read.

A device offers WASI preview1 (``wasi_snapshot_preview1.*``) and the functions of
``HOST_CATALOG``: the wasmiot set (``sys.*``, ``camera.*``, ``dht.*``,
``communication.rpcCall``), wasmfleet's own (``wasmfleet.*``), WASI-NN
(``wasi_ephemeral_nn.*``) and AssemblyScript's ``env.abort``. Each entry lists the
signatures it accepts (a few wasmiot functions had more than one over time) and its
``needs``: what a device must have to offer it, each need with the sentence that says which
device offers it (``NEEDS``). ``runtime/host/functions.py`` attaches an implementation to
every signature listed here and nothing else. Pure.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from wasmfleet.core.wasm_interface import FuncSignature

WASI_MODULE = "wasi_snapshot_preview1"
NN_MODULE = "wasi_ephemeral_nn"

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
"""The functions of WASI preview1, all provided by wasmtime on every device."""


@dataclass(frozen=True, slots=True)
class Need:
    """Something a device must have to offer some host functions."""

    lacks: str
    """Why a device without it offers none of them, as a clause: "this device has no camera"."""
    offered_by: str
    """Which device offers them, as a noun phrase: "a supervisor started with --broker"."""


NEEDS: dict[str, Need] = {
    "camera": Need(
        "this device has no camera",
        "a supervisor with a camera (--camera auto, simulated or opencv; not --camera none)",
    ),
    "dht": Need(
        "this device has no DHT sensor",
        "a supervisor with a DHT sensor (--sensors simulated, the default; not --sensors none)",
    ),
    "broker": Need(
        "this device has no MQTT broker (start its supervisor with --broker)",
        "a supervisor started with --broker mqtt://HOST:1883",
    ),
    "images": Need(
        "this device has no Pillow (install it there: pip install pillow)",
        "a supervisor where Pillow is installed (pip install pillow)",
    ),
    "nn": Need(
        "this device has no WASI-NN backend (install ONNX Runtime and LiteRT there: "
        "pip install 'wasmfleet[nn]')",
        "a supervisor with a WASI-NN backend (pip install 'wasmfleet[nn]')",
    ),
}
"""Each ``HostEntry.needs`` value: what it takes, in sentences."""


def sig(params: str, results: str = "") -> FuncSignature:
    """A signature from space-separated type names: ``sig("i32 i32", "i32")``."""
    return FuncSignature(tuple(params.split()), tuple(results.split()))


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One importable host function: where it lives, what it accepts, what it needs."""

    module: str
    name: str
    signatures: tuple[FuncSignature, ...]
    needs: str | None = None
    """A key of ``NEEDS``; None: every device offers it."""
    summary: str = ""

    @property
    def qualified(self) -> str:
        """``module.name``."""
        return f"{self.module}.{self.name}"


def _entry(
    qualified: str, signatures: str | tuple[str, ...], needs: str | None, summary: str
) -> HostEntry:
    """An entry from ``"module.name"`` and signatures written ``"i32 i32 -> i32"``."""
    module, name = qualified.split(".", 1)
    texts = (signatures,) if isinstance(signatures, str) else signatures
    sigs = []
    for text in texts:
        params, _, results = text.partition("->")
        sigs.append(sig(params, results))
    return HostEntry(module, name, tuple(sigs), needs, summary)


HOST_CATALOG: tuple[HostEntry, ...] = (
    _entry("sys.millis", ("-> i32", "-> i64"), None, "milliseconds since the epoch"),
    _entry("sys.delay", "i32", None, "sleep (bounded by the call's time limit)"),
    _entry("sys.print", "i32 i32", None, "log UTF-8 text (ptr, len)"),
    _entry("sys.println", ("i32 i32", "i32"), None, "log a line: (ptr, len) or a C string"),
    _entry("sys.printInt", ("i32", "i64"), None, "log an integer"),
    _entry("camera.takeImageDynamicSize", "i32 i32", "camera", "a JPEG into an alloc'd buffer"),
    _entry("camera.takeImageStaticSize", "i32 i32", "camera", "a JPEG into a given buffer"),
    _entry("dht.getTemperature", "-> f32", "dht", "degrees Celsius"),
    _entry("dht.getHumidity", "-> f32", "dht", "relative humidity in percent"),
    _entry(
        "communication.rpcCall",
        ("i32 i32 i32 i32 i32 i32 -> i32", "i32 i32 i32 i32 i32 i32", "i32 i32 i32 i32"),
        None,
        "call a function of another module of the deployment",
    ),
    _entry("wasmfleet.publish", "i32 i32 i32 i32 i32 -> i32", "broker", "publish to MQTT"),
    _entry("wasmfleet.message_topic", "i32 i32 -> i32", "broker", "the triggering topic"),
    _entry("wasmfleet.image_decode", "i32 i32 i32 i32 i32 -> i32", "images", "decode an image"),
    _entry("wasmfleet.image_encode", "i32 i32 i32 i32 i32 i32 -> i32", "images", "encode JPEG"),
    _entry("wasmfleet.qoa_report", "f32 f32 -> i32", None, "report an inference's quality"),
    _entry("wasmfleet.thing_read", "i32 i32 i32 i32 -> i32", None, "read an app's sensor"),
    _entry("wasmfleet.thing_send", "i32 i32 i32 i32 -> i32", None, "command an app's controller"),
    _entry("wasmfleet.param", "i32 i32 i32 i32 -> i32", None, "an app install's parameter"),
    _entry(f"{NN_MODULE}.load", "i32 i32 i32 i32 i32 -> i32", "nn", "load a model from bytes"),
    _entry(f"{NN_MODULE}.load_by_name", "i32 i32 i32 -> i32", "nn", "load a model file"),
    _entry(f"{NN_MODULE}.init_execution_context", "i32 i32 -> i32", "nn", "a context"),
    _entry(f"{NN_MODULE}.set_input", "i32 i32 i32 -> i32", "nn", "set an input tensor"),
    _entry(f"{NN_MODULE}.compute", "i32 -> i32", "nn", "run the model"),
    _entry(f"{NN_MODULE}.get_output", "i32 i32 i32 i32 i32 -> i32", "nn", "read an output"),
    _entry("env.abort", "i32 i32 i32 i32", None, "AssemblyScript's abort: trap with its message"),
)
"""Every host function beside WASI, in the order the docs list them."""

_BY_NAME: dict[tuple[str, str], HostEntry] = {(e.module, e.name): e for e in HOST_CATALOG}
_WASI = frozenset(WASI_FUNCTIONS)
_ALL_NAMES: tuple[str, ...] = (
    *(e.qualified for e in HOST_CATALOG),
    *(f"{WASI_MODULE}.{n}" for n in WASI_FUNCTIONS),
)


def find(module: str, name: str) -> HostEntry | None:
    """The catalogue entry of ``module.name`` (None for WASI functions and unknown names)."""
    return _BY_NAME.get((module, name))


def is_wasi(module: str, name: str) -> bool:
    """Whether ``module.name`` is a WASI preview1 function."""
    return module == WASI_MODULE and name in _WASI


def offered(entry: HostEntry, lacking: frozenset[str]) -> bool:
    """Whether a device lacking ``lacking`` offers ``entry``."""
    return entry.needs is None or entry.needs not in lacking


def unmet(entry: HostEntry) -> str:
    """Why a device lacking ``entry.needs`` does not offer it and what else goes with it."""
    need = NEEDS.get(entry.needs or "")
    lacks = need.lacks if need is not None else f"this device has no {entry.needs}"
    same_module = [e for e in HOST_CATALOG if e.module == entry.module]
    if all(e.needs == entry.needs for e in same_module):
        return f"{lacks}: it offers no {entry.module}.* functions"
    needing = ", ".join(e.qualified for e in same_module if e.needs == entry.needs)
    return f"{lacks}: it offers none of {needing}"


def offered_by(entry: HostEntry) -> str:
    """Which device offers ``entry``, as a noun phrase ("every device" without needs)."""
    if entry.needs is None:
        return "every device"
    need = NEEDS.get(entry.needs)
    return need.offered_by if need is not None else f"a device with {entry.needs}"


def suggest(module: str, name: str, limit: int = 3) -> list[str]:
    """The known ``module.name`` closest to an unknown one (a typo, a wrong module)."""
    wanted = f"{module}.{name}"
    close = difflib.get_close_matches(wanted, _ALL_NAMES, n=limit, cutoff=0.6)
    if close:
        return close
    same_name = [q for q in _ALL_NAMES if q.split(".", 1)[1] == name]
    if same_name:
        return same_name[:limit]
    in_module = [q for q in _ALL_NAMES if q.split(".", 1)[0] == module]
    return difflib.get_close_matches(wanted, in_module, n=limit, cutoff=0.3)
