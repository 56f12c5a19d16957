//! `wasmfleet.qoa_report`: the quality of analytics of one inference.

use crate::raw;

/// Reports how long one inference of the function being called took (`latency_ms` >= 0)
/// and how confident its result is (0..1). The supervisor keeps per-function aggregates
/// (`GET /health`, "qoa"). `Err(-1)` (nothing recorded) for a NaN, infinite or negative
/// value or a confidence over 1.
pub fn report(latency_ms: f32, confidence: f32) -> Result<(), i32> {
    let code = unsafe { raw::qoa_report(latency_ms, confidence) };
    if code == 0 {
        Ok(())
    } else {
        Err(code)
    }
}
