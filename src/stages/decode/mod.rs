//! `Decode`: reads image files and decodes them to 8-bit grayscale, at full or half size.
//!
//! `scale: Half` decodes JPEGs straight to half size in the DCT domain ([`half`]), which
//! skips most of the decoding work and the 2x resize after it; images that decoder does not
//! handle (colour or progressive JPEGs, other formats) are decoded in full and then halved
//! by a 2x2 box, so every image comes out the same way.
//!
//! A JPEG whose data stops before its end-of-image marker is an error (the `on_error`
//! policy decides), although both decoders could fill the missing part with gray as libjpeg
//! does: a truncated download would otherwise train as a face with a gray lower half.

pub mod half;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use image::ImageReader;
use serde::{Deserialize, Serialize};

use super::{check_parallelism, Build, BuildContext, BuildError, OnError};
use crate::data::ImageEntry;
use crate::engine::{ImageItem, StageContext, StageError, Transform, TransformStage};
use crate::errors::chain;
use crate::problem::Problem;

/// Settings of the `Decode` stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    /// Decoder threads; JPEG decoding is the most expensive image step, so use every core.
    pub workers: usize,
    /// Capacity of the output channel, in images.
    pub capacity: usize,
    /// What to do with a file that cannot be read or decoded.
    pub on_error: OnError,
    /// The size to decode at: `Full`, or `Half` (250x250 LFW-a images come out 125x125).
    pub scale: Scale,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            capacity: 32,
            on_error: OnError::Report,
            scale: Scale::Full,
        }
    }
}

/// The size the decoder produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Scale {
    /// The image as stored.
    #[default]
    Full,
    /// `ceil(width / 2) x ceil(height / 2)`: the 2x2 box average of the full image (what
    /// `Resize`'s `Bilinear` gives for an exact halving), computed in the DCT domain for
    /// grayscale baseline JPEGs: about 1.7x faster than decoding in full, and no resize after.
    Half,
}

impl Scale {
    /// The decoded side for a source side of `full` pixels.
    pub fn apply(self, full: u32) -> u32 {
        match self {
            Scale::Full => full,
            Scale::Half => full.div_ceil(2),
        }
    }
}

impl DecodeConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        check_parallelism(path, self.workers, self.capacity, out);
    }
}

impl Build<&BuildContext<'_>> for DecodeConfig {
    type Runtime = TransformStage<ImageEntry, ImageItem>;

    /// One decoder per worker.
    fn build(&self, _ctx: &BuildContext<'_>) -> Result<Self::Runtime, BuildError> {
        Ok(TransformStage {
            name: "decode".into(),
            capacity: self.capacity,
            workers: (0..self.workers)
                .map(|_| Box::new(Decode::new(self.on_error, self.scale)) as Box<_>)
                .collect(),
        })
    }
}

/// How near the end of a JPEG its end-of-image marker must lie. Encoders write it last;
/// some pad a few bytes after it. All 13,233 LFW-a files have it in their last 64 bytes,
/// the two whose scan libjpeg calls "premature" included.
const EOI_WINDOW: usize = 64;

/// Refuses a JPEG cut short: one without the end-of-image marker (`FF D9`) near its end.
/// Entropy-coded data stuffs every `FF` byte, so the pair only occurs as a marker. Other
/// formats pass (their decoders find truncation themselves).
///
/// # Errors
/// A decoding error saying the file is truncated.
pub fn check_complete(bytes: &[u8]) -> Result<(), image::ImageError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(());
    }
    let tail = &bytes[bytes.len().saturating_sub(EOI_WINDOW)..];
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Ok(());
    }
    Err(image::ImageError::Decoding(
        image::error::DecodingError::new(
            image::error::ImageFormatHint::Exact(image::ImageFormat::Jpeg),
            "the data ends before the end-of-image marker: the file is truncated",
        ),
    ))
}

/// Decodes encoded bytes (any format the image crate was built with) to grayscale.
///
/// # Errors
/// The decoder's error, or [`check_complete`]'s.
pub fn decode_gray(bytes: &[u8]) -> Result<image::GrayImage, image::ImageError> {
    check_complete(bytes)?;
    decode_full(bytes)
}

/// [`decode_gray`] for bytes [`check_complete`] already passed.
fn decode_full(bytes: &[u8]) -> Result<image::GrayImage, image::ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    Ok(reader.decode()?.into_luma8())
}

/// A decoded grayscale image: `(width, height, row-major pixels)`.
pub type Gray = (u32, u32, Vec<u8>);

/// Decodes at one scale; keeps what the half-size decoder reuses between images.
#[derive(Default)]
pub struct Decoder {
    scale: Scale,
    half: half::Decoder,
}

impl Decoder {
    /// A decoder producing images at `scale`.
    pub fn new(scale: Scale) -> Self {
        Self {
            scale,
            half: half::Decoder::default(),
        }
    }

    /// Decodes encoded bytes to grayscale at this decoder's scale.
    ///
    /// # Errors
    /// The full decoder's error; at half scale, only when the full decoder cannot decode the
    /// bytes either (the half-size decoder's refusals fall back to it).
    pub fn decode(&mut self, bytes: &[u8]) -> Result<Gray, image::ImageError> {
        check_complete(bytes)?;
        if self.scale == Scale::Half {
            if let Ok(img) = self.half.decode(bytes) {
                return Ok((img.width, img.height, img.pixels));
            }
        }
        let img = decode_full(bytes)?;
        let (width, height) = img.dimensions();
        Ok(match self.scale {
            Scale::Full => (width, height, img.into_raw()),
            Scale::Half => (
                width.div_ceil(2),
                height.div_ceil(2),
                super::resize::halve(img.as_raw(), width as usize, height as usize),
            ),
        })
    }
}

/// The runtime decoder.
pub struct Decode {
    on_error: OnError,
    decoder: Decoder,
    /// The file being decoded, kept between items so reading allocates nothing.
    buffer: Vec<u8>,
}

impl Decode {
    /// A decoder with the given error policy and scale.
    pub fn new(on_error: OnError, scale: Scale) -> Self {
        Self {
            on_error,
            decoder: Decoder::new(scale),
            buffer: Vec::new(),
        }
    }
}

/// Reads a whole file into `buffer`, replacing what it held.
fn read_into(path: &Path, buffer: &mut Vec<u8>) -> std::io::Result<()> {
    buffer.clear();
    File::open(path)?.read_to_end(buffer).map(|_| ())
}

impl Transform<ImageEntry, ImageItem> for Decode {
    fn process(
        &mut self,
        entry: ImageEntry,
        ctx: &StageContext,
        out: &mut Vec<ImageItem>,
    ) -> Result<(), StageError> {
        let decoded = read_into(&entry.path, &mut self.buffer)
            .map_err(|source| StageError::Read {
                path: entry.path.clone(),
                source,
            })
            .and_then(|()| {
                self.decoder
                    .decode(&self.buffer)
                    .map_err(|source| StageError::Decode {
                        path: entry.path.clone(),
                        source,
                    })
            });
        match decoded {
            Ok((width, height, pixels)) => {
                out.push(ImageItem {
                    key: entry.key,
                    width,
                    height,
                    pixels,
                });
                Ok(())
            }
            Err(err) if self.on_error != OnError::Abort => {
                // The item names the file, so the reason need not repeat it.
                let reason = match &err {
                    StageError::Read { source, .. } => format!("cannot read: {}", chain(source)),
                    StageError::Decode { source, .. } => {
                        format!("cannot decode: {}", chain(source))
                    }
                    other => chain(other),
                };
                ctx.skip(entry.path.display(), reason.trim_end());
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}
