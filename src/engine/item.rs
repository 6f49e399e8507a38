//! What flows between stages, and how much work each item counts for.

use crate::data::{ImageEntry, ImageKey};

/// What flows on a channel between two stages: image files still to be decoded
/// ([`ImageEntry`]), decoded images ([`ImageItem`]) or minibatches of pairs ([`PairBatch`]).
pub trait Unit: Send + 'static {
    /// How many units of work this item counts as for progress: one per file or image, one
    /// per pair of a batch.
    fn weight(&self) -> u64 {
        1
    }
}

impl Unit for ImageEntry {}

impl Unit for ImageItem {}

impl Unit for PairBatch {
    fn weight(&self) -> u64 {
        self.len() as u64
    }
}

/// A decoded grayscale image, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageItem {
    /// Which image this is.
    pub key: ImageKey,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` bytes.
    pub pixels: Vec<u8>,
}

/// Which part of training a batch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Phase {
    /// Pairs to learn from.
    Train,
    /// Pairs to choose thresholds and stop early on; never learned from.
    Validation,
}

/// A minibatch of pairs, as two `(len, 1, height, width)` f32 tensors in [0, 1] and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct PairBatch {
    /// Train or validation.
    pub phase: Phase,
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based index of the batch within its epoch and phase.
    pub index: usize,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// The pairs' image rows in the image store, left then right.
    pub rows: Vec<(u32, u32)>,
    /// Left twin's pixels.
    pub left: Vec<f32>,
    /// Right twin's pixels.
    pub right: Vec<f32>,
    /// 1.0 for a same pair, 0.0 for a different pair.
    pub labels: Vec<f32>,
}

impl PairBatch {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the batch holds no pair.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of same pairs.
    pub fn same_count(&self) -> usize {
        self.labels.iter().filter(|&&l| l > 0.5).count()
    }
}
