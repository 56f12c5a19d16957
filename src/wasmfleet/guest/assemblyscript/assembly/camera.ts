// camera.ts - the wasmiot `camera` (offered by devices with a camera, real or simulated).
import * as raw from "./raw";
import { claim } from "./bytes";

/** Two u32 the host writes the image's address and length into. */
const slots = memory.data(8, 4);

/** A JPEG from the camera, as large as it is (the host writes it into a buffer from the
 * module's alloc(): export alloc from your module to use this). */
export function takeImage(): Uint8Array {
  raw.takeImageDynamicSize(slots, slots + 4);
  return claim(<usize>load<u32>(slots), <i32>load<u32>(slots + 4));
}

/** Writes at most into.length bytes of a JPEG into `into`; returns the number written (a
 * larger image is cut short). Needs no alloc export. */
export function takeImageInto(into: Uint8Array): i32 {
  store<u32>(slots, <u32>into.length);
  raw.takeImageStaticSize(into.dataStart, slots);
  return <i32>load<u32>(slots);
}
