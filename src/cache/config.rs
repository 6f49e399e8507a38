//! The `cache` section of a pipeline: where the tensor cache files go and what they store.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Dtype;

/// Where and how decoded, resized images are cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// The folder holding cache files; the file name is derived from the image size and dtype.
    pub dir: PathBuf,
    /// The element type stored per pixel.
    pub dtype: Dtype,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("cache"),
            dtype: Dtype::U8,
        }
    }
}
