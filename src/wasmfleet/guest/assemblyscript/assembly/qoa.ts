// qoa.ts - wasmfleet.qoa_report: quality of analytics of one inference (every device).
import * as raw from "./raw";

/** Reports how long an inference took (ms, >= 0) and how sure its result is (0..1); 0, or -1
 * (nothing recorded) for NaN, infinite or negative values or a confidence over 1. */
export function report(latencyMs: f32, confidence: f32): i32 {
  return raw.wasmfleet_qoa_report(latencyMs, confidence);
}
