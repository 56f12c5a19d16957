//! The wasmiot `sys` functions: time, delays and the device log.

use crate::raw;

/// Milliseconds from an arbitrary origin (wraps around; compare differences).
pub fn millis() -> i32 {
    unsafe { raw::millis() }
}

/// Blocks the module for `ms` milliseconds (the call fails if that passes its time limit).
pub fn delay(ms: i32) {
    unsafe { raw::delay(ms) }
}

/// Writes `text` to the device log.
pub fn print(text: &str) {
    unsafe { raw::print(text.as_ptr(), text.len() as u32) }
}

/// Writes `text` and a newline to the device log (see also [`log!`](crate::log)).
pub fn println(text: &str) {
    unsafe { raw::println(text.as_ptr(), text.len() as u32) }
}

/// Writes a decimal integer to the device log.
pub fn print_int(value: i32) {
    unsafe { raw::print_int(value) }
}
