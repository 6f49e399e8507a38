//! The element type a cache stores per pixel.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The element type of the stored pixels.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Dtype {
    /// One byte per pixel, 0..=255, as decoded.
    #[default]
    U8,
    /// One little-endian `f32` per pixel, `pixel / 255.0`.
    F32,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::F32 => 4,
        }
    }

    /// The code stored in the header.
    pub(crate) fn code(self) -> u32 {
        match self {
            Dtype::U8 => 0,
            Dtype::F32 => 1,
        }
    }

    /// The element type of a header code, if it is one.
    pub(crate) fn from_code(code: u32) -> Option<Dtype> {
        match code {
            0 => Some(Dtype::U8),
            1 => Some(Dtype::F32),
            _ => None,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::U8 => "u8",
            Dtype::F32 => "f32",
        })
    }
}
