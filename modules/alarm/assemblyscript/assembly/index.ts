// alarm: checks the DHT sensor against a limit the caller passes, and remembers the highest
// reading (docs/module-authors.md, "Worked example: a temperature alarm", in AssemblyScript).
import { dht } from "wasmfleet";

// Module state: kept between calls.
let highestSeen: f32 = -1000.0;

// @wasmfleet module alarm 1.0.0

// @wasmfleet function check
// @wasmfleet summary 1 when the temperature is above the limit.
// @wasmfleet param limit f32
// @wasmfleet returns i32
export function check(limit: f32): i32 {
  const now = dht.temperature();
  if (now > highestSeen) highestSeen = now;
  return now > limit ? 1 : 0;
}

// @wasmfleet function highest
// @wasmfleet summary The highest temperature seen so far.
// @wasmfleet returns f32
export function highest(): f32 {
  return highestSeen;
}
