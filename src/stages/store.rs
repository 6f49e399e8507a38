//! The image chain's two endpoints: [`MemoryStore`], an [`ImageStore`] filled in memory when
//! a pipeline runs without a cache, and [`CacheSink`], which streams images into the tensor
//! cache's writer.

use std::collections::HashMap;

use crate::cache::CacheWriter;
use crate::cache::ImageStore;
use crate::data::ImageKey;
use crate::engine::{Flow, Item, Sink, StageContext, StageError};

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

/// Streams images into a cache writer.
pub struct CacheSink {
    writer: CacheWriter,
}

impl CacheSink {
    /// A sink that pushes every image into `writer`.
    pub fn new(writer: CacheWriter) -> Self {
        Self { writer }
    }

    /// The writer, to record skipped sources and finish the file after a clean run.
    pub fn into_writer(self) -> CacheWriter {
        self.writer
    }
}

impl Sink for CacheSink {
    fn consume(&mut self, item: Item, _ctx: &StageContext) -> Result<Flow, StageError> {
        match item {
            Item::Image(img) => self
                .writer
                .push(&img.key, &img.pixels)
                .map_err(|source| StageError::Cache {
                    source: Box::new(source),
                })
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
