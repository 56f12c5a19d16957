// sys.ts - the wasmiot `sys` host functions with AssemblyScript types.
import * as raw from "./raw";

/** Milliseconds from an arbitrary origin (wraps at 2^31). */
export function millis(): i32 {
  return raw.millis();
}

/** Blocks the module for ms milliseconds (never past the call's time limit: it traps then). */
export function delay(ms: i32): void {
  raw.delay(ms);
}

/** Writes text (as UTF-8) to the device log. */
export function print(text: string): void {
  const bytes = String.UTF8.encode(text);
  raw.print(changetype<usize>(bytes), <u32>bytes.byteLength);
}

/** Writes text and a newline to the device log. */
export function println(text: string): void {
  const bytes = String.UTF8.encode(text);
  raw.println(changetype<usize>(bytes), <u32>bytes.byteLength);
}

/** Writes a decimal integer to the device log. */
export function printInt(value: i32): void {
  raw.printInt(value);
}
