"""AssemblyScript modules end to end: the scaffold and the two worked examples of
docs/module-authors.md, built with asc (authoring/toolchain_as.py and the guest library
imported as "wasmfleet"), deployed on real supervisors and called over HTTP and MQTT.

Each module is built twice: as written (asc's default abort handler, the ``env.abort``
import), and with ``"use": ["abort=...abortToLog"]`` in asconfig.json (no ``env`` import at
all: aborts are logged through ``sys.println``). The first runs only where the supervisor
offers ``env.abort``; the examples run once on a supervisor, as written when it can.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.streams_support import DEAD, Listener, publish, streams, wait_subscribed
from tests.support import REPO, FileServer, SupervisorProcess, wait_until
from tests.swap_modules import serve_version, swap_body
from wasmfleet.authoring import toolchain_as
from wasmfleet.core.errors import BuildFailed, ExecutionFailed, WasmTrap
from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.camera import SimulatedCamera
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import offered_interfaces
from wasmfleet.runtime.host.sensors import SimulatedDht
from wasmfleet.runtime.instance import NOT_DONE, WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

MISSING = " ".join(toolchain_as.missing_tools())
pytestmark = pytest.mark.skipif(bool(MISSING), reason=MISSING or "asc is here")

TEMPLATE = REPO / "src" / "wasmfleet" / "authoring" / "templates" / "assemblyscript"
EXAMPLES = {"alarm": REPO / "modules" / "alarm" / "assemblyscript",
            "hot": REPO / "modules" / "hot" / "assemblyscript"}  # fmt: skip
LOG_ABORT = "abort=~lib/wasmfleet/assembly/abort/abortToLog"
HOST_HAS_ENV_ABORT = "env.abort" in offered_interfaces()[1]  # what devices list
ABORTS = [
    pytest.param("log", id="abort-to-log"),
    pytest.param(
        "env",
        id="env-abort",
        marks=pytest.mark.skipif(
            not HOST_HAS_ENV_ABORT,
            reason="this supervisor offers no env.abort host function yet (issue 19, part A)",
        ),
    ),
]
EXAMPLE_ABORT = "env" if HOST_HAS_ENV_ABORT else "log"
"""How the examples are built for their supervisor tests: as written once the host has
env.abort (the scaffold's tests cover both ways)."""
Build = Callable[[str, str], Path]


def scaffold(into: Path, name: str) -> Path:
    """The AssemblyScript scaffold with its placeholders filled in, as `wasmfleet new` does."""
    shutil.copytree(TEMPLATE, into)
    for path in into.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text().replace("__NAME__", name))
    return into


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Build a module folder ("hello" is the scaffold) with an abort mode, once per module."""
    root = tmp_path_factory.mktemp("as")
    built: dict[tuple[str, str], Path] = {}

    def build_one(name: str, abort: str) -> Path:
        if (name, abort) in built:
            return built[name, abort]
        folder = root / f"{name}-{abort}"
        if name == "hello":
            scaffold(folder, name)
        else:
            shutil.copytree(EXAMPLES[name], folder)
        if abort == "log":
            config = json.loads((folder / "asconfig.json").read_text())
            config["options"]["use"] = [LOG_ABORT]
            (folder / "asconfig.json").write_text(json.dumps(config))
        out = folder / "build" / f"{name}.wasm"
        lines: list[str] = []
        toolchain_as.build(folder, name, out, log=lines.append)
        assert lines[0].startswith("$ ") and "--exportStart _initialize" in lines[0]
        built[name, abort] = out
        return out

    return build_one


def interface(wasm: Path) -> tuple[set[str], set[str]]:
    """The (imports, exports) of a module, as ``module.name`` and export names."""
    engine = WasmEngine(RuntimeLimits(), wasm.parent / "cache")
    try:
        compiled = engine.compile(wasm.read_bytes())
        imports = {f"{i.module}.{i.name}" for i in compiled.imports}
        return imports, set(compiled.functions)
    finally:
        engine.close()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Callable[[Path], WasmInstance]]:
    """The supervisor's runtime in-process (for bytes functions and traps)."""
    engine = WasmEngine(RuntimeLimits(call_timeout_s=5, memory_limit_bytes=64 * MiB), tmp_path)

    def load(wasm: Path) -> WasmInstance:
        compiled = engine.compile(wasm.read_bytes())
        devices = HostDevices(SimulatedCamera(), SimulatedDht(temperature=21.0))
        return WasmInstance(engine, compiled, tmp_path, devices, deployment="d", module="m")

    yield load
    engine.close()


def operation(params: list[tuple[str, str]], result: str) -> dict[str, Any]:
    """An OpenAPI GET operation with query parameters of the given Wasm types."""
    schemas = {"i32": {"type": "integer"}, "f32": {"type": "number", "format": "float"}}
    return {
        "parameters": [
            {"name": n, "in": "query", "required": True, "schema": schemas[t]} for n, t in params
        ],
        "responses": {"200": {"content": {"application/json": {"schema": schemas[result]}}}},
        "x-mounts": [],
    }


def serve(
    files: FileServer, name: str, wasm: Path, ops: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Serve a built module and its description; their URLs."""
    paths = {f"/{{deployment}}/modules/{{module}}/{fn}": {"get": op} for fn, op in ops.items()}
    description = {"openapi": "3.0.3", "info": {"title": name, "version": "1.0.0"}, "paths": paths}
    return {
        "binary": files.add(f"{name}/{wasm.name}", wasm.read_bytes()),
        "description": files.add(f"{name}/description.json", json.dumps(description).encode()),
    }


def deploy_body(dep: str, name: str, urls: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A README-shape deploy body for one module."""
    return {"deploymentId": dep, "modules": [{"id": name, "name": name, "urls": urls}], **extra}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FileServer]:
    """An empty file server on loopback."""
    (tmp_path / "served").mkdir()
    with FileServer(tmp_path / "served") as server:
        yield server


def test_the_scaffold_builds_and_its_own_test_passes(build: Build) -> None:
    wasm = build("hello", "env")
    imports, exports = interface(wasm)
    assert imports == {"env.abort", "sys.println"}
    assert {"_initialize", "alloc", "add", "count", "greet"} <= exports
    folder = wasm.parent.parent
    done = subprocess.run(
        ["node", "--test", "tests/"], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# pass 2" in done.stdout and "# fail 0" in done.stdout


def test_abort_to_log_leaves_no_env_import(build: Build) -> None:
    for name in ("hello", "alarm", "hot"):
        imports, _ = interface(build(name, "log"))
        assert not [i for i in imports if i.startswith("env.")], (name, imports)


@pytest.mark.parametrize("abort", ABORTS)
def test_the_scaffold_answers_on_a_supervisor(
    abort: str, build: Build, served: FileServer, start_supervisor: Callable[..., Any]
) -> None:
    wasm = build("hello", abort)
    ops = {"add": operation([("a", "i32"), ("b", "i32")], "i32"), "count": operation([], "i32")}
    sup: SupervisorProcess = start_supervisor("as-hello")
    answer = sup.deploy(deploy_body("lab", "hello", serve(served, "hello", wasm, ops)))
    assert answer.status_code == 200, answer.text
    assert sup.get("/lab/modules/hello/add", params={"a": 2, "b": 3}).json()["result"] == "5"
    assert sup.get("/lab/modules/hello/add", params={"a": -9, "b": 4}).json()["result"] == "-5"
    assert sup.get("/lab/modules/hello/count").json()["result"] == "2"  # state kept
    wrong = sup.get("/lab/modules/hello/add", params={"a": "two", "b": 3})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_argument"


@pytest.mark.parametrize("abort", ABORTS)
def test_the_scaffold_bytes_function_and_its_aborts(
    abort: str,
    build: Build,
    instance: Callable[[Path], WasmInstance],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inst = instance(build("hello", abort))
    assert call_with_bytes(inst, "greet", b"Ada", None) == b"Hello, Ada!"
    assert call_with_bytes(inst, "greet", "Jürgen".encode(), None) == "Hello, Jürgen!".encode()
    with pytest.raises(ExecutionFailed, match=r"rejected its input \(error code -1\)"):
        call_with_bytes(inst, "greet", b"", None)
    # Outputs stay valid across many calls: the GC frees old ones, never the one returned.
    for n in range(300):
        name = f"guest-{n}-" + "x" * (n % 97)
        assert call_with_bytes(inst, "greet", name.encode(), None) == f"Hello, {name}!".encode()
    assert inst.memory_bytes() <= 4 * 65536  # the incremental GC keeps memory flat
    assert inst.call("count", ()) == 302
    # A pointer alloc() never gave out: the library aborts instead of reading garbage.
    with caplog.at_level(logging.INFO, logger="wasmfleet.guest"), pytest.raises(WasmTrap) as trap:
        inst.call("greet", (12345, 3))
    said = str(trap.value) + " ".join(r.getMessage() for r in caplog.records)
    assert "12345 is not a buffer from alloc()" in said
    if abort == "log":
        assert "abort: wasmfleet: 12345 is not a buffer from alloc() at ~lib/wasmfleet" in said
    assert call_with_bytes(inst, "greet", b"again", None) == b"Hello, again!"


def test_the_alarm_example_on_a_supervisor(
    build: Build, served: FileServer, start_supervisor: Callable[..., Any]
) -> None:
    wasm = build("alarm", EXAMPLE_ABORT)
    imports, _ = interface(wasm)
    assert "dht.getTemperature" in imports
    ops = {
        "check": operation([("limit", "f32")], "i32"),
        "highest": operation([], "f32"),
    }
    sup: SupervisorProcess = start_supervisor("as-alarm", args=["--dht-temperature", "23.5"])
    answer = sup.deploy(deploy_body("lab", "alarm", serve(served, "alarm", wasm, ops)))
    assert answer.status_code == 200, answer.text
    assert sup.get("/lab/modules/alarm/check?limit=25").json()["result"] == "0"
    assert sup.get("/lab/modules/alarm/check?limit=20").json()["result"] == "1"
    assert sup.get("/lab/modules/alarm/highest").json()["result"] == "23.5"
    warm = sup.get("/lab/modules/alarm/check?limit=warm")
    assert warm.status_code == 400
    assert warm.json()["error"]["message"] == "Argument 'limit' must be a number (f32), got 'warm'."


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto broker on loopback for one test."""
    with running_mosquitto(tmp_path / "mosquitto") as process:
        yield process


def test_the_hot_example_on_a_supervisor_with_a_broker(
    build: Build,
    served: FileServer,
    start_supervisor: Callable[..., Any],
    broker: MosquittoProcess,
) -> None:
    wasm = build("hot", EXAMPLE_ABORT)
    imports, exports = interface(wasm)
    assert {"wasmfleet.publish", "wasmfleet.message_topic"} <= imports
    assert {"alloc", "hot"} <= exports
    out = Listener(broker.url, "alerts/#", "audit/#", f"{DEAD}/#")
    try:
        sup: SupervisorProcess = start_supervisor("lab-1", args=["--broker", broker.url])
        ops = {"hot": operation([("ptr", "i32"), ("len", "i32")], "i32")}
        route = {
            "paths": {"": {"get": {}}},
            "trigger": {"topic": "site/+/temperature", "qos": 1},
            "publish": {"topic": "alerts/temperature"},
        }
        body = deploy_body(
            "lab", "hot", serve(served, "hot", wasm, ops),
            instructions={"modules": {"hot": {"hot": route}}},
        )  # fmt: skip
        answer = sup.deploy(body)
        assert answer.status_code == 200, answer.text
        wait_subscribed(sup, "site/+/temperature")

        publish(broker.url, "site/lab/temperature", "31.5")
        publish(broker.url, "site/lab/temperature", "21")
        publish(broker.url, "site/lab/temperature", "warm")
        publish(broker.url, "site/roof/temperature", "40")

        expected = [
            b'{"topic":"site/lab/temperature","celsius":31.5}',
            b'{"topic":"site/roof/temperature","celsius":40}',
        ]
        assert [p for _, p in out.wait("audit/", 2)] == expected
        assert out.on("audit/")[0][0] == "audit/hot"
        assert out.wait("alerts/", 2) == [("alerts/temperature", p) for p in expected]
        [(topic, letter)] = out.wait(f"{DEAD}/", 1)
        assert topic == f"{DEAD}/lab/hot/hot"
        dead = json.loads(letter)
        assert dead["payload"] == "warm" and dead["error"]["code"] == "rejected"
        assert dead["error"]["message"] == "hot.hot rejected its input (error code -1)."
        assert wait_until(lambda: streams(sup)["handled"] == 3)
        counts = streams(sup)
        assert (counts["received"], counts["failed"], counts["guest_published"]) == (4, 1, 2)
    finally:
        out.close()


def test_a_build_error_names_the_file_and_line(tmp_path: Path) -> None:
    folder = scaffold(tmp_path / "broken", "broken")
    source = folder / "assembly" / "index.ts"
    source.write_text(source.read_text().replace("return a + b;", "return a + missing;"))
    with pytest.raises(BuildFailed) as failed:
        toolchain_as.build(folder, "broken", folder / "build" / "broken.wasm", log=lambda _: None)
    message = failed.value.message
    assert "Cannot find name 'missing'" in message
    assert "assembly/index.ts(22," in message
    assert message.endswith("fix the first ERROR above (file(line,column)).")
    assert not (folder / "build" / "broken.wasm").exists()


def test_a_misspelt_library_import_gets_a_hint(tmp_path: Path) -> None:
    folder = scaffold(tmp_path / "typo", "typo")
    source = folder / "assembly" / "index.ts"
    source.write_text(source.read_text().replace('from "wasmfleet"', 'from "wasmfleet/sys"'))
    with pytest.raises(BuildFailed, match='import it as "wasmfleet"'):
        toolchain_as.build(folder, "typo", folder / "build" / "typo.wasm", log=lambda _: None)


def test_the_documented_state_hooks_carry_the_count_across_a_swap(
    tmp_path: Path, served: FileServer, start_supervisor: Callable[..., Any]
) -> None:
    text = (REPO / "docs" / "guest-assemblyscript.md").read_text()
    found = re.search(r"```ts\n(.*?)```", text[text.index("## State across versions") :], re.S)
    assert found, "docs/guest-assemblyscript.md lost its state-hook example"
    folder = scaffold(tmp_path / "ctr", "ctr")
    (folder / "assembly" / "index.ts").write_text(found.group(1))
    if EXAMPLE_ABORT == "log":
        config = json.loads((folder / "asconfig.json").read_text())
        config["options"]["use"] = [LOG_ABORT]
        (folder / "asconfig.json").write_text(json.dumps(config))
    out = folder / "build" / "ctr.wasm"
    toolchain_as.build(folder, "ctr", out, log=lambda _: None)
    first = out.read_bytes()
    second = first + bytes([0, 7, 5]) + b"build" + b"2"  # a custom section: another version
    sup: SupervisorProcess = start_supervisor("as-swap")

    def deploy(label: str, binary: bytes) -> None:
        version = serve_version(served, label, binary, ["count"])
        answer = sup.deploy(swap_body("docs", "ctr", version, ["count"]))
        assert answer.status_code == 200, answer.text

    def count() -> int:
        answer = sup.get("/docs/modules/ctr/count")
        assert answer.status_code == 200, answer.text
        return int(answer.json()["result"])

    deploy("one", first)
    assert [count() for _ in range(3)] == [1, 2, 3]
    deploy("two", second)
    assert count() == 4  # carried by wasmfleet_snapshot / wasmfleet_restore
    assert sup.get("/api/v1/status").json()["swaps"]["states_carried"] == 1


SLOW_COUNTER = """
import { sys } from "wasmfleet";
let calls: i32 = 0;
export function slow(rounds: i32): i32 {
  calls++;
  let x: i32 = 0;
  for (let i = 0; i < rounds; i++) x = (x * 31 + i) ^ calls;
  if (rounds < 0) sys.println("never");
  return calls + (x & 0);
}
export function count(): i32 { return calls; }
"""


def test_an_inline_call_rolled_back_leaves_no_trace(
    tmp_path: Path, instance: Callable[[Path], WasmInstance]
) -> None:
    folder = scaffold(tmp_path / "slow", "slow")
    (folder / "assembly" / "index.ts").write_text(SLOW_COUNTER)
    config = json.loads((folder / "asconfig.json").read_text())
    config["options"]["use"] = [LOG_ABORT]  # env.abort would make it not inline-capable
    (folder / "asconfig.json").write_text(json.dumps(config))
    out = folder / "build" / "slow.wasm"
    toolchain_as.build(folder, "slow", out, log=lambda _: None)
    inst = instance(out)
    # Its counter lives in a Wasm global, which a rollback cannot restore: such a module is
    # never run inline (CompiledModule.inline_safe), so no call of it is ever rolled back.
    assert not inst.inline_capable
    assert inst.try_inline("count", ()) is NOT_DONE
    assert inst.call("count", ()) == 0
