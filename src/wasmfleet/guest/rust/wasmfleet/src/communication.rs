//! The wasmiot `communication.rpcCall` function: call another module's function.

use crate::raw;

/// Calls `function` of `module` (in the caller's deployment) with `data`; on success the
/// answer is copied over `data` (at most `data.len()` bytes). `Err(status)` when the call
/// failed or the device has no way to make it (the reason is in the device log).
pub fn rpc_call(module: &str, function: &str, data: &mut [u8]) -> Result<(), i32> {
    let status = unsafe {
        raw::rpc_call(
            module.as_ptr(),
            module.len() as u32,
            function.as_ptr(),
            function.len() as u32,
            data.as_mut_ptr(),
            data.len() as u32,
        )
    };
    if status == 0 {
        Ok(())
    } else {
        Err(status)
    }
}
