// __NAME__: a wasmfleet module in AssemblyScript.
//
// Build: `wasmfleet build` in this folder (build/__NAME__.wasm and build/description.json,
// the description generated from the @wasmfleet lines below). Test: `npm test`.
import { sys, alloc, textFn, reject } from "wasmfleet";

// The host writes request bodies into buffers from this allocator: export it.
export { alloc };

// Module state: the supervisor keeps one instance per deployment, so it lasts between calls.
let calls: i32 = 0;

// @wasmfleet module __NAME__ 0.1.0

// @wasmfleet function add
// @wasmfleet summary The sum of two integers.
// @wasmfleet param a i32
// @wasmfleet param b i32
// @wasmfleet returns i32
export function add(a: i32, b: i32): i32 {
  calls++;
  return a + b;
}

// @wasmfleet function count
// @wasmfleet summary How many calls this instance has answered before this one.
// @wasmfleet returns i32
export function count(): i32 {
  return calls;
}

// @wasmfleet function greet
// @wasmfleet summary A greeting for the name sent as the request body.
// @wasmfleet param name bytes text/plain
// @wasmfleet returns bytes text/plain
export function greet(ptr: i32, len: i32): i64 {
  return textFn(ptr, len, greeting);
}

function greeting(name: string): string | null {
  if (name.length == 0) {
    reject(); // an empty name: the call fails with code "rejected"
    return null;
  }
  calls++;
  sys.println("greeting " + name);
  return "Hello, " + name + "!";
}
