"""The runtime with real wasmtime: fast path, limits, inline rollback, host functions, cache."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from wasmfleet.core.errors import CallTimeout, InvalidWasm, MemoryLimitExceeded, WasmTrap
from wasmfleet.runtime import instance as instance_module
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.fastcall import make_fast_call
from wasmfleet.runtime.host.camera import SimulatedCamera, bundled_sample
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import missing_imports
from wasmfleet.runtime.host.sensors import SimulatedDht
from wasmfleet.runtime.instance import NOT_DONE, WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

TYPES = """(module
  (func (export "i32") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "i64") (param i64) (result i64) (i64.mul (local.get 0) (i64.const 2)))
  (func (export "f32") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 0.5)))
  (func (export "f64") (param f64 f64) (result f64) (f64.add (local.get 0) (local.get 1)))
  (func (export "pair") (param i32) (result i32 i64) (local.get 0) (i64.const -5))
  (func (export "none"))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))"""

STATE = """(module
  (memory (export "memory") 1)
  (func (export "bump") (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.load (i32.const 0)))
  (func (export "bump_then_spin") (param i32) (result i32)
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1000)))
    (block (loop (br_if 1 (i32.eqz (local.get 0))) (br 0)))
    (i32.load (i32.const 0)))
  (func (export "hog") (result i32)
    (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))"""

HOST = """(module
  (import "camera" "takeImageDynamicSize" (func $dyn (param i32 i32)))
  (import "camera" "takeImageStaticSize" (func $sta (param i32 i32)))
  (import "sys" "println" (func $println (param i32)))
  (import "dht" "getTemperature" (func $temp (result f32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "hello C string\\00")
  (func (export "alloc") (param i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 0)))
    (local.get $p))
  (func (export "dynamic") (result i32)
    (call $dyn (i32.const 0) (i32.const 4)) (i32.load (i32.const 4)))
  (func (export "first_byte") (result i32) (i32.load8_u (i32.load (i32.const 0))))
  (func (export "static") (param i32) (result i32)
    (i32.store (i32.const 8) (local.get 0))
    (call $sta (i32.const 512) (i32.const 8)) (i32.load (i32.const 8)))
  (func (export "greet") (call $println (i32.const 16)))
  (func (export "temp") (result f32) (call $temp))
  (func (export "bad_pointer") (call $dyn (i32.const -8) (i32.const 4))))"""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[WasmEngine]:
    eng = WasmEngine(
        RuntimeLimits(call_timeout_s=0.5, memory_limit_bytes=8 * MiB), tmp_path / "cache"
    )
    yield eng
    eng.close()


def instance(engine: WasmEngine, wat: str, tmp_path: Path) -> WasmInstance:
    compiled = engine.compile(bytes(wasmtime.wat2wasm(wat)))
    devices = HostDevices(SimulatedCamera(), SimulatedDht(temperature=30.5))
    return WasmInstance(engine, compiled, tmp_path, devices, deployment="d", module="m")


def test_compiled_modules_say_whether_instantiating_runs_guest_code(engine: WasmEngine) -> None:
    plain = engine.compile(bytes(wasmtime.wat2wasm('(module (func (export "f")))')))
    started = engine.compile(bytes(wasmtime.wat2wasm("(module (func $s) (start $s))")))
    reactor = engine.compile(bytes(wasmtime.wat2wasm('(module (func (export "_initialize")))')))
    assert plain.instantiates_without_guest_code
    assert engine.cached(plain.sha256) is not None
    assert engine.cached(plain.sha256).instantiates_without_guest_code  # type: ignore[union-attr]
    assert started.has_start and not started.instantiates_without_guest_code
    assert not reactor.has_start and not reactor.instantiates_without_guest_code


def test_fast_path_matches_the_stock_path(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, TYPES, tmp_path)
    assert inst.call("i32", (41,)) == 42
    assert inst.call("i32", (2**31 - 1,)) == -(2**31)  # wraps like Wasm
    assert inst.call("i64", (2**40,)) == 2**41
    assert inst.call("f32", (3.0,)) == 1.5
    assert inst.call("f64", (0.25, 0.5)) == 0.75
    assert inst.call("pair", (9,)) == (9, -5)
    assert inst.call("none", ()) is None
    store = wasmtime.Store(engine.engine)
    store.set_epoch_deadline(10_000)
    module = wasmtime.Module(engine.engine, wasmtime.wat2wasm(TYPES))
    raw = wasmtime.Instance(store, module, [])
    func = raw.exports(store)["i64"]
    assert isinstance(func, wasmtime.Func)
    signature = engine.compile(bytes(wasmtime.wat2wasm(TYPES))).functions["i64"]
    fast = make_fast_call(store, func, signature)
    assert [fast(n) for n in range(5)] == [func(store, n) for n in range(5)]


def test_traps_are_readable_and_the_instance_survives(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, TYPES, tmp_path)
    with pytest.raises(WasmTrap, match="integer divide by zero"):
        inst.call("div", (1, 0))
    assert inst.call("div", (9, 3)) == 3
    assert (inst.calls, inst.failures) == (2, 1)


def test_timeout_and_memory_limit(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, STATE, tmp_path)
    with pytest.raises(CallTimeout, match=r"0\.5 s limit"):
        inst.call("bump_then_spin", (1,))
    with pytest.raises(MemoryLimitExceeded, match="8 MiB"):
        inst.call("hog", ())
    assert inst.call("bump", ()) > 0


def test_module_state_persists_across_calls(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, STATE, tmp_path)
    assert [inst.call("bump", ()) for _ in range(3)] == [1, 2, 3]


def test_inline_overrun_rolls_back_and_demotes(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, STATE, tmp_path)
    assert inst.inline_capable
    assert inst.try_inline("bump", ()) == 1
    # Writes memory, then loops past the inline bound: rolled back, as if never called.
    assert inst.try_inline("bump_then_spin", (1,)) is NOT_DONE
    assert inst.inline_rollbacks == 1
    assert "bump_then_spin" in inst.inline_demoted
    assert inst.try_inline("bump_then_spin", (0,)) is NOT_DONE  # demoted for good
    assert inst.call("bump_then_spin", (0,)) == 1001  # 1 + 1000: the rolled-back add is gone
    assert inst.try_inline("bump", ()) == 1002


def test_an_inline_call_cut_short_by_the_clock_not_its_cpu_is_not_demoted(
    engine: WasmEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a busy host the thread can be preempted mid-call while the epoch ticks on: the call
    # overruns its wall-clock bound with almost no CPU time of its own. It is rolled back and
    # run on the lane, but the function stays inline-capable. (The thread's CPU clock is
    # stopped here to stand for the preemption; the interrupt is wasmtime's, for real.)
    monkeypatch.setattr(instance_module, "_thread_time", lambda: 7.0)
    inst = instance(engine, STATE, tmp_path)
    assert inst.try_inline("bump_then_spin", (1,)) is NOT_DONE
    assert (inst.inline_rollbacks, inst.inline_preempted) == (1, 1)
    assert "bump_then_spin" not in inst.inline_demoted
    assert inst.try_inline("bump_then_spin", (0,)) == 1000  # rolled back, and inline again


def test_inline_is_refused_while_a_call_holds_the_instance(
    engine: WasmEngine, tmp_path: Path
) -> None:
    inst = instance(engine, STATE, tmp_path)
    with inst.lock:
        assert inst.try_inline("bump", ()) is NOT_DONE
    assert inst.try_inline("bump", ()) == 1


def test_camera_host_functions(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, HOST, tmp_path)
    sample = bundled_sample()
    assert inst.call("dynamic", ()) == len(sample)
    assert inst.call("first_byte", ()) == sample[0]
    assert inst.call("static", (100,)) == 100  # truncated to the size at sizePtr
    assert inst.call("temp", ()) == 30.5
    with pytest.raises(WasmTrap, match=r"camera\.takeImageDynamicSize failed: guest range"):
        inst.call("bad_pointer", ())
    assert not inst.inline_capable  # the camera may block: never inline


def test_println_with_a_c_string_logs(
    engine: WasmEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inst = instance(engine, HOST, tmp_path)
    with caplog.at_level(logging.INFO, logger="wasmfleet.guest"):
        inst.call("greet", ())
    assert [r.getMessage() for r in caplog.records] == ["hello C string"]
    assert caplog.records[0].__dict__["wasm_module"] == "m"


def test_missing_imports_are_named() -> None:
    eng = WasmEngine(RuntimeLimits())
    try:
        wat = """(module (import "gpio" "write" (func (param i32)))
          (import "sys" "delay" (func (param i64)))
          (import "wasi_snapshot_preview1" "fd_write"
            (func (param i32 i32 i32 i32) (result i32))))"""
        missing = missing_imports(eng.compile(bytes(wasmtime.wat2wasm(wat))).imports)
        assert missing == [
            "gpio.write (i32) -> ()",
            "sys.delay (i64) -> () (this device offers (i32) -> ())",
        ]
    finally:
        eng.close()


def test_compile_cache_on_disk(tmp_path: Path) -> None:
    wasm = bytes(wasmtime.wat2wasm(TYPES))
    first = WasmEngine(RuntimeLimits(), tmp_path)
    assert first.compile(wasm).source == "compiled"
    assert first.compile(wasm).source == "memory-cache"
    first.close()
    second = WasmEngine(RuntimeLimits(), tmp_path)
    assert second.compile(wasm).source == "disk-cache"
    assert second.stats.compiled == 0
    # A corrupt artifact is detected and rebuilt, not trusted.
    for artifact in tmp_path.glob("*.cwasm"):
        artifact.write_bytes(b"garbage")
    third = WasmEngine(RuntimeLimits(), tmp_path)
    assert third.compile(wasm).source == "compiled"
    assert third.stats.disk_errors == 1
    second.close()
    third.close()


def test_invalid_and_oversized_binaries(tmp_path: Path) -> None:
    eng = WasmEngine(RuntimeLimits(max_module_bytes=1024))
    try:
        with pytest.raises(InvalidWasm, match="not a WebAssembly binary"):
            eng.compile(b"hello")
        with pytest.raises(InvalidWasm, match="not a valid WebAssembly module"):
            eng.compile(b"\0asm\x01\0\0\0\xff")
        with pytest.raises(Exception, match="limit is 1024 bytes"):
            eng.compile(b"\0asm" + bytes(2000))
    finally:
        eng.close()
