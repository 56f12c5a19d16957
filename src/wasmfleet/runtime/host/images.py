"""The ``wasmfleet`` image host functions: decode and encode with Pillow, so guests need no codec.

    wasmfleet.image_decode(i32 src_ptr, i32 src_len, i32 channels, i32 max_side,
                           i32 info_ptr) -> i32
    wasmfleet.image_encode(i32 pixels_ptr, i32 width, i32 height, i32 channels, i32 quality,
                           i32 out_info_ptr) -> i32

``image_decode`` reads a JPEG, PNG, BMP, GIF (first frame), WebP or PPM/PGM image, applies its
EXIF orientation, converts it to ``channels`` (1: grey, 3: RGB), shrinks it (bilinear) so its
longer side is at most ``max_side`` (0: any size), writes the pixels row-major into a buffer
it gets from the guest's ``alloc`` and stores three little-endian u32 at ``info_ptr``:
pixels_ptr, width, height. It returns width*height*channels.

``image_encode`` encodes width*height*channels row-major bytes as a JPEG of ``quality`` 1..95
(0: 85) into a buffer from ``alloc`` and stores two little-endian u32 at ``out_info_ptr``:
jpeg_ptr, jpeg_len. It returns jpeg_len.

Either returns one of the negative codes below instead, with nothing allocated and the info
left untouched; the guest owns (and frees) the buffers it got. Pointers outside the guest's
memory trap, like every host function. Images over ``MAX_PIXELS`` are refused from their
header, before anything is decoded (the decompression-bomb guard); the largest buffers the
host makes are the source it copies out of guest memory and one image of at most
``MAX_PIXELS`` pixels (Pillow keeps up to 4 bytes per pixel while it works).
Offered wherever Pillow is installed (``pillow_available``); see docs/module-authors.md.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import struct
from typing import TYPE_CHECKING

import wasmtime

from wasmfleet.runtime.host.guest import GuestContext, GuestMemory, HostCallError

if TYPE_CHECKING:
    from PIL import Image

    from wasmfleet.runtime.host.functions import HostDevices, HostImpl

E_IMAGE_FORMAT = -1
"""Not an image of an accepted format, or truncated or corrupt."""
E_IMAGE_ARGS = -2
"""Bad arguments: channels not 1 or 3, max_side < 0; for encoding also a size <= 0, over
MAX_PIXELS or over JPEG's 65535 per side, or quality outside 0..95."""
E_IMAGE_TOO_LARGE = -4
"""The image has more than MAX_PIXELS pixels."""
E_IMAGE_ALLOC = -5
"""The module exports no ``alloc``, or its ``alloc`` returned 0."""

MAX_PIXELS = 4096 * 4096
FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "PPM")
"""The Pillow formats ``image_decode`` accepts (PPM also reads PGM and PBM)."""
DEFAULT_QUALITY = 85
MAX_JPEG_SIDE = 65535
_MODES = {1: "L", 3: "RGB"}
_SWAPPING = frozenset({5, 6, 7, 8})
"""EXIF orientations that turn the image a quarter (width and height trade places)."""
_ORIENTATION = 0x0112
_WIDE_GREY = {"I": 1 / 256, "I;16": 1 / 256, "I;16L": 1 / 256, "I;16B": 1 / 256, "F": 255.0}
"""Scale factors bringing 16-bit (and 0..1 float) grey into 0..255 before conversion to L."""


@functools.cache
def pillow_available() -> bool:
    """True when Pillow is installed, so this device offers the image functions.

    Found without importing it: Pillow loads with the first image a guest decodes."""
    try:
        return importlib.util.find_spec("PIL") is not None
    except (ImportError, ValueError):
        return False


def decode_pixels(data: bytes, channels: int, max_side: int) -> tuple[bytes, int, int] | int:
    """(pixels, width, height) of the image ``data``, or a negative ``E_IMAGE_*`` code."""
    if channels not in _MODES or max_side < 0:
        return E_IMAGE_ARGS
    from PIL import Image, ImageOps

    mode = _MODES[channels]
    try:
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return E_IMAGE_TOO_LARGE  # from the header: nothing is decoded
            target = _fitted(width, height, max_side)
            if target is not None:
                image.draft(mode, target)  # JPEG only: let libjpeg decode at 1/2, 1/4, 1/8
            image.load()
            orientation = image.getexif().get(_ORIENTATION, 1)
            ImageOps.exif_transpose(image, in_place=True)
            converted = _converted(image, mode)
    except Image.DecompressionBombError:
        return E_IMAGE_TOO_LARGE
    except Exception:  # Pillow raises many types for hostile data; all mean "cannot decode"
        return E_IMAGE_FORMAT
    if target is not None:
        if orientation in _SWAPPING:
            target = (target[1], target[0])
        if converted.size != target:
            converted = converted.resize(target, Image.Resampling.BILINEAR)
    return converted.tobytes(), converted.width, converted.height


def encode_jpeg(pixels: bytes, width: int, height: int, channels: int, quality: int) -> bytes:
    """JPEG bytes of ``pixels`` (arguments already checked by ``encode_args_ok``)."""
    from PIL import Image

    image = Image.frombytes(_MODES[channels], (width, height), pixels)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality or DEFAULT_QUALITY)
    return out.getvalue()


def encode_args_ok(width: int, height: int, channels: int, quality: int) -> bool:
    """Whether ``image_encode`` can take these arguments (else E_IMAGE_ARGS)."""
    return (
        channels in _MODES
        and 0 <= quality <= 95
        and 0 < width <= MAX_JPEG_SIDE
        and 0 < height <= MAX_JPEG_SIDE
        and width * height <= MAX_PIXELS
    )


def image_decode(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.image_decode`` for one instance."""
    name = "wasmfleet.image_decode"

    def decode_impl(
        caller: wasmtime.Caller,
        src_ptr: int,
        src_len: int,
        channels: int,
        max_side: int,
        info_ptr: int,
    ) -> int:
        memory = GuestMemory(caller, name, ctx)
        if channels not in _MODES or max_side < 0:
            return E_IMAGE_ARGS
        memory.read(info_ptr, 12)  # a bad info pointer traps before anything is allocated
        decoded = decode_pixels(memory.read(src_ptr, src_len), channels, max_side)
        if isinstance(decoded, int):
            return decoded
        pixels, width, height = decoded
        ptr = _alloc(memory, ctx, len(pixels))
        if ptr is None:
            return E_IMAGE_ALLOC
        memory.write(ptr, pixels)
        memory.write(info_ptr, struct.pack("<III", ptr, width, height))
        return len(pixels)

    return decode_impl


def image_encode(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.image_encode`` for one instance."""
    name = "wasmfleet.image_encode"

    def encode_impl(
        caller: wasmtime.Caller,
        pixels_ptr: int,
        width: int,
        height: int,
        channels: int,
        quality: int,
        out_info_ptr: int,
    ) -> int:
        memory = GuestMemory(caller, name, ctx)
        if not encode_args_ok(width, height, channels, quality):
            return E_IMAGE_ARGS  # checked first: the size below is at most MAX_PIXELS * 3
        memory.read(out_info_ptr, 8)
        jpeg = encode_jpeg(
            memory.read(pixels_ptr, width * height * channels), width, height, channels, quality
        )
        ptr = _alloc(memory, ctx, len(jpeg))
        if ptr is None:
            return E_IMAGE_ALLOC
        memory.write(ptr, jpeg)
        memory.write(out_info_ptr, struct.pack("<II", ptr, len(jpeg)))
        return len(jpeg)

    return encode_impl


def _fitted(width: int, height: int, max_side: int) -> tuple[int, int] | None:
    """The size with the longer side exactly ``max_side``, or None when no shrinking is due."""
    longer = max(width, height)
    if max_side == 0 or longer <= max_side:
        return None
    shorter = max(1, round(min(width, height) * max_side / longer))
    return (max_side, shorter) if width >= height else (shorter, max_side)


def _converted(image: Image.Image, mode: str) -> Image.Image:
    """``image`` in ``mode`` (L or RGB), 16-bit grey scaled rather than clipped."""
    scale = _WIDE_GREY.get(image.mode)
    if scale is not None:
        wide = image.convert("F" if image.mode == "F" else "I").point(lambda v: v * scale)
        image = wide.convert("L")
    elif image.mode in ("P", "PA") and (image.mode == "PA" or "transparency" in image.info):
        image = image.convert("RGBA")  # the palette's transparency is dropped with alpha below
    return image if image.mode == mode else image.convert(mode)


def _alloc(memory: GuestMemory, ctx: GuestContext, length: int) -> int | None:
    """A guest buffer from its ``alloc``; None when there is no ``alloc`` or it returned 0."""
    before = ctx.host_error
    try:
        return memory.alloc(length)
    except HostCallError:  # an error code for the guest, not a trap: forget the failure
        ctx.host_error = before
        return None
