//! Image stores: random access to every decoded image by row, for the pair sampler.
//!
//! The memory-mapped cache is one store; [`MemoryStore`] is the other, filled by a sink when
//! a pipeline runs without a cache. Samplers only see the [`ImageStore`] trait, so both paths
//! feed the same downstream stages.

use std::collections::HashMap;

use crate::data::ImageKey;
use crate::pipeline::{Flow, Item, Sink, StageContext, StageError};

/// Read-only random access to equally sized grayscale images.
pub trait ImageStore: Send + Sync {
    /// Number of images.
    fn len(&self) -> usize;
    /// True when the store holds no image.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Image width in pixels.
    fn width(&self) -> usize;
    /// Image height in pixels.
    fn height(&self) -> usize;
    /// The key of the image in `row`.
    fn key(&self, row: usize) -> &ImageKey;
    /// The row of `key`, if stored.
    fn row_of(&self, key: &ImageKey) -> Option<usize>;
    /// Writes the image in `row` as floats in [0, 1] into `out` (`width * height` long).
    fn copy_f32(&self, row: usize, out: &mut [f32]);
}

/// Images held in one contiguous buffer, filled as a pipeline sink.
#[derive(Debug, Default)]
pub struct MemoryStore {
    width: usize,
    height: usize,
    keys: Vec<ImageKey>,
    rows: HashMap<ImageKey, usize>,
    pixels: Vec<u8>,
}

impl MemoryStore {
    /// An empty store; the first image fixes the size.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one image.
    ///
    /// # Errors
    /// When its size differs from the images before it, or its pixel count is wrong.
    pub fn push(
        &mut self,
        key: ImageKey,
        width: usize,
        height: usize,
        pixels: &[u8],
    ) -> Result<(), StageError> {
        if self.keys.is_empty() {
            (self.width, self.height) = (width, height);
        }
        if (width, height) != (self.width, self.height) || pixels.len() != width * height {
            return Err(StageError::BadImage {
                key: key.to_string(),
                width: width as u32,
                height: height as u32,
                reason: format!(
                    "the store holds {}x{} images; add a Resize stage",
                    self.width, self.height
                ),
            });
        }
        self.rows.insert(key.clone(), self.keys.len());
        self.keys.push(key);
        self.pixels.extend_from_slice(pixels);
        Ok(())
    }

    /// The bytes of the image in `row`.
    pub fn row(&self, row: usize) -> &[u8] {
        let n = self.width * self.height;
        &self.pixels[row * n..(row + 1) * n]
    }
}

impl ImageStore for MemoryStore {
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn width(&self) -> usize {
        self.width
    }

    fn height(&self) -> usize {
        self.height
    }

    fn key(&self, row: usize) -> &ImageKey {
        &self.keys[row]
    }

    fn row_of(&self, key: &ImageKey) -> Option<usize> {
        self.rows.get(key).copied()
    }

    fn copy_f32(&self, row: usize, out: &mut [f32]) {
        for (o, &p) in out.iter_mut().zip(self.row(row)) {
            *o = f32::from(p) * (1.0 / 255.0);
        }
    }
}

impl Sink for MemoryStore {
    fn consume(&mut self, item: Item, _ctx: &StageContext) -> Result<Flow, StageError> {
        match item {
            Item::Image(img) => self
                .push(
                    img.key,
                    img.width as usize,
                    img.height as usize,
                    &img.pixels,
                )
                .map(|()| Flow::Continue),
            other => Err(StageError::UnexpectedItem {
                expected: "image",
                found: other.kind(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, number: u32) -> ImageKey {
        ImageKey {
            name: name.into(),
            number,
        }
    }

    #[test]
    fn rows_round_trip_and_sizes_are_enforced() {
        let mut store = MemoryStore::new();
        store
            .push(key("A_B", 1), 2, 2, &[0, 255, 51, 102])
            .expect("first");
        store
            .push(key("A_B", 2), 2, 2, &[1, 2, 3, 4])
            .expect("second");
        assert!(store.push(key("C_D", 1), 3, 2, &[0; 6]).is_err());
        assert_eq!(store.row_of(&key("A_B", 2)), Some(1));
        let mut out = [0.0; 4];
        store.copy_f32(0, &mut out);
        for (got, want) in out.iter().zip([0.0, 1.0, 0.2, 0.4]) {
            assert!((got - want).abs() < 1e-6, "{out:?}");
        }
        assert_eq!(store.key(1), &key("A_B", 2));
    }
}
