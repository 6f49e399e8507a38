//! Image stores: random access to every decoded image by row, for the pair sampler,
//! training and evaluation.
//!
//! The memory-mapped cache is one store; the memory store that a pipeline without a cache
//! fills (`stages::store`) is the other. Samplers and the trainer only see the
//! [`ImageStore`] trait, so both paths feed the same downstream stages.

use super::TensorCache;
use crate::data::ImageKey;

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

impl ImageStore for TensorCache {
    fn len(&self) -> usize {
        TensorCache::len(self)
    }

    fn width(&self) -> usize {
        TensorCache::width(self) as usize
    }

    fn height(&self) -> usize {
        TensorCache::height(self) as usize
    }

    fn key(&self, row: usize) -> &ImageKey {
        self.image_key(row).expect("row < len")
    }

    fn row_of(&self, key: &ImageKey) -> Option<usize> {
        self.index_of(key)
    }

    fn copy_f32(&self, row: usize, out: &mut [f32]) {
        if let Some(bytes) = self.row_u8(row) {
            for (o, &p) in out.iter_mut().zip(bytes) {
                *o = f32::from(p) * (1.0 / 255.0);
            }
        } else if let Some(floats) = self.row_f32(row) {
            out.copy_from_slice(&floats[..out.len()]);
        }
    }
}
