// abort.ts - an abort handler that needs no `env.abort` host function.
//
// AssemblyScript calls abort(message, file, line, column) on a failed assertion, an index
// out of range, a null dereference or a `throw`; by default that is the import `env.abort`.
// Built with `--use abort=~lib/wasmfleet/assembly/abort/abortToLog` (asc wants the internal
// name; asconfig.json "use"), a module calls this instead: it writes
// "abort: MESSAGE at FILE:LINE:COLUMN" to the device log with sys.println and traps. It
// allocates nothing (the allocator itself may be what failed): the text is copied into a
// static buffer, characters outside ASCII as '?'.
import * as raw from "./raw";

// Only constants at the top level: asc compiles an abort handler before the file's globals
// are initialised, so a mutable global here fails ("used before its declaration").
const CAPACITY: i32 = 512;

function put(line: usize, used: i32, text: string | null): i32 {
  if (text === null) return used;
  const s = changetype<string>(text);
  for (let i = 0; i < s.length && used < CAPACITY; i++) {
    const c = s.charCodeAt(i);
    store<u8>(line + <usize>used, c < 0x20 || c > 0x7e ? 0x3f : <u8>c);
    used++;
  }
  return used;
}

function putNumber(line: usize, used: i32, value: u32): i32 {
  let digits: u32 = 1;
  for (let v = value; v >= 10; v /= 10) digits *= 10;
  for (; digits > 0 && used < CAPACITY; digits /= 10) {
    store<u8>(line + <usize>used, <u8>(0x30 + (value / digits) % 10));
    used++;
  }
  return used;
}

/** Logs the abort through sys.println and traps (see the top of this file). */
export function abortToLog(
  message: string | null, fileName: string | null, lineNumber: u32, columnNumber: u32,
): void {
  const line = memory.data(CAPACITY);
  let used = put(line, 0, "abort: ");
  used = put(line, used, message);
  used = put(line, used, " at ");
  used = put(line, used, fileName);
  used = put(line, used, ":");
  used = putNumber(line, used, lineNumber);
  used = put(line, used, ":");
  used = putNumber(line, used, columnNumber);
  raw.println(line, <u32>used);
  unreachable();
}
