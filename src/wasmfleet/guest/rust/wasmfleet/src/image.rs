//! `wasmfleet.image_decode` and `wasmfleet.image_encode`: images without a codec in Wasm.
//!
//! The host writes the pixels (or the JPEG) into a buffer it gets from the module's
//! `alloc`: export it with [`export_alloc!`](crate::export_alloc). Offered wherever
//! Pillow is installed (every device with a normal wasmfleet install).

use std::fmt;

use crate::{abi, raw};

/// Decoded pixels, row-major, `channels` bytes per pixel (1: grey, 3: RGB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// `width * height * channels` bytes.
    pub pixels: Vec<u8>,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// 1 or 3.
    pub channels: u8,
}

/// Why an image could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// -1: not a JPEG/PNG/BMP/GIF/WebP/PPM/PGM image, or corrupt.
    Format,
    /// -2: bad channels, max_side, size or quality (or pixels not width*height*channels).
    Args,
    /// -4: more than 4096*4096 pixels.
    TooLarge,
    /// -5: the module exports no `alloc`, or it returned 0.
    Alloc,
    /// A code this version of the crate does not know.
    Other(i32),
}

impl ImageError {
    /// The error for a negative result of the host function.
    pub fn from_code(code: i32) -> Self {
        match code {
            -1 => ImageError::Format,
            -2 => ImageError::Args,
            -4 => ImageError::TooLarge,
            -5 => ImageError::Alloc,
            other => ImageError::Other(other),
        }
    }

    /// The host's code (`WASMFLEET_IMAGE_E*` in wasmfleet.h).
    pub fn code(self) -> i32 {
        match self {
            ImageError::Format => -1,
            ImageError::Args => -2,
            ImageError::TooLarge => -4,
            ImageError::Alloc => -5,
            ImageError::Other(code) => code,
        }
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ImageError::Format => "not an image of a known format, or corrupt",
            ImageError::Args => "bad channels, size or quality",
            ImageError::TooLarge => "more than 4096*4096 pixels",
            ImageError::Alloc => "the module exports no alloc (wasmfleet::export_alloc!())",
            ImageError::Other(_) => "unknown error",
        };
        write!(f, "{} (code {})", text, self.code())
    }
}

fn taken(ptr: u32, len: usize) -> Vec<u8> {
    match abi::take_host_buffer(ptr as i32, len as i32) {
        Some(buffer) => buffer,
        None => panic!(
            "wasmfleet.image_* wrote to a buffer wasmfleet's alloc did not hand out: export \
             alloc with wasmfleet::export_alloc!() in src/lib.rs"
        ),
    }
}

/// Decodes `src` (JPEG, PNG, BMP, GIF first frame, WebP, PPM/PGM), applies its EXIF
/// orientation, converts it to `channels` (1 or 3) and, with `max_side` > 0, shrinks it so
/// its longer side is `max_side`.
pub fn decode(src: &[u8], channels: u8, max_side: u32) -> Result<Image, ImageError> {
    if max_side > i32::MAX as u32 {
        return Err(ImageError::Args);
    }
    let mut info = [0u32; 3];
    let size = unsafe {
        raw::image_decode(
            src.as_ptr(),
            src.len() as u32,
            channels as i32,
            max_side as i32,
            info.as_mut_ptr(),
        )
    };
    if size < 0 {
        return Err(ImageError::from_code(size));
    }
    Ok(Image {
        pixels: taken(info[0], size as usize),
        width: info[1],
        height: info[2],
        channels,
    })
}

/// Encodes row-major pixels (`channels` 1 or 3) as a JPEG of `quality` 1..95 (0: 85).
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: u8,
    quality: u8,
) -> Result<Vec<u8>, ImageError> {
    let expected = (width as u64) * (height as u64) * (channels as u64);
    if expected != pixels.len() as u64 || width > 65535 || height > 65535 {
        return Err(ImageError::Args);
    }
    let mut out = [0u32; 2];
    let size = unsafe {
        raw::image_encode(
            pixels.as_ptr(),
            width as i32,
            height as i32,
            channels as i32,
            quality as i32,
            out.as_mut_ptr(),
        )
    };
    if size < 0 {
        return Err(ImageError::from_code(size));
    }
    Ok(taken(out[0], out[1] as usize))
}
