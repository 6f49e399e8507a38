//! `Decode`: reads image files and decodes them to 8-bit grayscale, at any size.

use std::io::Cursor;

use image::ImageReader;
use serde::{Deserialize, Serialize};

use super::{check_parallelism, OnError};
use crate::pipeline::validate::Problem;
use crate::pipeline::{ImageItem, Item, StageContext, StageError, Transform};

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
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            capacity: 32,
            on_error: OnError::Report,
        }
    }
}

impl DecodeConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        check_parallelism(path, self.workers, self.capacity, out);
    }

    /// Builds one decoder per worker.
    pub fn build(&self) -> Vec<Box<dyn Transform>> {
        (0..self.workers)
            .map(|_| {
                Box::new(Decode {
                    on_error: self.on_error,
                }) as Box<dyn Transform>
            })
            .collect()
    }
}

/// The runtime decoder.
#[derive(Debug, Clone)]
pub struct Decode {
    on_error: OnError,
}

impl Decode {
    /// A decoder with the given error policy.
    pub fn new(on_error: OnError) -> Self {
        Self { on_error }
    }
}

/// Decodes encoded bytes (any format the image crate was built with) to grayscale.
///
/// # Errors
/// The decoder's error.
pub fn decode_gray(bytes: &[u8]) -> Result<image::GrayImage, image::ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    Ok(reader.decode()?.into_luma8())
}

impl Transform for Decode {
    fn process(
        &mut self,
        item: Item,
        ctx: &StageContext,
        out: &mut Vec<Item>,
    ) -> Result<(), StageError> {
        let Item::File(entry) = item else {
            return Err(StageError::UnexpectedItem {
                expected: "file",
                found: item.kind(),
            });
        };
        let decoded = std::fs::read(&entry.path)
            .map_err(|source| StageError::Read {
                path: entry.path.clone(),
                source,
            })
            .and_then(|bytes| {
                decode_gray(&bytes).map_err(|source| StageError::Decode {
                    path: entry.path.clone(),
                    source,
                })
            });
        match decoded {
            Ok(img) => {
                let (width, height) = img.dimensions();
                out.push(Item::Image(ImageItem {
                    key: entry.key,
                    width,
                    height,
                    pixels: img.into_raw(),
                }));
                Ok(())
            }
            Err(err) if self.on_error != OnError::Abort => {
                // The item names the file, so the reason need not repeat it.
                let reason = match &err {
                    StageError::Read { source, .. } => format!("cannot read: {source}"),
                    StageError::Decode { source, .. } => format!("cannot decode: {source}"),
                    other => other.to_string(),
                };
                ctx.skip(entry.path.display(), reason.trim_end());
                Ok(())
            }
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_jpeg_of_any_size_to_gray() {
        let img = image::GrayImage::from_fn(37, 23, |x, y| image::Luma([(x * 5 + y) as u8]));
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
            .expect("encode");
        let back = decode_gray(&bytes).expect("decode");
        assert_eq!(back.dimensions(), (37, 23));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_gray(b"\xff\xd8\xff\xe0 definitely not a jpeg").is_err());
        assert!(decode_gray(b"").is_err());
    }
}
