// communication.ts - the wasmiot `communication.rpcCall`.
import * as raw from "./raw";

/** Calls function `func` of module `mod` of the same deployment with `data`; the answer is
 * written back over `data` (at most data.length bytes). 0 on success, else non-zero. */
export function rpcCall(mod: string, func: string, data: Uint8Array): i32 {
  const m = String.UTF8.encode(mod);
  const f = String.UTF8.encode(func);
  return raw.rpcCall(
    changetype<usize>(m), <u32>m.byteLength,
    changetype<usize>(f), <u32>f.byteLength,
    data.dataStart, <u32>data.length,
  );
}
