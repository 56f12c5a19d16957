//! The wasmiot `camera` functions: one JPEG picture from the device's camera.
//!
//! Devices without a camera do not offer them: a module calling them deploys only where
//! there is one.

use crate::{abi, raw};

/// Takes a picture and returns its JPEG bytes (`camera.takeImageDynamicSize`).
///
/// The host writes the picture into a buffer it gets from the module's `alloc`, so the
/// module must export it with [`export_alloc!`](crate::export_alloc).
pub fn take_image() -> Vec<u8> {
    let mut ptr: *mut u8 = std::ptr::null_mut();
    let mut len: u32 = 0;
    unsafe { raw::take_image_dynamic_size(&mut ptr, &mut len) };
    match abi::take_host_buffer(ptr as usize as i32, len as i32) {
        Some(image) => image,
        None => panic!(
            "camera.takeImageDynamicSize wrote to a buffer wasmfleet's alloc did not hand out: \
             export alloc with wasmfleet::export_alloc!() in src/lib.rs"
        ),
    }
}

/// Takes a picture into `buffer` (`camera.takeImageStaticSize`): the number of JPEG bytes
/// written; a picture larger than the buffer is cut short.
pub fn take_image_into(buffer: &mut [u8]) -> usize {
    let mut size = buffer.len() as u32;
    unsafe { raw::take_image_static_size(buffer.as_mut_ptr(), &mut size) };
    size as usize
}
