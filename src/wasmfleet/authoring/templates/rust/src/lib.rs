//! __NAME__: a wasmfleet module in Rust.
//!
//! `wasmfleet build` compiles this crate to build/__NAME__.wasm (a wasm32-wasi reactor) and
//! turns the @wasmfleet comments into build/description.json: each declares an exported
//! function, its parameters in Wasm order and its result (docs/declarations.md). The
//! `wasmfleet` crate has the host functions (sensors, camera, MQTT, images, WASI-NN) and the
//! bytes ABI (docs/guest-rust.md).

// alloc(i32 len) -> i32: the host copies each request body into a buffer from it.
wasmfleet::export_alloc!();

// @wasmfleet function fahrenheit
// @wasmfleet summary Degrees Fahrenheit of a temperature in degrees Celsius.
// @wasmfleet param celsius f32
// @wasmfleet returns f32
#[no_mangle]
pub extern "C" fn fahrenheit(celsius: f32) -> f32 {
    celsius * 9.0 / 5.0 + 32.0
}

// @wasmfleet function shout
// @wasmfleet summary The text it is given, in upper case (at most 64 KiB).
// @wasmfleet param text bytes text/plain
// @wasmfleet returns bytes text/plain
wasmfleet::bytes_fn!(shout);

/// The text in upper case; empty text gives no output, more than 64 KiB is rejected.
fn shout(text: &[u8]) -> Result<Vec<u8>, i32> {
    if text.len() > 64 * 1024 {
        return Err(-1); // a negative code rejects the input
    }
    Ok(text.to_ascii_uppercase()) // the crate keeps the output alive for the host
}
