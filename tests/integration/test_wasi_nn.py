"""WASI-NN (``wasi_ephemeral_nn``) with real wasmtime, ONNX Runtime and LiteRT.

The guest is a thin WAT module that passes its arguments straight to the six imports, so
the tests drive every call from Python and read what the host wrote into guest memory.
"""

from __future__ import annotations

import gc
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import wasmtime
from onnx import TensorProto, helper
from PIL import Image

from tests.support import FileServer, SupervisorProcess
from wasmfleet.core.errors import ExecutionFailed, InvalidWasm
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import missing_imports, offered_interfaces
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits
from wasmfleet.runtime.nn import backends as nn_backends
from wasmfleet.runtime.nn.abi import Errno, GraphEncoding, TensorType
from wasmfleet.runtime.nn.models import ModelRegistry, bundled_face_model
from wasmfleet.runtime.nn.session import MAX_CONTEXTS

DATA = Path(__file__).resolve().parents[1] / "data"
NN = "wasi_ephemeral_nn"
GUEST = f"""(module
  (import "{NN}" "load" (func $load (param i32 i32 i32 i32 i32) (result i32)))
  (import "{NN}" "load_by_name" (func $by_name (param i32 i32 i32) (result i32)))
  (import "{NN}" "init_execution_context" (func $init (param i32 i32) (result i32)))
  (import "{NN}" "set_input" (func $set_input (param i32 i32 i32) (result i32)))
  (import "{NN}" "compute" (func $compute (param i32) (result i32)))
  (import "{NN}" "get_output" (func $get_output (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 16)
  (func (export "load") (param i32 i32 i32 i32 i32) (result i32)
    (call $load (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "load_by_name") (param i32 i32 i32) (result i32)
    (call $by_name (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32) (result i32) (call $init (local.get 0) (local.get 1)))
  (func (export "set_input") (param i32 i32 i32) (result i32)
    (call $set_input (local.get 0) (local.get 1) (local.get 2)))
  (func (export "compute") (param i32) (result i32) (call $compute (local.get 0)))
  (func (export "get_output") (param i32 i32 i32 i32 i32) (result i32)
    (call $get_output (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4))))"""

# Where the tests put things in guest memory (16 pages = 1 MiB).
GRAPH_OUT, CONTEXT_OUT, WRITTEN = 0x10, 0x14, 0x18
BUILDERS, TENSOR, DIMS, NAME = 0x40, 0x60, 0x80, 0x100
MODEL, INPUT, OUTPUT = 0x1000, 0x20000, 0x60000
SENTINEL = 0xAAAAAAAA
OK = Errno.SUCCESS


# -- models -------------------------------------------------------------------------------


def onnx_bytes(graph: onnx.GraphProto) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def affine_model(scale: float = 2.0, shift: float = 1.0) -> bytes:
    """Y = X * scale + shift over float32[1, 4]."""
    f32 = TensorProto.FLOAT
    return onnx_bytes(
        helper.make_graph(
            [
                helper.make_node("Mul", ["X", "s"], ["T"]),
                helper.make_node("Add", ["T", "b"], ["Y"]),
            ],
            "affine",
            [helper.make_tensor_value_info("X", f32, [1, 4])],
            [helper.make_tensor_value_info("Y", f32, [1, 4])],
            [helper.make_tensor("s", f32, [], [scale]), helper.make_tensor("b", f32, [], [shift])],
        )
    )


def two_input_model() -> bytes:
    """D = A - B (float32[N, 3], N dynamic) and C = cast(B, int64) x 1 (int64[N, 3])."""
    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    return onnx_bytes(
        helper.make_graph(
            [
                helper.make_node("Sub", ["A", "B"], ["D"]),
                helper.make_node("Cast", ["B"], ["C"], to=i64),
            ],
            "two",
            [
                helper.make_tensor_value_info("A", f32, ["N", 3]),
                helper.make_tensor_value_info("B", f32, ["N", 3]),
            ],
            [
                helper.make_tensor_value_info("D", f32, ["N", 3]),
                helper.make_tensor_value_info("C", i64, ["N", 3]),
            ],
        )
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    (folder / "affine.onnx").write_bytes(affine_model())
    (folder / "triple.onnx").write_bytes(affine_model(3.0, 0.0))
    (folder / "two.onnx").write_bytes(two_input_model())
    (folder / "broken.onnx").write_bytes(b"this is not a protobuf model at all")
    return folder


@pytest.fixture
def engine() -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=10.0, memory_limit_bytes=64 * MiB))
    yield eng
    eng.close()


@pytest.fixture
def registry(model_dir: Path) -> ModelRegistry:
    return ModelRegistry({"affine": model_dir / "affine.onnx", "two": model_dir / "two.onnx"})


Make = Callable[..., WasmInstance]


@pytest.fixture
def make(engine: WasmEngine, tmp_path: Path, registry: ModelRegistry) -> Make:
    compiled = engine.compile(bytes(wasmtime.wat2wasm(GUEST)))

    def build(deployment: str = "d", module: str = "m", nn: Any = registry) -> WasmInstance:
        devices = HostDevices(None, None, nn=nn)
        return WasmInstance(
            engine, compiled, tmp_path, devices, deployment=deployment, module=module
        )

    return build


# -- guest helpers ------------------------------------------------------------------------


def u32(inst: WasmInstance, ptr: int) -> int:
    value: int = struct.unpack("<I", inst.read_memory(ptr, 4))[0]
    return value


def clear(inst: WasmInstance, *ptrs: int) -> None:
    for ptr in ptrs:
        inst.write_memory(ptr, struct.pack("<I", SENTINEL))


def load_bytes(
    inst: WasmInstance, model: bytes, encoding: int = GraphEncoding.ONNX, target: int = 0
) -> tuple[int, int]:
    """(errno, graph handle or SENTINEL) of ``load``."""
    clear(inst, GRAPH_OUT)
    inst.write_memory(MODEL, model)
    inst.write_memory(BUILDERS, struct.pack("<II", MODEL, len(model)))
    errno = inst.call("load", (BUILDERS, 1, encoding, target, GRAPH_OUT))
    return errno, u32(inst, GRAPH_OUT)


def by_name(inst: WasmInstance, name: str | bytes) -> tuple[int, int]:
    """(errno, graph handle or SENTINEL) of ``load_by_name``."""
    raw = name.encode() if isinstance(name, str) else name
    clear(inst, GRAPH_OUT)
    inst.write_memory(NAME, raw)
    return inst.call("load_by_name", (NAME, len(raw), GRAPH_OUT)), u32(inst, GRAPH_OUT)


def init(inst: WasmInstance, graph: int) -> tuple[int, int]:
    """(errno, context handle or SENTINEL) of ``init_execution_context``."""
    clear(inst, CONTEXT_OUT)
    return inst.call("init", (graph, CONTEXT_OUT)), u32(inst, CONTEXT_OUT)


def set_input(
    inst: WasmInstance,
    context: int,
    index: int,
    array: np.ndarray,
    kind: int = TensorType.F32,
    dims: list[int] | None = None,
    data_len: int | None = None,
) -> int:
    """``set_input`` of ``array`` (type, dims and length may be overridden to lie)."""
    dims = list(array.shape) if dims is None else dims
    data = np.ascontiguousarray(array).tobytes()
    inst.write_memory(DIMS, struct.pack(f"<{len(dims)}I", *dims))
    inst.write_memory(INPUT, data)
    length = len(data) if data_len is None else data_len
    tensor = struct.pack("<IIB3xII", DIMS, len(dims), kind, INPUT, length)
    inst.write_memory(TENSOR, tensor)
    result: int = inst.call("set_input", (context, index, TENSOR))
    return result


def get_output(inst: WasmInstance, context: int, index: int, size: int) -> tuple[int, bytes]:
    """(errno, the bytes written) of ``get_output`` into a buffer of ``size``."""
    clear(inst, WRITTEN)
    errno = inst.call("get_output", (context, index, OUTPUT, size, WRITTEN))
    written = u32(inst, WRITTEN)
    return errno, inst.read_memory(OUTPUT, written) if errno == OK else b""


def affine_run(inst: WasmInstance, graph: int, x: list[float]) -> np.ndarray:
    assert init(inst, graph)[0] == OK
    context = u32(inst, CONTEXT_OUT)
    assert set_input(inst, context, 0, np.array([x], dtype=np.float32)) == OK
    assert inst.call("compute", (context,)) == OK
    errno, data = get_output(inst, context, 0, 64)
    assert errno == OK
    return np.frombuffer(data, dtype="<f4")


# -- every call -----------------------------------------------------------------------------


def test_load_onnx_bytes_then_compute(make: Make, registry: ModelRegistry) -> None:
    inst = make()
    errno, graph = load_bytes(inst, affine_model())
    assert (errno, graph) == (OK, 0)
    errno, context = init(inst, graph)
    assert (errno, context) == (OK, 0)
    x = np.array([[1.0, 2.0, -3.5, 0.25]], dtype=np.float32)
    assert set_input(inst, context, 0, x) == OK
    assert inst.call("compute", (context,)) == OK
    errno, data = get_output(inst, context, 0, 1024)
    assert errno == OK and u32(inst, WRITTEN) == 16
    assert np.frombuffer(data, dtype="<f4").tolist() == [3.0, 5.0, -6.0, 1.5]
    # the same bytes again: the same handle; autodetect finds ONNX too
    assert load_bytes(inst, affine_model()) == (OK, 0)
    errno, other = load_bytes(inst, affine_model(10.0, 0.0), GraphEncoding.AUTODETECT)
    assert (errno, other) == (OK, 1)
    assert affine_run(inst, other, [1, 2, 3, 4]).tolist() == [10, 20, 30, 40]
    assert registry.counters.loads == 3 and registry.counters.computes == 2


def test_load_by_name_of_a_configured_onnx_model(make: Make, registry: ModelRegistry) -> None:
    inst = make()
    errno, graph = by_name(inst, "affine")
    assert (errno, graph) == (OK, 0)
    assert by_name(inst, "affine") == (OK, 0)  # loaded once per instance
    assert affine_run(inst, graph, [0, 1, 2, 3]).tolist() == [1, 3, 5, 7]
    parsed = registry.models["affine"].graph
    other = make(deployment="e")
    assert by_name(other, "affine") == (OK, 0)  # handles are per instance
    assert affine_run(other, 0, [5, 5, 5, 5]).tolist() == [11] * 4
    assert registry.models["affine"].graph is parsed  # parsed once for every instance


def test_two_inputs_a_dynamic_batch_and_an_int64_output(make: Make) -> None:
    inst = make()
    _, graph = by_name(inst, "two")
    _, context = init(inst, graph)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[1, 1, 1], [2, 2, 2]], dtype=np.float32)
    assert set_input(inst, context, 0, a) == OK
    assert inst.call("compute", (context,)) == Errno.INVALID_ARGUMENT  # B is not set
    assert set_input(inst, context, 1, b) == OK
    assert inst.call("compute", (context,)) == OK
    errno, diff = get_output(inst, context, 0, 1024)
    assert errno == OK
    assert np.frombuffer(diff, "<f4").reshape(2, 3).tolist() == (a - b).tolist()
    errno, cast = get_output(inst, context, 1, 1024)
    assert errno == OK
    assert np.frombuffer(cast, "<i8").tolist() == [1, 1, 1, 2, 2, 2]
    # a batch of 1 on the same context
    assert set_input(inst, context, 0, a[:1]) == OK
    assert set_input(inst, context, 1, b[:1]) == OK
    assert inst.call("compute", (context,)) == OK
    assert np.frombuffer(get_output(inst, context, 0, 1024)[1], "<f4").tolist() == [-1, 0, 1]


def face_input(photo: str) -> np.ndarray:
    image = Image.open(DATA / photo).convert("RGB").resize((128, 128), Image.Resampling.BILINEAR)
    return (np.asarray(image, dtype=np.float32) / 127.5 - 1.0)[None]


def test_bundled_blazeface_by_name(make: Make, registry: ModelRegistry) -> None:
    assert bundled_face_model() is not None
    assert registry.models["face"].origin == "bundled"
    inst = make()
    errno, graph = by_name(inst, "face")
    assert errno == OK
    assert registry.status()["models"][1]["inputs"] == [
        {"name": "input", "dtype": "float32", "shape": [1, 128, 128, 3]}
    ]
    best = {}
    for photo in ("astronaut.jpg", "coffee.jpg"):
        _, context = init(inst, graph)
        assert set_input(inst, context, 0, face_input(photo)) == OK
        assert inst.call("compute", (context,)) == OK
        errno, boxes = get_output(inst, context, 0, 896 * 16 * 4)
        assert errno == OK and len(boxes) == 896 * 16 * 4
        errno, scores = get_output(inst, context, 1, 896 * 4)
        assert errno == OK and len(scores) == 896 * 4
        logits = np.frombuffer(scores, "<f4").clip(-80, 80)
        best[photo] = float((1 / (1 + np.exp(-logits))).max())
    assert best["astronaut.jpg"] > 0.75, best  # a face
    assert best["coffee.jpg"] < 0.5, best  # a cup of coffee


def test_load_tflite_bytes_through_memory(make: Make) -> None:
    face = bundled_face_model()
    assert face is not None
    inst = make()
    for encoding in (GraphEncoding.TENSORFLOWLITE, GraphEncoding.AUTODETECT):
        errno, graph = load_bytes(inst, face.read_bytes(), encoding)
        assert (errno, graph) == (OK, 0)  # the same bytes: the same graph
    _, context = init(inst, 0)
    assert set_input(inst, context, 0, face_input("astronaut.jpg")) == OK
    assert inst.call("compute", (context,)) == OK
    assert get_output(inst, context, 1, 896 * 4)[0] == OK


# -- refusals: error codes, never a crash -------------------------------------------------


def test_unknown_names_and_bad_loads(make: Make, model_dir: Path) -> None:
    inst = make()
    assert by_name(inst, "nothere") == (Errno.NOT_FOUND, SENTINEL)
    assert by_name(inst, b"\xff\xfe") == (Errno.INVALID_ARGUMENT, SENTINEL)
    assert inst.call("load_by_name", (NAME, 0, GRAPH_OUT)) == Errno.INVALID_ARGUMENT
    garbage = b"\x08\x07garbage, not a model" * 10
    assert load_bytes(inst, garbage) == (Errno.INVALID_ARGUMENT, SENTINEL)
    assert load_bytes(inst, garbage, GraphEncoding.TENSORFLOWLITE)[0] == Errno.INVALID_ARGUMENT
    assert load_bytes(inst, garbage, GraphEncoding.AUTODETECT)[0] == Errno.INVALID_ARGUMENT
    model = affine_model()
    for encoding in (GraphEncoding.OPENVINO, GraphEncoding.PYTORCH, GraphEncoding.GGML, 99):
        assert load_bytes(inst, model, encoding)[0] == Errno.INVALID_ENCODING, encoding
    assert load_bytes(inst, model, target=1)[0] == Errno.UNSUPPORTED_OPERATION  # gpu
    assert load_bytes(inst, model, target=2)[0] == Errno.UNSUPPORTED_OPERATION  # tpu
    assert load_bytes(inst, model, target=3)[0] == Errno.INVALID_ARGUMENT
    assert inst.call("load", (BUILDERS, 2, 1, 0, GRAPH_OUT)) == Errno.INVALID_ARGUMENT
    assert inst.call("load", (BUILDERS, 0, 1, 0, GRAPH_OUT)) == Errno.INVALID_ARGUMENT
    inst.write_memory(BUILDERS, struct.pack("<II", MODEL, 64 * MiB + 1))  # never read
    assert inst.call("load", (BUILDERS, 1, 1, 0, GRAPH_OUT)) == Errno.TOO_LARGE
    # a device model whose file does not parse is not offered
    broken = ModelRegistry({"broken": model_dir / "broken.onnx"})
    broken.preload()
    assert broken.offered() == ["face"]
    assert "ONNX Runtime cannot load it" in (broken.models["broken"].error or "")
    assert by_name(make(nn=broken), "broken")[0] == Errno.NOT_FOUND
    # without preload (what a supervisor does) it is offered until its first load fails
    lazy = ModelRegistry({"broken": model_dir / "broken.onnx"})
    assert lazy.offered() == ["broken", "face"]
    assert by_name(make(nn=lazy), "broken")[0] == Errno.RUNTIME_ERROR
    assert lazy.offered() == ["face"] and "ONNX Runtime cannot load it" in (
        lazy.models["broken"].error or ""
    )
    assert by_name(make(nn=lazy), "broken")[0] == Errno.NOT_FOUND
    assert load_bytes(inst, model) == (OK, 0)  # and the instance still works


def test_bad_handles_tensors_and_buffers(make: Make, registry: ModelRegistry) -> None:
    inst = make()
    _, graph = by_name(inst, "affine")
    assert init(inst, graph + 1) == (Errno.INVALID_ARGUMENT, SENTINEL)
    assert init(inst, -1) == (Errno.INVALID_ARGUMENT, SENTINEL)
    _, context = init(inst, graph)
    x = np.ones((1, 4), dtype=np.float32)
    bad = Errno.INVALID_ARGUMENT
    assert set_input(inst, context + 7, 0, x) == bad  # no such context
    assert set_input(inst, context, 1, x) == bad  # the model has one input
    assert set_input(inst, context, 0, x.astype(np.uint8), kind=TensorType.U8) == bad
    assert set_input(inst, context, 0, x.astype(np.float64), kind=TensorType.F64) == bad
    assert set_input(inst, context, 0, x, kind=TensorType.I32) == bad  # right size, wrong type
    assert set_input(inst, context, 0, x, kind=77) == bad  # not a tensor type
    assert set_input(inst, context, 0, np.ones((1, 5), np.float32)) == bad  # wrong shape
    assert set_input(inst, context, 0, np.ones((4,), np.float32)) == bad  # wrong rank
    assert set_input(inst, context, 0, np.ones((2, 4), np.float32)) == bad  # static batch
    assert set_input(inst, context, 0, x, data_len=12) == bad  # too few bytes
    assert set_input(inst, context, 0, x, data_len=20) == bad  # too many bytes
    assert set_input(inst, context, 0, x, dims=[1] * 40) == bad  # rank checked first
    assert get_output(inst, context, 0, 64)[0] == bad  # nothing computed yet
    assert inst.call("compute", (context + 7,)) == bad
    assert set_input(inst, context, 0, x) == OK
    assert inst.call("compute", (context,)) == OK
    assert get_output(inst, context, 1, 64)[0] == bad  # one output
    assert get_output(inst, context + 7, 0, 64)[0] == bad
    inst.write_memory(OUTPUT, b"\x55" * 16)
    assert get_output(inst, context, 0, 15) == (Errno.TOO_LARGE, b"")
    assert u32(inst, WRITTEN) == SENTINEL and inst.read_memory(OUTPUT, 16) == b"\x55" * 16
    assert get_output(inst, context, 0, 16)[0] == OK  # exactly enough
    # pointers outside memory trap, like every host function, and the instance lives on
    end = inst.memory_bytes()
    for export, args in [
        ("set_input", (context, 0, end - 8)),
        ("load_by_name", (end - 2, 6, GRAPH_OUT)),
        ("init", (graph, end)),
        ("get_output", (context, 0, end - 4, 16, WRITTEN)),
    ]:
        with pytest.raises(ExecutionFailed, match=rf"{NN}\.\w+ failed: guest range"):
            inst.call(export, args)
    assert affine_run(inst, graph, [1, 1, 1, 1]).tolist() == [3.0] * 4
    status = registry.status()["counters"]
    assert status["errors"] >= 17 and "get_output" in status["last_error"]


def test_contexts_beyond_the_limit_drop_the_oldest(make: Make) -> None:
    inst = make()
    _, graph = by_name(inst, "affine")
    handles = [init(inst, graph)[1] for _ in range(MAX_CONTEXTS + 1)]
    assert handles == list(range(MAX_CONTEXTS + 1))
    x = np.ones((1, 4), np.float32)
    assert set_input(inst, handles[0], 0, x) == Errno.INVALID_ARGUMENT  # dropped
    assert set_input(inst, handles[-1], 0, x) == OK


def test_an_instance_state_goes_with_it(make: Make, registry: ModelRegistry) -> None:
    inst = make()
    assert by_name(inst, "affine")[0] == OK
    assert len(registry._sessions) == 1
    del inst
    gc.collect()
    assert len(registry._sessions) == 0


# -- models of a deployment -----------------------------------------------------------------


def test_deployment_files_are_models_of_that_deployment_only(
    make: Make, registry: ModelRegistry, model_dir: Path
) -> None:
    registry.deployment_installed(
        "dep", {"m": {"triple.onnx": model_dir / "triple.onnx", "notes.txt": model_dir}}
    )
    own, sibling, stranger = make("dep", "m"), make("dep", "other"), make("elsewhere", "m")
    for inst in (own, sibling):
        errno, graph = by_name(inst, "triple")
        assert errno == OK
        assert affine_run(inst, graph, [1, 2, 3, 4]).tolist() == [3, 6, 9, 12]
    assert by_name(stranger, "triple")[0] == Errno.NOT_FOUND
    assert by_name(own, "notes")[0] == Errno.NOT_FOUND
    assert registry.status()["deployment_models"] == {"dep": ["triple"]}
    registry.deployment_removed("dep")
    assert by_name(make("dep", "m"), "triple")[0] == Errno.NOT_FOUND


# -- availability -------------------------------------------------------------------------


def test_without_backends_nothing_is_offered(
    make: Make, engine: WasmEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nn_backends, "available_backends", lambda: ())
    devices = HostDevices(None, None)
    assert devices.nn is not None and devices.nn.backends == ()
    assert "nn" in devices.lacking and devices.nn.advertised() == {"backends": [], "models": []}
    bare, qualified = offered_interfaces(devices.lacking)
    assert not [q for q in qualified if q.startswith(NN)] and "load_by_name" not in bare
    compiled = engine.compile(bytes(wasmtime.wat2wasm(GUEST)))
    missing = missing_imports(compiled.imports, devices.lacking)
    assert len(missing) == 6
    assert missing[1] == (
        f"{NN}.load_by_name (i32, i32, i32) -> (i32) (this device has no WASI-NN backend "
        "(install ONNX Runtime and LiteRT there: pip install 'wasmfleet[nn]'): it offers no "
        f"{NN}.* functions)"
    )
    with pytest.raises(InvalidWasm):  # never linked where not offered
        make(nn=devices.nn)
    with_onnx = HostDevices(None, None, nn=ModelRegistry(backends=("onnx",)))
    assert "nn" not in with_onnx.lacking
    assert missing_imports(compiled.imports, with_onnx.lacking) == []
    assert with_onnx.nn is not None and "face" not in with_onnx.nn.models  # it needs LiteRT


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_a_supervisor_without_backends_refuses_the_module(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    from wasmfleet.supervisor.app import create_app
    from wasmfleet.supervisor.settings import SupervisorSettings

    monkeypatch.setattr(nn_backends, "available_backends", lambda: ())
    settings = SupervisorSettings(
        name="no-nn", host="127.0.0.1", port=5999, data_dir=tmp_path / "data", mdns=False,
        camera="none", heartbeat_interval_s=0,
    )  # fmt: skip
    with FileServer(tmp_path) as files, TestClient(create_app(settings)) as client:
        binary = files.add("nn.wasm", bytes(wasmtime.wat2wasm(GUEST)))
        described = client.get("/.well-known/wasmiot-device-description").json()
        assert described["wasmfleet"]["nn"] == {"backends": [], "models": []}
        assert not [i for i in described["wasmfleet"]["interfaces"] if i.startswith(NN)]
        answer = client.post("/deploy", json=deploy_body("nn1", binary, ["infer"]))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "missing_imports"
        assert "pip install 'wasmfleet[nn]'" in error["message"]


# -- a real supervisor --------------------------------------------------------------------


def infer_function(name: str, model: str, offset: int) -> str:
    """WAT for ``name(x f32) -> f32``: model(x, x, x, x)[0], or -errno on a refusal; the
    model's name is kept at ``offset``."""
    fail = "(then (return (f32.convert_i32_s (i32.sub (i32.const 0) (local.get $e)))))"
    return f"""
  (data (i32.const {offset}) "{model}")
  (func (export "{name}") (param $x f32) (result f32) (local $e i32) (local $c i32)
    (local.set $e (call $by_name (i32.const {offset}) (i32.const {len(model)}) (i32.const 16)))
    (if (local.get $e) {fail})
    (local.set $e (call $init (i32.load (i32.const 16)) (i32.const 20)))
    (if (local.get $e) {fail})
    (local.set $c (i32.load (i32.const 20)))
    (f32.store (i32.const 1024) (local.get $x)) (f32.store (i32.const 1028) (local.get $x))
    (f32.store (i32.const 1032) (local.get $x)) (f32.store (i32.const 1036) (local.get $x))
    (i32.store (i32.const 64) (i32.const 1)) (i32.store (i32.const 68) (i32.const 4))
    (i32.store (i32.const 96) (i32.const 64)) (i32.store (i32.const 100) (i32.const 2))
    (i32.store (i32.const 104) (i32.const 1)) (i32.store (i32.const 108) (i32.const 1024))
    (i32.store (i32.const 112) (i32.const 16))
    (local.set $e (call $set_input (local.get $c) (i32.const 0) (i32.const 96)))
    (if (local.get $e) {fail})
    (local.set $e (call $compute (local.get $c)))
    (if (local.get $e) {fail})
    (local.set $e (call $get_output (local.get $c) (i32.const 0) (i32.const 2048)
                                    (i32.const 16) (i32.const 24)))
    (if (local.get $e) {fail})
    (f32.load (i32.const 2048)))"""


INFER = f"""(module
  (import "{NN}" "load_by_name" (func $by_name (param i32 i32 i32) (result i32)))
  (import "{NN}" "init_execution_context" (func $init (param i32 i32) (result i32)))
  (import "{NN}" "set_input" (func $set_input (param i32 i32 i32) (result i32)))
  (import "{NN}" "compute" (func $compute (param i32) (result i32)))
  (import "{NN}" "get_output" (func $get_output (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  {infer_function("infer", "affine", 256)}
  {infer_function("infer_file", "triple", 288)}
  {infer_function("infer_missing", "nothere", 320)})"""


def deploy_body(
    dep_id: str, binary: str, functions: list[str], other: list[str] | None = None
) -> dict[str, Any]:
    f32 = {"type": "number", "format": "float"}
    operation = {
        "parameters": [{"name": "x", "in": "query", "required": True, "schema": f32}],
        "responses": {"200": {"content": {"application/json": {"schema": f32}}}},
    }
    return {
        "deploymentId": dep_id,
        "modules": [{"id": dep_id, "name": "nn", "urls": {"binary": binary, "other": other or []}}],
        "instructions": {
            "modules": {
                "nn": {f: {"paths": {"": {"get": operation}}, "to": None} for f in functions}
            }
        },
    }


def test_a_supervisor_offers_its_models(
    start_supervisor: Callable[..., SupervisorProcess], tmp_path: Path, model_dir: Path
) -> None:
    sup = start_supervisor(
        "nn-dev", args=["--nn-model", f"affine={model_dir / 'affine.onnx'}", "--camera", "none"]
    )
    described = sup.get("/.well-known/wasmiot-device-description").json()
    assert f"{NN}.load_by_name" in described["wasmfleet"]["interfaces"]
    assert "load_by_name" in described["supervisorInterfaces"]
    assert described["wasmfleet"]["nn"] == {
        "backends": ["onnx", "tflite"],
        "models": ["affine", "face"],
    }
    nn = sup.get("/api/v1/status").json()["nn"]
    assert nn["backends"] == ["onnx", "tflite"]
    affine = next(m for m in nn["models"] if m["name"] == "affine")
    assert affine["backend"] == "onnx" and affine["file"].endswith("affine.onnx")
    # offered, not parsed: models (and their backends) load on first use, never at start
    assert [(m["name"], m["loaded"]) for m in nn["models"]] == [("affine", False), ("face", False)]
    assert "inputs" not in affine

    with FileServer(tmp_path / "served") as files:
        binary = files.add("infer.wasm", bytes(wasmtime.wat2wasm(INFER)))
        triple = files.add("triple.onnx", affine_model(3.0, 0.0))
        functions = ["infer", "infer_file", "infer_missing"]
        answer = sup.deploy(deploy_body("nn-a", binary, functions, [triple]))
        assert answer.status_code == 200, answer.text
        assert sup.deploy(deploy_body("nn-b", binary, functions)).status_code == 200

    def call(path: str) -> float:
        answer = sup.get(path)
        assert answer.status_code == 200, answer.text
        return float(answer.json()["result"])

    assert call("/nn-a/modules/nn/infer?x=2") == 5.0
    assert call("/nn-a/modules/nn/infer?x=4") == 9.0
    assert call("/nn-a/modules/nn/infer_file?x=2") == 6.0  # the deployment's triple.onnx
    assert call("/nn-b/modules/nn/infer_file?x=2") == -Errno.NOT_FOUND  # not nn-b's
    assert call("/nn-a/modules/nn/infer_missing?x=2") == -Errno.NOT_FOUND
    assert call("/nn-b/modules/nn/infer?x=0.5") == 2.0
    nn = sup.get("/api/v1/status").json()["nn"]
    affine = next(m for m in nn["models"] if m["name"] == "affine")
    assert affine["loaded"] is True
    assert affine["inputs"] == [{"name": "X", "dtype": "float32", "shape": [1, 4]}]
    face = next(m for m in nn["models"] if m["name"] == "face")
    assert face["loaded"] is False and "outputs" not in face  # nothing loaded it
    assert nn["deployment_models"] == {"nn-a": ["triple"]}
    assert nn["counters"]["computes"] == 4 and nn["counters"]["loads"] == 4
    assert nn["counters"]["errors"] == 2 and "nothere" in nn["counters"]["last_error"]

    sup.stop()  # restored deployments keep their model files
    again = start_supervisor("nn-dev", args=["--camera", "none"])
    assert again.get("/api/v1/status").json()["nn"]["deployment_models"] == {"nn-a": ["triple"]}
    assert float(again.get("/nn-a/modules/nn/infer_file?x=1").json()["result"]) == 3.0
    assert float(again.get("/nn-a/modules/nn/infer?x=1").json()["result"]) == -Errno.NOT_FOUND


def test_a_bad_model_option_stops_the_supervisor_with_a_sentence(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "model.pb").write_bytes(b"x")
    for model, sentence in [
        (f"m={tmp_path / 'model.pb'}", "must end in .onnx (ONNX Runtime) or .tflite"),
        (f"m={tmp_path / 'gone.onnx'}", "there is no such file"),
        ("just-a-path.onnx", "must look like NAME=PATH"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "wasmfleet", "supervisor", "--nn-model", model],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert sentence in done.stderr
