"""Rust modules: the guest crate, toolchain_rust with Debian's rustc, the scaffold and the two
worked examples of docs/module-authors.md, built here and run on real supervisors.

Needs Debian's ``rustc libstd-rust-dev-wasm32`` (``./run test`` installs them); hot needs
Mosquitto. Until ``wasmfleet build`` generates descriptions from the ``@wasmfleet``
declarations (issue 19, part D), the descriptions deployed here are written out below as
those declarations say.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from tests.mqtt import MosquittoProcess
from tests.streams_support import DEAD, broker, listen, publish, wait_subscribed
from tests.support import FileServer, SupervisorProcess
from wasmfleet.authoring import toolchain_rust
from wasmfleet.core.errors import BuildFailed, WasmTrap
from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import FuncSignature, WasmEngine
from wasmfleet.runtime.host.camera import SimulatedCamera, bundled_sample
from wasmfleet.runtime.host.functions import HOST_FUNCTIONS, HostDevices
from wasmfleet.runtime.host.sensors import SimulatedDht
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

__all__ = ["broker", "listen"]  # fixtures

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "src/wasmfleet/authoring/templates/rust"
EXAMPLES = REPO / "modules"
MISSING = toolchain_rust.missing_tools()
NOT_FOR_RUST = {("env", "abort")}
"""Host functions with no Rust binding: AssemblyScript's abort (its runtime calls it)."""
pytestmark = pytest.mark.skipif(bool(MISSING), reason=" ".join(MISSING))

CARGO_TOML = """[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[lib]
crate-type = ["cdylib"]

[dependencies]
wasmfleet = "0.1"
"""

# Calls every binding of the crate, so that the module imports every host function.
EVERYTHING = r"""
use wasmfleet::{camera, communication, dht, image, mqtt, nn, qoa, sys, things};

wasmfleet::export_alloc!();

#[no_mangle]
pub extern "C" fn everything(choice: i32) -> i32 {
    match choice {
        0 => sys::millis(),
        1 => {
            sys::delay(1);
            sys::print("a");
            sys::println("b");
            sys::print_int(3);
            wasmfleet::log!("{}", 4);
            0
        }
        2 => camera::take_image().len() as i32 + camera::take_image_into(&mut [0u8; 8]) as i32,
        3 => (dht::temperature() + dht::humidity()) as i32,
        4 => communication::rpc_call("m", "f", &mut [0u8; 4]).map_or(1, |_| 0),
        5 => mqtt::publish("t", b"x", 1).map_or(1, |_| 0)
            + mqtt::message_topic().map_or(0, |t| t.len() as i32),
        6 => image::decode(b"x", 3, 0).map_or(1, |i| i.width as i32)
            + image::encode(&[0u8; 3], 1, 1, 3, 0).map_or(1, |j| j.len() as i32),
        7 => qoa::report(1.0, 0.5).map_or(1, |_| 0),
        8 => things::read("a").map_or(1, |t| t.len() as i32)
            + things::send("b", "{}").map_or(1, |_| 0)
            + things::param("c").map_or(1, |t| t.len() as i32),
        9 => nn::load(&[b"m"], nn::Encoding::Onnx, nn::Target::Cpu).map_or(1, |g| g.0 as i32),
        _ => {
            let run = || -> Result<usize, nn::NnError> {
                let context = nn::load_by_name("face")?.context()?;
                context.set_input(0, nn::TensorType::F32, &[1], &[0u8; 4])?;
                context.compute()?;
                context.get_output(0, &mut [0u8; 4])
            };
            run().map_or(-1, |n| n as i32)
        }
    }
}
"""

# What the runtime tests call: the camera, images, files, sensors, parameters, QoA, bytes
# (MQTT is tested with hot and a real broker).
DEVICES = r"""
use wasmfleet::{camera, dht, image, qoa, things};

wasmfleet::export_alloc!();

#[no_mangle]
pub extern "C" fn picture_len() -> i32 { camera::take_image().len() as i32 }

#[no_mangle]
pub extern "C" fn picture_prefix(room: i32) -> i32 {
    let mut buffer = vec![0u8; room as usize];
    camera::take_image_into(&mut buffer) as i32
}

#[no_mangle]
pub extern "C" fn humidity() -> f32 { dht::humidity() }

#[no_mangle]
pub extern "C" fn file_len() -> i32 {
    std::fs::read("input.txt").map_or(-1, |data| data.len() as i32)
}

#[no_mangle]
pub extern "C" fn param_code() -> i32 {
    things::param("threshold").map_or_else(|e| e.code(), |_| 0)
}

#[no_mangle]
pub extern "C" fn qoa(confidence: f32) -> i32 {
    qoa::report(12.5, confidence).map_or_else(|c| c, |_| 0)
}

#[no_mangle]
pub extern "C" fn divide(a: i32, b: i32) -> i32 {
    if b == 0 { panic!("divide({}, 0)", a) }
    a / b
}

wasmfleet::bytes_fn!(thumbnail);

/// A JPEG in; a grey JPEG at most 16 pixels a side out; not an image: rejected with -4.
fn thumbnail(jpeg: &[u8]) -> Result<Vec<u8>, i32> {
    let small = image::decode(jpeg, 1, 16).map_err(|_| -4)?;
    assert_eq!(small.pixels.len() as u32, small.width * small.height);
    image::encode(&small.pixels, small.width, small.height, 1, 80).map_err(|e| e.code())
}

wasmfleet::bytes_fn!(echo => echo_all);

fn echo_all(data: &[u8]) -> Vec<u8> { data.to_vec() }
"""


def make_crate(folder: Path, name: str, source: str) -> Path:
    """A module folder holding ``source`` as src/lib.rs."""
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "lib.rs").write_text(source)
    (folder / "Cargo.toml").write_text(CARGO_TOML.format(name=name))
    return folder


def scaffold(target: Path, name: str) -> Path:
    """The Rust scaffold for ``name``, as ``wasmfleet new NAME --lang rust`` copies it."""
    for path in sorted(p for p in TEMPLATE.rglob("*") if p.is_file()):
        relative = path.relative_to(TEMPLATE).as_posix()
        relative = relative.replace("__IDENT__", name).replace("__NAME__", name)
        out = target / relative.removesuffix(".tmpl")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(path.read_text().replace("__IDENT__", name).replace("__NAME__", name))
    return target


def build(folder: Path, name: str) -> Path:
    """``folder`` built by toolchain_rust: its build/NAME.wasm."""
    out = folder / "build" / f"{name}.wasm"
    toolchain_rust.build(folder, name, out, log=lambda line: None)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The scaffold, both examples and the two test crates, built once for this file."""
    root = tmp_path_factory.mktemp("rust")
    folders = {
        "greeter": scaffold(root / "greeter", "greeter"),
        "alarm": shutil.copytree(EXAMPLES / "alarm" / "rust", root / "alarm"),
        "hot": shutil.copytree(EXAMPLES / "hot" / "rust", root / "hot"),
        "everything": make_crate(root / "everything", "everything", EVERYTHING),
        "devices": make_crate(root / "devices", "devices", DEVICES),
    }
    return {name: build(folder, name) for name, folder in folders.items()}


def exports(wasm: Path) -> dict[str, Any]:
    """Export name -> type of a module."""
    module = wasmtime.Module(wasmtime.Engine(), wasm.read_bytes())
    return {e.name: e.type for e in module.exports}


def signature(func: wasmtime.FuncType) -> FuncSignature:
    return FuncSignature(tuple(str(t) for t in func.params), tuple(str(t) for t in func.results))


def test_every_host_function_has_a_binding_with_its_signature(built: dict[str, Path]) -> None:
    module = wasmtime.Module(wasmtime.Engine(), built["everything"].read_bytes())
    imported = {
        (i.module, i.name): signature(i.type)
        for i in module.imports
        if isinstance(i.type, wasmtime.FuncType) and i.module != "wasi_snapshot_preview1"
    }
    offered = {(f.module, f.name): f.variants for f in HOST_FUNCTIONS}
    assert set(imported) == set(offered) - NOT_FOR_RUST
    for key, sig in imported.items():
        assert sig in offered[key], (key, sig, list(offered[key]))


def test_modules_are_reactors(built: dict[str, Path]) -> None:
    for name, wasm in built.items():
        found = exports(wasm)
        assert isinstance(found.get("_initialize"), wasmtime.FuncType), name
        assert isinstance(found.get("memory"), wasmtime.MemoryType), name
        assert "_start" not in found, name
    # alloc only where asked for (export_alloc!): alarm has no bytes function
    assert "alloc" not in exports(built["alarm"])
    assert signature(exports(built["hot"])["hot"]) == FuncSignature(("i32", "i32"), ("i64",))


@pytest.fixture
def instance(built: dict[str, Path], tmp_path: Path) -> Iterator[WasmInstance]:
    """The devices module on the supervisor's runtime: simulated camera and DHT, Pillow."""
    engine = WasmEngine(RuntimeLimits(call_timeout_s=5.0, memory_limit_bytes=64 * MiB))
    compiled = engine.compile(built["devices"].read_bytes())
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "input.txt").write_text("twelve bytes")
    devices = HostDevices(SimulatedCamera(), SimulatedDht(21.5, 40.25))
    yield WasmInstance(engine, compiled, workdir, devices, deployment="d", module="devices")
    engine.close()


def test_bindings_on_the_runtime(instance: WasmInstance) -> None:
    sample = bundled_sample()
    assert instance.call("picture_len", ()) == len(sample)
    assert instance.call("picture_prefix", (100,)) == 100
    assert instance.call("humidity", ()) == 40.25
    assert instance.call("file_len", ()) == 12  # WASI preopens: _initialize ran
    assert instance.call("param_code", ()) == -1  # no app install: unbound
    assert instance.call("qoa", (0.5,)) == 0
    assert instance.call("qoa", (1.5,)) == -1  # confidence over 1
    with pytest.raises(WasmTrap, match="unreachable"):  # a panic aborts the call...
        instance.call("divide", (7, 0))
    assert instance.call("divide", (7, 2)) == 3  # ...and the instance goes on


def test_images_and_the_bytes_abi(instance: WasmInstance) -> None:
    from PIL import Image

    thumb = call_with_bytes(instance, "thumbnail", bundled_sample(), None)
    picture = Image.open(io.BytesIO(thumb))
    assert picture.format == "JPEG" and picture.mode == "L"
    assert max(picture.size) == 16
    with pytest.raises(Exception, match=r"rejected its input \(error code -4\)"):
        call_with_bytes(instance, "thumbnail", b"not a picture", None)
    assert call_with_bytes(instance, "echo", b"", None) is None  # empty in: no output
    # A (ptr, len) that alloc did not hand out is refused, nothing is freed.
    assert instance.call("echo", (8, 3)) == -1000
    # Input buffers are freed and outputs replaced: memory stays put over many calls.
    payload = bytes(range(256)) * 64
    for _ in range(50):
        assert call_with_bytes(instance, "echo", payload, None) == payload
    settled = instance.memory_bytes()
    for _ in range(500):
        assert call_with_bytes(instance, "echo", payload, None) == payload
    assert instance.memory_bytes() == settled


# -- the worked examples and the scaffold on real supervisors ------------------------------


def operation(summary: str, params: list[tuple[str, str]], result: str) -> dict[str, Any]:
    """A GET operation of query parameters (name, OpenAPI type) and a scalar result."""
    return {
        "get": {
            "summary": summary,
            "parameters": [
                {"name": n, "in": "query", "required": True, "schema": {"type": t}}
                for n, t in params
            ],
            "responses": {"200": {"content": {"application/json": {"schema": {"type": result}}}}},
            "x-mounts": [],
        }
    }


def bytes_operation(summary: str, media_in: str, media_out: str) -> dict[str, Any]:
    """A POST operation of the bytes ABI (the declarations' ``param X bytes MEDIA``)."""
    return {
        "post": {
            "summary": summary,
            "parameters": [],
            "requestBody": {
                "required": True,
                "content": {media_in: {"schema": {"type": "string"}}},
            },
            "responses": {"200": {"content": {media_out: {"schema": {"type": "string"}}}}},
            "x-mounts": [],
            "x-bytes": {"input": media_in, "output": media_out},
            "x-wasmfleet-abi": "bytes",
        }
    }


def describe(title: str, operations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An OpenAPI description with one path per function."""
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0.0"},
        "paths": {f"/{{deployment}}/modules/{{module}}/{f}": op for f, op in operations.items()},
    }


DESCRIPTIONS = {
    "alarm": describe(
        "alarm",
        {
            "check": operation(
                "1 when the temperature is above the limit.", [("limit", "number")], "integer"
            ),
            "highest": operation("The highest temperature seen so far.", [], "number"),
        },
    ),
    "hot": describe(
        "hot",
        {
            "hot": bytes_operation(
                "An alert (JSON) when a reading is over 30 °C; anything but a number is rejected.",
                "text/plain",
                "application/json",
            )
        },
    ),
    "greeter": describe(
        "greeter",
        {
            "fahrenheit": operation(
                "Degrees Fahrenheit of a temperature in degrees Celsius.",
                [("celsius", "number")],
                "number",
            ),
            "shout": bytes_operation(
                "The text it is given, in upper case (at most 64 KiB).", "text/plain", "text/plain"
            ),
        },
    ),
}


@pytest.fixture(scope="module")
def served(
    built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FileServer]:
    """The built modules and their descriptions over HTTP."""
    with FileServer(tmp_path_factory.mktemp("served")) as server:
        for name, description in DESCRIPTIONS.items():
            server.add(f"{name}/{name}.wasm", built[name].read_bytes())
            server.add(f"{name}/description.json", json.dumps(description).encode())
        yield server


def deploy_body(files: FileServer, dep_id: str, name: str, **routes: Any) -> dict[str, Any]:
    """A README-shape deploy body; ``routes`` adds instructions (trigger, publish) per function."""
    body: dict[str, Any] = {
        "deploymentId": dep_id,
        "modules": [
            {
                "id": name,
                "name": name,
                "urls": {
                    "binary": files.url(f"{name}/{name}.wasm"),
                    "description": files.url(f"{name}/description.json"),
                },
            }
        ],
    }
    if routes:
        instructions = {f: {"paths": {"": {"get": {}}}, **r} for f, r in routes.items()}
        body["instructions"] = {"modules": {name: instructions}}
    return body


def result(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def test_alarm_on_a_supervisor(served: FileServer, start_supervisor: Any) -> None:
    sup: SupervisorProcess = start_supervisor(env={"WASMFLEET_DHT_TEMPERATURE": "23.5"})
    answer = sup.deploy(deploy_body(served, "lab", "alarm"))
    assert answer.status_code == 200, answer.text
    assert result(sup.get("/lab/modules/alarm/highest")) == "-1000.0"  # nothing seen yet
    assert result(sup.get("/lab/modules/alarm/check?limit=25")) == "0"
    assert result(sup.get("/lab/modules/alarm/check?limit=20")) == "1"
    assert result(sup.get("/lab/modules/alarm/highest")) == "23.5"  # state kept
    refused = sup.get("/lab/modules/alarm/check?limit=warm")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_argument"


def test_hot_through_mqtt(
    served: FileServer, start_supervisor: Any, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen("alerts/#", "audit/#", f"{DEAD}/#")
    sup: SupervisorProcess = start_supervisor("lab-1", args=["--broker", broker.url])
    route = {
        "trigger": {"topic": "site/+/temperature", "qos": 1},
        "publish": {"topic": "alerts/temperature"},
    }
    answer = sup.deploy(deploy_body(served, "lab", "hot", hot=route))
    assert answer.status_code == 200, answer.text
    wait_subscribed(sup, "site/+/temperature")

    publish(broker.url, "site/lab/temperature", "31.5")
    publish(broker.url, "site/lab/temperature", "21")  # not over the limit: no output
    publish(broker.url, "site/lab/temperature", "warm")  # rejected: dead-lettered
    publish(broker.url, 'site/"q"/temperature', "40")  # the topic is escaped in the JSON

    [(_, dead)] = out.wait(DEAD, 1)
    letter = json.loads(dead)
    assert letter["payload"] == "warm" and letter["error"]["code"] == "rejected"
    assert letter["error"]["message"] == "hot.hot rejected its input (error code -1)."
    alerts = out.wait("alerts/", 2)
    audits = out.wait("audit/", 2)
    expected = [
        {"topic": "site/lab/temperature", "celsius": 31.5},
        {"topic": 'site/"q"/temperature', "celsius": 40},
    ]
    assert [json.loads(p) for _, p in alerts] == expected
    assert [(t, json.loads(p)) for t, p in audits] == [("audit/hot", e) for e in expected]
    assert alerts[0][1] == b'{"topic":"site/lab/temperature","celsius":31.5}'
    history = [e for e in sup.get("/request-history").json() if e["function_name"] == "hot"]
    assert [e["success"] for e in history] == [True, True, False, True]
    assert history[1]["result"] is None  # 21: no output, nothing published


def test_scaffold_builds_deploys_and_answers(
    served: FileServer, built: dict[str, Path], start_supervisor: Any, tmp_path: Path
) -> None:
    sup: SupervisorProcess = start_supervisor()
    answer = sup.deploy(deploy_body(served, "lab", "greeter"))
    assert answer.status_code == 200, answer.text
    assert float(result(sup.get("/lab/modules/greeter/fahrenheit?celsius=100"))) == 212.0
    # shout, the bytes function, on the supervisor's runtime (HTTP bodies: issue 19, part E)
    engine = WasmEngine(RuntimeLimits())
    try:
        compiled = engine.compile(built["greeter"].read_bytes())
        inst = WasmInstance(
            engine, compiled, tmp_path, HostDevices(None, None), deployment="d", module="greeter"
        )
        assert call_with_bytes(inst, "shout", b"hello, fleet", None) == b"HELLO, FLEET"
        with pytest.raises(Exception, match=r"error code -1"):
            call_with_bytes(inst, "shout", b"x" * (64 * 1024 + 1), None)
    finally:
        engine.close()


def test_scaffold_tests_pass(tmp_path: Path) -> None:
    pytest.importorskip(
        "wasmfleet.authoring.build", reason="the scaffold's test runs `wasmfleet build` (part D)"
    )
    folder = scaffold(tmp_path / "mine", "mine")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


# The shape of the original wasmiot Rust modules: a bare cdylib, no wasmfleet crate, its own
# alloc, state in a static, files through std::fs. It exports no _initialize: wasm-ld then
# runs the constructors around every export (so WASI finds the preopened directory).
BARE = r"""
use std::sync::atomic::{AtomicI32, Ordering};

static COUNT: AtomicI32 = AtomicI32::new(0);

#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buffer = Vec::with_capacity(len);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr
}

#[no_mangle]
pub extern "C" fn count() -> i32 {
    COUNT.fetch_add(1, Ordering::Relaxed) + 1
}

#[no_mangle]
pub extern "C" fn shout() -> i32 {
    let text = match std::fs::read_to_string("input.txt") {
        Ok(text) => text,
        Err(_) => return -1,
    };
    match std::fs::write("output.txt", text.to_uppercase()) {
        Ok(()) => text.len() as i32,
        Err(_) => -2,
    }
}
"""


def test_a_bare_wasmiot_style_cdylib_deploys_keeps_state_and_uses_files(
    start_supervisor: Any, tmp_path: Path
) -> None:
    rustc = toolchain_rust.find_rustc()
    assert rustc is not None
    (tmp_path / "bare.rs").write_text(BARE)
    wasm = tmp_path / "served" / "bare" / "bare.wasm"
    wasm.parent.mkdir(parents=True)
    subprocess.run(
        [rustc.path, "--edition", "2021", "--target", rustc.target, "--crate-type", "cdylib",
         "-O", "-C", "strip=debuginfo", "-o", str(wasm), str(tmp_path / "bare.rs")],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    assert "_initialize" not in exports(wasm)
    shout = {
        "post": {
            "summary": "output.txt = input.txt in upper case.",
            "parameters": [],
            "requestBody": {
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"input.txt": {"type": "string", "format": "binary"}},
                        },
                        "encoding": {"input.txt": {"contentType": "text/plain"}},
                    }
                }
            },
            "responses": {"200": {"content": {"text/plain": {"schema": {"type": "string"}}}}},
            "x-mounts": [
                {"name": "input.txt", "stage": "execution", "media_type": "text/plain"},
                {"name": "output.txt", "stage": "output", "media_type": "text/plain"},
            ],
        }
    }
    description = describe("bare", {"count": operation("Calls so far.", [], "integer")})
    description["paths"]["/{deployment}/modules/{module}/shout"] = shout
    (wasm.parent / "description.json").write_text(json.dumps(description))
    with FileServer(tmp_path / "served") as files:
        sup: SupervisorProcess = start_supervisor()
        answer = sup.deploy(deploy_body(files, "old", "bare"))
        assert answer.status_code == 200, answer.text
        assert [result(sup.get("/old/modules/bare/count")) for _ in range(3)] == ["1", "2", "3"]
        done = sup.post(
            "/old/modules/bare/shout", files={"input.txt": ("input.txt", b"hi there", "text/plain")}
        )
        assert done.status_code == 200, done.text
        output = sup.get("/old/modules/bare/shout/output.txt")
        assert output.status_code == 200 and output.content == b"HI THERE"


# -- building ------------------------------------------------------------------------------


def test_build_failures_say_where_and_what_to_do(tmp_path: Path) -> None:
    broken = make_crate(tmp_path / "broken", "broken", "pub fn f() -> i32 { 1 + }\n")
    with pytest.raises(BuildFailed) as failed:
        build(broken, "broken")
    assert "src/lib.rs:1" in failed.value.message
    assert failed.value.message.endswith("then build again.")

    no_alloc = make_crate(
        tmp_path / "no_alloc", "no_alloc", "wasmfleet::bytes_fn!(f);\nfn f(_: &[u8]) {}\n"
    )
    with pytest.raises(BuildFailed, match=r"Add `wasmfleet::export_alloc!\(\);` to src/lib.rs"):
        build(no_alloc, "no_alloc")

    with pytest.raises(BuildFailed, match=r"has no src/lib\.rs"):
        build(tmp_path, "empty")


def test_cargo_builds_offline_with_the_config_build_wrote(
    built: dict[str, Path], tmp_path: Path
) -> None:
    cargo = Path("/usr/bin/cargo")
    if not cargo.is_file():
        pytest.skip("Debian's cargo is not installed (apt-get install cargo)")
    folder = shutil.copytree(EXAMPLES / "hot" / "rust", tmp_path / "hot")
    build(folder, "hot")
    config = (folder / ".cargo" / "config.toml").read_text()
    assert config.startswith(toolchain_rust.CARGO_MARKER)
    done = subprocess.run(
        [str(cargo), "build", "--release"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rustc = toolchain_rust.find_rustc()
    assert rustc is not None
    made = folder / "target" / rustc.target / "release" / "hot.wasm"
    assert exports(made).keys() == exports(built["hot"]).keys()


def test_an_authors_own_cargo_config_is_left_alone(tmp_path: Path) -> None:
    folder = make_crate(
        tmp_path / "own", "own", '#[no_mangle]\npub extern "C" fn one() -> i32 { 1 }\n'
    )
    (folder / ".cargo").mkdir()
    (folder / ".cargo" / "config.toml").write_text("[build]\njobs = 1\n")
    lines: list[str] = []
    toolchain_rust.build(folder, "own", folder / "build" / "own.wasm", log=lines.append)
    assert (folder / ".cargo" / "config.toml").read_text() == "[build]\njobs = 1\n"
    assert any("is yours: left as it is" in line for line in lines)
