//! The wasmfleet bytes ABI (version 1): buffers the host fills through `alloc`, and output
//! buffers returned as a packed `i64`.
//!
//! - The module exports `alloc(i32 len) -> i32` ([`export_alloc!`](crate::export_alloc)).
//!   The host calls it for a message payload (bytes ABI), a camera picture
//!   (`camera.takeImageDynamicSize`) and decoded or encoded images (`wasmfleet.image_*`).
//! - A bytes function `f(i32 ptr, i32 len) -> i64` ([`bytes_fn!`](crate::bytes_fn)) gets
//!   the payload the host copied into such a buffer (`f(0, 0)` for an empty one) and
//!   returns `(ptr << 32) | len` of its output, `0` for no output, or a negative code that
//!   rejects the input (a triggering message goes to the dead-letter topic).
//!
//! This module keeps the bookkeeping: [`alloc`] remembers each buffer it hands out, so a
//! wrapper takes back exactly the buffers the host was given ([`take_host_buffer`]) and
//! refuses any other `(ptr, len)` with [`E_FOREIGN_BUFFER`] instead of freeing memory it
//! does not own; the last output stays alive until the next one replaces it (the host
//! copies it right after the call).

use std::alloc::{alloc as raw_alloc, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Returned by a bytes function called with a `(ptr, len)` that `alloc` did not hand out
/// (say, numbers typed into a URL): the input is rejected, no memory is touched.
pub const E_FOREIGN_BUFFER: i64 = -1000;

/// What a bytes function's `Err(code)` becomes when `code` is not negative.
pub const E_REJECTED: i64 = -1;

/// At most this many host buffers may be outstanding (handed out by `alloc`, not yet taken
/// back); `alloc` returns 0 beyond it, which the host reports as a failed allocation.
pub const MAX_OUTSTANDING: usize = 4096;

thread_local! {
    static OUTSTANDING: RefCell<Vec<(usize, usize)>> = RefCell::new(Vec::new());
    static OUTPUT: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

/// The body of the exported `alloc(len)`: a buffer of `len` bytes, or 0 when `len` is
/// negative or memory ran out.
pub fn alloc(len: i32) -> i32 {
    if len < 0 {
        return 0;
    }
    let size = len as usize;
    let ptr = if size == 0 {
        NonNull::<u8>::dangling().as_ptr()
    } else {
        let layout = match Layout::from_size_align(size, 1) {
            Ok(layout) => layout,
            Err(_) => return 0,
        };
        // SAFETY: the layout has a non-zero size.
        unsafe { raw_alloc(layout) }
    };
    if ptr.is_null() {
        return 0;
    }
    let kept = OUTSTANDING.with(|outstanding| {
        let mut outstanding = outstanding.borrow_mut();
        if outstanding.len() >= MAX_OUTSTANDING {
            return false;
        }
        outstanding.push((ptr as usize, size));
        true
    });
    if !kept {
        // SAFETY: allocated just above with this size (and not at all when it is 0).
        unsafe { drop(Vec::from_raw_parts(ptr, 0, size)) };
        return 0;
    }
    ptr as usize as i32
}

/// Takes back the buffer `alloc(len)` returned as `ptr`, as a `Vec` that frees it when
/// dropped; `None` when `(ptr, len)` is not such a buffer.
pub fn take_host_buffer(ptr: i32, len: i32) -> Option<Vec<u8>> {
    let key = (ptr as u32 as usize, len as u32 as usize);
    let found = OUTSTANDING.with(|outstanding| {
        let mut outstanding = outstanding.borrow_mut();
        match outstanding.iter().position(|entry| *entry == key) {
            Some(index) => {
                outstanding.swap_remove(index);
                true
            }
            None => false,
        }
    });
    if !found {
        return None;
    }
    if key.1 == 0 {
        return Some(Vec::new());
    }
    // SAFETY: `alloc` allocated exactly `len` bytes with alignment 1 at `ptr`, and the
    // host wrote `len` bytes there; the entry is removed, so this happens once.
    Some(unsafe { Vec::from_raw_parts(key.0 as *mut u8, key.1, key.1) })
}

/// `(ptr << 32) | len`: an output buffer as a bytes function's `i64` result.
pub fn pack(ptr: *const u8, len: usize) -> i64 {
    (((ptr as usize as u64) << 32) | (len as u32 as u64)) as i64
}

/// Keeps `bytes` alive until the next output and returns it packed (0 when empty).
pub fn keep_output(bytes: Vec<u8>) -> i64 {
    let packed = if bytes.is_empty() {
        0
    } else {
        pack(bytes.as_ptr(), bytes.len())
    };
    OUTPUT.with(|output| *output.borrow_mut() = bytes);
    packed
}

/// A rejection code as a bytes function's result: negative codes as they are, others -1.
pub fn reject(code: i32) -> i64 {
    if code < 0 {
        code as i64
    } else {
        E_REJECTED
    }
}

/// What a bytes function may return: its output (kept alive for the host) packed into
/// the `i64` result.
///
/// `Vec<u8>`, `String`, `&[u8]`, `&str` are the output (empty: no output); `()` and
/// `None` are no output; `Err(code)` rejects the input (negative codes as they are,
/// others become -1).
pub trait Output {
    /// The packed `i64` result.
    fn into_packed(self) -> i64;
}

impl Output for Vec<u8> {
    fn into_packed(self) -> i64 {
        keep_output(self)
    }
}

impl Output for String {
    fn into_packed(self) -> i64 {
        keep_output(self.into_bytes())
    }
}

impl<'a> Output for &'a [u8] {
    fn into_packed(self) -> i64 {
        keep_output(self.to_vec())
    }
}

impl<'a> Output for &'a str {
    fn into_packed(self) -> i64 {
        keep_output(self.as_bytes().to_vec())
    }
}

impl Output for () {
    fn into_packed(self) -> i64 {
        0
    }
}

impl<T: Output> Output for Option<T> {
    fn into_packed(self) -> i64 {
        match self {
            Some(value) => value.into_packed(),
            None => 0,
        }
    }
}

impl<T: Output> Output for Result<T, i32> {
    fn into_packed(self) -> i64 {
        match self {
            Ok(value) => value.into_packed(),
            Err(code) => reject(code),
        }
    }
}

/// The body of an exported bytes function: takes the payload buffer back, runs `body` on
/// it, frees it and returns the packed output. Used by [`bytes_fn!`](crate::bytes_fn).
pub fn call_bytes<O, F>(ptr: i32, len: i32, body: F) -> i64
where
    O: Output,
    F: FnOnce(&[u8]) -> O,
{
    crate::init();
    let input = if ptr == 0 && len == 0 {
        Vec::new()
    } else {
        match take_host_buffer(ptr, len) {
            Some(buffer) => buffer,
            None => return E_FOREIGN_BUFFER,
        }
    };
    let output = body(&input);
    drop(input);
    output.into_packed()
}

/// Exports `alloc(i32 len) -> i32` for the host (the bytes ABI, the camera, images).
/// Invoke it once, in the crate root (`src/lib.rs`): `wasmfleet::export_alloc!();`
#[macro_export]
macro_rules! export_alloc {
    () => {
        /// `wasmfleet::bytes_fn!` checks that `wasmfleet::export_alloc!()` is in the crate root.
        #[doc(hidden)]
        #[allow(dead_code)]
        pub(crate) const WASMFLEET_EXPORT_ALLOC: () = ();

        const _: () = {
            #[export_name = "alloc"]
            pub extern "C" fn __wasmfleet_alloc(len: i32) -> i32 {
                $crate::abi::alloc(len)
            }
        };
    };
}

/// Exports a bytes-ABI function `NAME(i32 ptr, i32 len) -> i64` that runs a Rust function
/// `fn(&[u8]) -> impl Output` on the payload:
///
/// ```ignore
/// wasmfleet::export_alloc!();
/// wasmfleet::bytes_fn!(hot);                  // export `hot` runs fn hot(&[u8]) -> ...
/// wasmfleet::bytes_fn!(check => check_reading);   // export `check` runs check_reading
/// ```
///
/// Needs [`export_alloc!`](crate::export_alloc) in the crate root: without it the build
/// fails with "cannot find value `WASMFLEET_EXPORT_ALLOC` in the crate root".
#[macro_export]
macro_rules! bytes_fn {
    ($export:ident) => {
        $crate::bytes_fn!($export => $export);
    };
    ($export:ident => $body:path) => {
        const _: () = {
            #[allow(clippy::let_unit_value)]
            let _alloc_is_exported = crate::WASMFLEET_EXPORT_ALLOC;

            #[export_name = stringify!($export)]
            pub extern "C" fn __wasmfleet_bytes_fn(ptr: i32, len: i32) -> i64 {
                $crate::abi::call_bytes(ptr, len, $body)
            }
        };
    };
}
