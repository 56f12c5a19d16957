"""The wasmfleet host functions and the bytes ABI with real wasmtime (the publisher is a stub)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from wasmfleet.core.errors import ExecutionFailed
from wasmfleet.runtime.bytes_abi import call_with_bytes, takes_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.guest import GuestContext, GuestMessage
from wasmfleet.runtime.host.messaging import E_BUSY, E_QOS, E_TOPIC, NO_MESSAGE
from wasmfleet.runtime.host.registry import missing_imports, offered_interfaces
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

GUEST = """(module
  (import "wasmfleet" "publish" (func $publish (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmfleet" "message_topic" (func $topic (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "alerts/t")
  (data (i32.const 32) "alerts/+")
  (data (i32.const 48) "\\ff\\fe")
  (data (i32.const 64) "hello")
  (func (export "alloc") (param i32) (result i32) (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 0)))
    (local.get $p))
  (func (export "send") (param $topic i32) (param $len i32) (param $qos i32) (result i32)
    (call $publish (local.get $topic) (local.get $len)
                   (i32.const 64) (i32.const 5) (local.get $qos)))
  (func (export "topic") (param $room i32) (result i32)
    (call $topic (i32.const 128) (local.get $room)))
  (func (export "topic_byte") (param i32) (result i32)
    (i32.load8_u (i32.add (i32.const 128) (local.get 0))))
  ;; bytes ABI: echo the payload back as the output buffer; "!" first means error -7
  (func (export "echo") (param $ptr i32) (param $len i32) (result i64)
    (if (i32.eqz (local.get $len)) (then (return (i64.const 0))))
    (if (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 33)) (then (return (i64.const -7))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))
  (func (export "length") (param i32 i32) (result i32) (local.get 1)))"""


class StubPublisher:
    """Records what the guest published; answers ``answer``."""

    def __init__(self, answer: int = 0) -> None:
        self.sent: list[tuple[str, bytes, int, str | None]] = []
        self.answer = answer

    def publish_from_guest(self, ctx: GuestContext, topic: str, payload: bytes, qos: int) -> int:
        message = ctx.message.topic if ctx.message is not None else None
        self.sent.append((topic, payload, qos, message))
        return self.answer


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=1.0, memory_limit_bytes=8 * MiB))
    yield eng
    eng.close()


def guest(engine: WasmEngine, tmp_path: Path, publisher: StubPublisher) -> WasmInstance:
    compiled = engine.compile(bytes(wasmtime.wat2wasm(GUEST)))
    devices = HostDevices(None, None, mqtt=publisher)
    return WasmInstance(engine, compiled, tmp_path, devices, deployment="d", module="g")


def test_publish_and_its_error_codes(engine: WasmEngine, tmp_path: Path) -> None:
    publisher = StubPublisher()
    inst = guest(engine, tmp_path, publisher)
    assert inst.call("send", (16, 8, 1)) == 0
    message = GuestMessage("site/a/t", "m1")
    assert inst.call("send", (16, 8, 2), message) == 0
    assert publisher.sent == [
        ("alerts/t", b"hello", 1, None),
        ("alerts/t", b"hello", 2, "site/a/t"),
    ]
    assert inst.call("send", (32, 8, 1)) == E_TOPIC  # a wildcard
    assert inst.call("send", (48, 2, 1)) == E_TOPIC  # not UTF-8
    assert inst.call("send", (16, 0, 1)) == E_TOPIC  # empty
    assert inst.call("send", (16, 8, 3)) == E_QOS
    assert len(publisher.sent) == 2
    publisher.answer = E_BUSY
    assert inst.call("send", (16, 8, 0)) == E_BUSY
    with pytest.raises(ExecutionFailed, match="outside its 65536-byte memory"):
        inst.call("send", (65530, 100, 1))


def test_message_topic(engine: WasmEngine, tmp_path: Path) -> None:
    inst = guest(engine, tmp_path, StubPublisher())
    assert inst.call("topic", (64,)) == NO_MESSAGE
    message = GuestMessage("site/kitchen/temperature", "m2")
    assert inst.call("topic", (64,), message) == 24
    got = bytes(inst.call("topic_byte", (i,)) for i in range(24))
    assert got == b"site/kitchen/temperature"
    assert inst.call("topic", (4,), GuestMessage("abcdefgh", "m3")) == 8  # cut short: 4 written
    assert bytes(inst.call("topic_byte", (i,)) for i in range(8)) == b"abcd/kit"


def test_bytes_abi(engine: WasmEngine, tmp_path: Path) -> None:
    inst = guest(engine, tmp_path, StubPublisher())
    assert takes_bytes(inst.functions, "echo") and takes_bytes(inst.functions, "length")
    assert not takes_bytes(inst.functions, "send")
    assert call_with_bytes(inst, "echo", b'{"t": 21.5}', None) == b'{"t": 21.5}'
    assert call_with_bytes(inst, "echo", b"", None) is None  # 0: no output
    with pytest.raises(ExecutionFailed) as info:
        call_with_bytes(inst, "echo", b"!bad", None)
    assert info.value.code == "rejected"
    assert info.value.message == "g.echo rejected its input (error code -7)."
    assert call_with_bytes(inst, "length", b"12345", None) == 5  # an i32 result is a scalar


def test_wasmfleet_mqtt_functions_need_a_broker() -> None:
    mqtt = {"wasmfleet.publish", "wasmfleet.message_topic"}
    images = {"wasmfleet.image_decode", "wasmfleet.image_encode"}
    without = HostDevices(None, None)
    assert "broker" in without.lacking
    bare, qualified = offered_interfaces(without.lacking)
    assert not mqtt & set(qualified) and not {"publish", "message_topic"} & set(bare)
    assert images <= set(qualified)  # the image functions need no broker
    with_broker = HostDevices(None, None, mqtt=StubPublisher())
    assert "broker" not in with_broker.lacking
    _, qualified = offered_interfaces(with_broker.lacking)
    assert mqtt | images <= set(qualified)
    compiled = WasmEngine(RuntimeLimits()).compile(bytes(wasmtime.wat2wasm(GUEST)))
    assert missing_imports(compiled.imports, with_broker.lacking) == []
    missing = missing_imports(compiled.imports, without.lacking)
    assert missing == [
        f"wasmfleet.{name} {signature} (this device has no MQTT broker (start its supervisor "
        "with --broker): it offers none of wasmfleet.publish, wasmfleet.message_topic)"
        for name, signature in [
            ("publish", "(i32, i32, i32, i32, i32) -> (i32)"),
            ("message_topic", "(i32, i32) -> (i32)"),
        ]
    ]
