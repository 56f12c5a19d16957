// images.ts - wasmfleet.image_decode and wasmfleet.image_encode (devices with Pillow: all
// wasmfleet supervisors normally). Both need the module's exported alloc().
import * as raw from "./raw";
import { claim } from "./bytes";

/** Not a JPEG/PNG/BMP/GIF/WebP/PPM/PGM image, or corrupt. */
export const EFORMAT: i32 = -1;
/** Bad channels, max side, size or quality. */
export const EARGS: i32 = -2;
/** More than 4096*4096 pixels. */
export const ETOOLARGE: i32 = -4;
/** The module exports no alloc(), or alloc() returned 0. */
export const EALLOC: i32 = -5;

const info = memory.data(12, 4);

/** Decoded pixels (row-major, `channels` bytes each), or the negative code of a failure. */
export class Pixels {
  constructor(
    public code: i32,
    public data: Uint8Array,
    public width: i32,
    public height: i32,
    public channels: i32,
  ) {}

  /** True when decoding succeeded (code 0). */
  get ok(): bool {
    return this.code == 0;
  }
}

/** A JPEG, or the negative code of a failure. */
export class Jpeg {
  constructor(public code: i32, public data: Uint8Array) {}

  /** True when encoding succeeded (code 0). */
  get ok(): bool {
    return this.code == 0;
  }
}

/** Decodes an image (EXIF orientation applied) to channels 1 (grey) or 3 (RGB); with
 * maxSide > 0 a larger image is shrunk so its longer side is maxSide. */
export function decode(image: Uint8Array, channels: i32, maxSide: i32 = 0): Pixels {
  const n = raw.wasmfleet_image_decode(
    image.dataStart, <u32>image.length, channels, maxSide, info,
  );
  if (n < 0) return new Pixels(n, new Uint8Array(0), 0, 0, channels);
  const pixels = claim(<usize>load<u32>(info), n);
  return new Pixels(0, pixels, <i32>load<u32>(info, 4), <i32>load<u32>(info, 8), channels);
}

/** Encodes width*height*channels row-major bytes (channels 1 or 3) as a JPEG of quality
 * 1..95 (0: 85). */
export function encode(
  pixels: Uint8Array, width: i32, height: i32, channels: i32, quality: i32 = 0,
): Jpeg {
  const n = raw.wasmfleet_image_encode(pixels.dataStart, width, height, channels, quality, info);
  if (n < 0) return new Jpeg(n, new Uint8Array(0));
  return new Jpeg(0, claim(<usize>load<u32>(info), <i32>load<u32>(info, 4)));
}
