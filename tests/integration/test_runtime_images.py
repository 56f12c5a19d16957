"""The wasmfleet image host functions (image_decode, image_encode) with real wasmtime and Pillow."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime
from PIL import Image

from wasmfleet.core.errors import ExecutionFailed, InvalidWasm
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.images import (
    E_IMAGE_ALLOC,
    E_IMAGE_ARGS,
    E_IMAGE_FORMAT,
    E_IMAGE_TOO_LARGE,
    MAX_PIXELS,
)
from wasmfleet.runtime.host.registry import missing_imports, offered_interfaces
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

IMPORTS = """
  (import "wasmfleet" "image_decode" (func $decode (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasmfleet" "image_encode" (func $encode (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 32)
  (func (export "decode") (param i32 i32 i32 i32) (result i32)
    (call $decode (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 16)))
  (func (export "decode_to") (param i32 i32 i32 i32 i32) (result i32)
    (call $decode (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (func (export "encode") (param i32 i32 i32 i32 i32) (result i32)
    (call $encode (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                  (i32.const 32)))
  (func (export "encode_to") (param i32 i32 i32 i32 i32 i32) (result i32)
    (call $encode (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)
                  (local.get 5)))
  (func (export "decode_then_trap") (param i32 i32)
    (drop (call $decode (local.get 0) (local.get 1) (i32.const 3) (i32.const 0) (i32.const 16)))
    unreachable)"""

# A bump allocator from 1 MiB up that grows memory as needed, counts its allocations, and
# returns 0 while "null_alloc" is set.
GUEST = f"""(module {IMPORTS}
  (global $heap (mut i32) (i32.const 1048576))
  (global $allocs (mut i32) (i32.const 0))
  (global $null (mut i32) (i32.const 0))
  (func (export "alloc") (param $n i32) (result i32) (local $p i32) (local $end i32)
    (if (global.get $null) (then (return (i32.const 0))))
    (global.set $allocs (i32.add (global.get $allocs) (i32.const 1)))
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then (drop (memory.grow (i32.shr_u
        (i32.add (i32.sub (local.get $end) (i32.shl (memory.size) (i32.const 16)))
                 (i32.const 65535))
        (i32.const 16))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "allocs") (result i32) (global.get $allocs))
  (func (export "null_alloc") (param i32) (global.set $null (local.get 0))))"""

NO_ALLOC = f"(module {IMPORTS})"

SRC = 65536
"""Where tests put source bytes (below the allocator's 1 MiB)."""
INFO, OUT = 16, 32
SENTINEL = b"\xaa" * 12
RED, WHITE = (220, 20, 30), (255, 255, 255)


@pytest.fixture
def engine() -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=5.0, memory_limit_bytes=64 * MiB))
    yield eng
    eng.close()


def instance(
    engine: WasmEngine, tmp_path: Path, wat: str = GUEST, images: bool = True
) -> WasmInstance:
    compiled = engine.compile(bytes(wasmtime.wat2wasm(wat)))
    devices = HostDevices(None, None, images=images)
    return WasmInstance(engine, compiled, tmp_path, devices, deployment="d", module="img")


def picture(size: tuple[int, int] = (64, 48), fmt: str = "JPEG", **save: object) -> bytes:
    """A white picture with a red rectangle over its middle half, encoded as ``fmt``."""
    width, height = size
    image = Image.new("RGB", size, WHITE)
    image.paste(RED, (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


def decode(inst: WasmInstance, data: bytes, channels: int, max_side: int = 0) -> int:
    inst.write_memory(INFO, SENTINEL)
    inst.write_memory(SRC, data)
    result: int = inst.call("decode", (SRC, len(data), channels, max_side))
    return result


def decoded(inst: WasmInstance, n: int) -> tuple[bytes, int, int]:
    """(pixels, width, height) that image_decode left in the guest."""
    ptr, width, height = struct.unpack("<III", inst.read_memory(INFO, 12))
    return inst.read_memory(ptr, n), width, height


def near(got: bytes | tuple[int, ...], want: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(g - w) <= tolerance for g, w in zip(got, want, strict=True))


def refused(inst: WasmInstance, allocs_before: int) -> bool:
    """Nothing allocated and the info left as it was."""
    return inst.call("allocs", ()) == allocs_before and inst.read_memory(INFO, 12) == SENTINEL


def test_decode_a_jpeg_to_rgb_and_grey(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    assert decode(inst, picture(), 3) == 64 * 48 * 3
    pixels, width, height = decoded(inst, 64 * 48 * 3)
    assert (width, height) == (64, 48)
    at = (24 * 64 + 32) * 3  # the middle: red
    assert near(pixels[at : at + 3], RED), pixels[at : at + 3]
    assert near(pixels[:3], WHITE)  # the top-left corner
    assert decode(inst, picture(), 1) == 64 * 48
    pixels, width, height = decoded(inst, 64 * 48)
    assert (width, height) == (64, 48)
    grey = round(0.299 * RED[0] + 0.587 * RED[1] + 0.114 * RED[2])
    assert near(pixels[24 * 64 + 32 : 24 * 64 + 33], (grey,), 20)
    assert inst.call("allocs", ()) == 2


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "GIF", "WEBP", "PPM"])
def test_decode_the_other_formats(engine: WasmEngine, tmp_path: Path, fmt: str) -> None:
    inst = instance(engine, tmp_path)
    assert decode(inst, picture(fmt=fmt), 3) == 64 * 48 * 3
    pixels, width, height = decoded(inst, 64 * 48 * 3)
    assert (width, height) == (64, 48)
    at = (24 * 64 + 32) * 3
    assert near(pixels[at : at + 3], RED), pixels[at : at + 3]


def test_decode_takes_the_first_gif_frame_and_16_bit_grey(
    engine: WasmEngine, tmp_path: Path
) -> None:
    inst = instance(engine, tmp_path)
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    assert decode(inst, out.getvalue(), 3) == 8 * 8 * 3
    assert near(decoded(inst, 3)[0], RED)
    out = io.BytesIO()
    Image.new("I;16", (8, 8), 40000).save(out, "PNG")
    assert decode(inst, out.getvalue(), 1) == 8 * 8
    assert decoded(inst, 1)[0] == bytes([40000 // 256])  # scaled, not clipped to 255


def test_decode_shrinks_to_max_side(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    assert decode(inst, picture((640, 480)), 3, 320) == 320 * 240 * 3
    pixels, width, height = decoded(inst, 320 * 240 * 3)
    assert (width, height) == (320, 240)
    at = (120 * 320 + 160) * 3
    assert near(pixels[at : at + 3], RED)
    assert decode(inst, picture((640, 480)), 1, 640) == 640 * 480  # not larger: kept
    assert decoded(inst, 1)[1:] == (640, 480)
    assert decode(inst, picture((30, 2000), "PNG"), 1, 100) == 2 * 100  # at least 1 px
    assert decoded(inst, 1)[1:] == (2, 100)


def test_decode_applies_the_exif_orientation(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown turned a quarter clockwise
    rotated = picture((64, 48), exif=exif.tobytes())
    assert decode(inst, rotated, 3) == 48 * 64 * 3
    assert decoded(inst, 3)[1:] == (48, 64)
    assert decode(inst, rotated, 3, 32) == 24 * 32 * 3
    assert decoded(inst, 3)[1:] == (24, 32)


def test_decode_error_codes(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    jpeg = picture()
    huge = io.BytesIO()
    Image.new("1", (5000, 5000)).save(huge, "PNG")  # 3 KB on disk, 25 Mpx in its header
    assert len(huge.getvalue()) < 64 * 1024 and MAX_PIXELS < 5000 * 5000
    for data, channels, max_side, code in [
        (b"not an image at all", 3, 0, E_IMAGE_FORMAT),
        (jpeg[: len(jpeg) // 2], 3, 0, E_IMAGE_FORMAT),  # truncated
        (picture(fmt="TIFF"), 3, 0, E_IMAGE_FORMAT),  # not an accepted format
        (b"", 3, 0, E_IMAGE_FORMAT),
        (jpeg, 2, 0, E_IMAGE_ARGS),
        (jpeg, 0, 0, E_IMAGE_ARGS),
        (jpeg, 3, -1, E_IMAGE_ARGS),
        (huge.getvalue(), 1, 0, E_IMAGE_TOO_LARGE),
        (huge.getvalue(), 3, 320, E_IMAGE_TOO_LARGE),
    ]:
        assert decode(inst, data, channels, max_side) == code, (data[:8], channels, max_side)
        assert refused(inst, 0)


def test_decode_traps_on_pointers_outside_memory(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    size = inst.memory_bytes()
    jpeg = picture()
    inst.write_memory(SRC, jpeg)
    for args in [
        (size - 10, 100, 3, 0, INFO),  # the source runs past the end
        (SRC, -1, 3, 0, INFO),  # a length of 4 GiB
        (SRC, len(jpeg), 3, 0, size - 4),  # no room for the info
        (SRC, len(jpeg), 3, 0, -4),
    ]:
        with pytest.raises(ExecutionFailed, match=r"wasmfleet\.image_decode failed: guest range"):
            inst.call("decode_to", args)
    assert inst.call("allocs", ()) == 0
    assert decode(inst, jpeg, 3) == 64 * 48 * 3  # the instance is still usable


def test_decode_without_alloc(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    inst.call("null_alloc", (1,))
    assert decode(inst, picture(), 3) == E_IMAGE_ALLOC
    assert inst.read_memory(INFO, 12) == SENTINEL
    # the refused alloc is not taken for the cause of a trap later in the same call
    with pytest.raises(ExecutionFailed) as info:
        inst.call("decode_then_trap", (SRC, len(picture())))
    assert "unreachable" in info.value.message and "alloc" not in info.value.message
    inst.call("null_alloc", (0,))
    assert decode(inst, picture(), 3) == 64 * 48 * 3
    bare = instance(engine, tmp_path, NO_ALLOC)
    assert decode(bare, picture(), 3) == E_IMAGE_ALLOC
    assert bare.read_memory(INFO, 12) == SENTINEL


def encoded(inst: WasmInstance, n: int) -> Image.Image:
    ptr, length = struct.unpack("<II", inst.read_memory(OUT, 8))
    assert length == n
    image = Image.open(io.BytesIO(inst.read_memory(ptr, length)))
    assert image.format == "JPEG"
    return image


def test_encode_round_trip(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    source = Image.open(io.BytesIO(picture(fmt="PNG")))
    inst.write_memory(SRC, source.tobytes())
    n = inst.call("encode", (SRC, 64, 48, 3, 90))
    assert n > 0
    image = encoded(inst, n)
    assert (image.size, image.mode) == ((64, 48), "RGB")
    assert near(image.crop((32, 24, 33, 25)).tobytes(), RED)
    inst.write_memory(SRC, source.convert("L").tobytes())
    n = inst.call("encode", (SRC, 64, 48, 1, 0))  # quality 0: the default, 85
    assert (
        n == inst.call("encode", (SRC, 64, 48, 1, 85)) != inst.call("encode", (SRC, 64, 48, 1, 5))
    )
    n = inst.call("encode", (SRC, 64, 48, 1, 0))
    image = encoded(inst, n)
    assert (image.size, image.mode) == ((64, 48), "L")
    jpeg_ptr, jpeg_len = struct.unpack("<II", inst.read_memory(OUT, 8))
    assert inst.call("decode", (jpeg_ptr, jpeg_len, 3, 0)) == 64 * 48 * 3  # and back again


def test_encode_refuses_bad_arguments(engine: WasmEngine, tmp_path: Path) -> None:
    inst = instance(engine, tmp_path)
    inst.write_memory(OUT, SENTINEL[:8])
    for width, height, channels, quality in [
        (0, 48, 3, 85),
        (64, -1, 3, 85),
        (-(2**31), -(2**31), 3, 85),  # the product is positive and huge
        (2**31 - 1, 2**31 - 1, 3, 85),
        (4097, 4096, 1, 85),  # one row over MAX_PIXELS
        (70_000, 1, 1, 85),  # over JPEG's 65535 per side
        (64, 48, 2, 85),
        (64, 48, 4, 85),
        (64, 48, 3, 96),
        (64, 48, 3, -1),
    ]:
        assert inst.call("encode", (SRC, width, height, channels, quality)) == E_IMAGE_ARGS
    assert inst.call("allocs", ()) == 0
    assert inst.read_memory(OUT, 8) == SENTINEL[:8]
    for args in [
        (inst.memory_bytes() - 100, 64, 48, 3, 85, OUT),  # the pixels run past the end
        (SRC, 64, 48, 3, 85, inst.memory_bytes() - 4),  # no room for the out info
    ]:
        with pytest.raises(ExecutionFailed, match=r"wasmfleet\.image_encode failed: guest range"):
            inst.call("encode_to", args)
    assert inst.call("allocs", ()) == 0
    inst.call("null_alloc", (1,))
    assert inst.call("encode", (SRC, 64, 48, 3, 85)) == E_IMAGE_ALLOC
    assert inst.read_memory(OUT, 8) == SENTINEL[:8]


def test_image_functions_need_only_pillow(engine: WasmEngine, tmp_path: Path) -> None:
    images = {"wasmfleet.image_decode", "wasmfleet.image_encode"}
    mqtt = {"wasmfleet.publish", "wasmfleet.message_topic"}
    plain = HostDevices(None, None)  # no broker, Pillow installed
    assert plain.lacking == {"camera", "dht", "broker"}
    bare, qualified = offered_interfaces(plain.lacking)
    assert images <= set(qualified) and not mqtt & set(qualified)
    assert {"image_decode", "image_encode"} <= set(bare)
    compiled = engine.compile(bytes(wasmtime.wat2wasm(GUEST)))
    assert missing_imports(compiled.imports, plain.lacking) == []

    without = HostDevices(None, None, images=False)
    _, qualified = offered_interfaces(without.lacking)
    assert not images & set(qualified)
    assert missing_imports(compiled.imports, without.lacking) == [
        f"{name} {signature} (this device has no Pillow (install it there: pip install "
        "pillow): it offers none of wasmfleet.image_decode, wasmfleet.image_encode)"
        for name, signature in [
            ("wasmfleet.image_decode", "(i32, i32, i32, i32, i32) -> (i32)"),
            ("wasmfleet.image_encode", "(i32, i32, i32, i32, i32, i32) -> (i32)"),
        ]
    ]
    with pytest.raises(InvalidWasm):  # never linked where not offered
        instance(engine, tmp_path, images=False)
