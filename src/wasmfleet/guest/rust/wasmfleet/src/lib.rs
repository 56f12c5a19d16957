//! `wasmfleet`: the guest library for wasmfleet modules written in Rust.
//!
//! Safe bindings for every host function a wasmfleet device offers — the wasmiot set
//! ([`sys`], [`camera`], [`dht`], [`communication`]), wasmfleet's own ([`mqtt`], [`image`],
//! [`qoa`], [`things`]) and WASI-NN ([`nn`]) — and the bytes ABI ([`abi`],
//! [`bytes_fn!`], [`export_alloc!`]). The raw imports are in [`raw`]; the C headers
//! (`guest/c/*.h`) are the reference this crate mirrors.
//!
//! A module is a `cdylib` for `wasm32-wasi`; scalar functions are plain exports:
//!
//! ```ignore
//! #[no_mangle]
//! pub extern "C" fn check(limit: f32) -> i32 {
//!     (wasmfleet::dht::temperature() > limit) as i32
//! }
//!
//! wasmfleet::export_alloc!();
//! wasmfleet::bytes_fn!(hot);
//! fn hot(reading: &[u8]) -> Result<Vec<u8>, i32> { Ok(reading.to_vec()) }
//! ```
//!
//! Linking this crate makes the module a WASI reactor: it exports `_initialize`, which the
//! supervisor calls once after instantiation (it runs wasi-libc's constructors, which find
//! the preopened directory holding the module's mounts). Hosts that never call it (the
//! original wasmiot supervisor) still work if the module calls [`init`] before its first
//! file access; bytes functions do it for you.
//!
//! Builds with Rust 1.63 (Debian bookworm's `rustc` and `libstd-rust-dev-wasm32`) and later,
//! no dependencies: see docs/guest-rust.md.

#![warn(missing_docs)]
#![allow(clippy::missing_safety_doc)]

pub mod abi;
pub mod camera;
pub mod communication;
pub mod dht;
pub mod image;
pub mod mqtt;
pub mod nn;
pub mod qoa;
#[allow(missing_docs)]
pub mod raw;
pub mod sys;
pub mod things;

use std::sync::atomic::{AtomicBool, Ordering};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Runs the module's constructors (wasi-libc's, which find the preopened directory) once,
/// unless `_initialize` already did. Call it before the first file access in a module
/// meant for hosts that do not call `_initialize`; calling it again does nothing.
pub fn init() {
    if !INITIALIZED.swap(true, Ordering::Relaxed) {
        #[cfg(target_arch = "wasm32")]
        {
            extern "C" {
                fn __wasm_call_ctors();
            }
            // SAFETY: wasm-ld defines it; it runs once, guarded by INITIALIZED.
            unsafe { __wasm_call_ctors() }
        }
    }
}

/// The WASI reactor entry point the supervisor calls once after instantiation.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn _initialize() {
    init();
}

/// Formats like `format!` and writes the line to the device log (`sys.println`).
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::sys::println(&::std::format!($($arg)*))
    };
}

/// The full text a host function wrote into a buffer of our choosing, asking again with a
/// buffer of the full length when the first one was too small. `call(buf)` returns the full
/// length, or a negative code.
pub(crate) fn read_text(
    first: usize,
    mut call: impl FnMut(&mut [u8]) -> i32,
) -> Result<Vec<u8>, i32> {
    let mut buffer = vec![0u8; first];
    for _ in 0..2 {
        let full = call(&mut buffer);
        if full < 0 {
            return Err(full);
        }
        let full = full as usize;
        if full <= buffer.len() {
            buffer.truncate(full);
            return Ok(buffer);
        }
        buffer = vec![0u8; full];
    }
    // It grew between the two calls: give what fits.
    Ok(buffer)
}
