// bytes.ts - the wasmfleet bytes ABI (version 1) for AssemblyScript.
//
// The host hands bytes in through the module's exported `alloc(len) -> ptr` and takes bytes
// out as a packed i64, `(ptr << 32) | len` (runtime/bytes_abi.py). Here:
//
//   - `alloc` makes an ArrayBuffer and keeps it in `live` until the module claims it with
//     `input(ptr, len)` (or a wrapper such as camera.takeImage does): the garbage collector
//     cannot free a buffer the host is about to fill, whatever the runtime (stub, minimal,
//     incremental);
//   - `output(data)` packs a buffer and keeps a reference to it in `kept` until the next
//     output, so it is still there when the host copies it out after the call returns.
//
// An author exports `alloc` and one wrapper per bytes function:
//
//   import { alloc, bytesFn } from "wasmfleet";
//   export { alloc };
//   export function check(ptr: i32, len: i32): i64 { return bytesFn(ptr, len, checkBytes); }
//   function checkBytes(input: Uint8Array): Uint8Array | null { ... }

/** Buffers alloc() handed to the host and nobody has claimed yet, by address. */
const live = new Map<usize, ArrayBuffer>();

/** The last output: referenced until the next one so the host can copy it out. */
let kept: Uint8Array | null = null;

/** The code reject() set during the current bytesFn/textFn call (0: none). */
let rejected: i32 = 0;

/** The buffer allocator the host calls (export it from your module: `export { alloc }`). */
export function alloc(len: i32): i32 {
  const buffer = new ArrayBuffer(len > 0 ? len : 0);
  const ptr = changetype<usize>(buffer);
  live.set(ptr, buffer);
  return <i32>ptr;
}

/** The first len bytes of the buffer alloc() gave out at ptr, now owned by the module again
 * (ptr 0 and len 0: empty). Aborts for an address alloc() did not give out. */
export function claim(ptr: usize, len: i32): Uint8Array {
  if (ptr == 0 && len == 0) return new Uint8Array(0);
  if (!live.has(ptr)) {
    throw new Error("wasmfleet: " + ptr.toString() + " is not a buffer from alloc()");
  }
  const buffer = live.get(ptr);
  live.delete(ptr);
  if (len < 0 || len > buffer.byteLength) {
    throw new Error("wasmfleet: length " + len.toString() + " is over the allocated buffer");
  }
  return Uint8Array.wrap(buffer, 0, len);
}

/** The request body or message payload a bytes-ABI export received as (ptr, len). */
export function input(ptr: i32, len: i32): Uint8Array {
  return claim(<usize>ptr, len);
}

/** input() decoded as UTF-8 text. */
export function inputText(ptr: i32, len: i32): string {
  const data = input(ptr, len);
  return String.UTF8.decodeUnsafe(data.dataStart, <usize>data.length);
}

/** Packs an address and a length as a bytes-ABI result. */
export function pack(ptr: usize, len: u32): i64 {
  return <i64>((<u64>ptr << 32) | <u64>len);
}

/** The bytes-ABI result for data (null or empty: no output); keeps data alive until the next
 * output, so the host can copy it after the call. */
export function output(data: Uint8Array | null): i64 {
  kept = data;
  if (data === null || data.length == 0) return 0;
  return pack(data.dataStart, <u32>data.length);
}

/** output() of text as UTF-8 (null: no output). */
export function outputText(text: string | null): i64 {
  if (text === null) return output(null);
  return output(Uint8Array.wrap(String.UTF8.encode(text)));
}

/** Marks the input of the current bytesFn/textFn call as rejected with a negative code
 * (default -1): the call fails with code `rejected` and a triggering message goes to the
 * dead-letter topic. Return null after it. */
export function reject(code: i32 = -1): void {
  rejected = code < 0 ? code : -1;
}

function finish(result: i64): i64 {
  if (rejected == 0) return result;
  const code = rejected;
  rejected = 0;
  kept = null;
  return <i64>code;
}

/** Runs fn on the input bytes of a bytes-ABI export and returns its packed result: what fn
 * returns (null: no output), or the code it passed to reject(). */
export function bytesFn(ptr: i32, len: i32, fn: (input: Uint8Array) => Uint8Array | null): i64 {
  rejected = 0;
  const result = fn(input(ptr, len));
  return finish(output(result));
}

/** bytesFn for text: fn gets the input as UTF-8 text and returns text (or null). */
export function textFn(ptr: i32, len: i32, fn: (input: string) => string | null): i64 {
  rejected = 0;
  const result = fn(inputText(ptr, len));
  return finish(outputText(result));
}
