//! How a cache's key differs from the one a run wants: the reason a stale cache is rebuilt.

use std::fmt;

use super::dtype::Dtype;
use crate::data::ImageKey;

/// How a cached key differs from the wanted one; its `Display` is the reason shown to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// The cache format version differs.
    FormatVersion {
        /// In the cache.
        cached: u32,
        /// Wanted.
        wanted: u32,
    },
    /// The element type differs.
    Dtype {
        /// In the cache.
        cached: Dtype,
        /// Wanted.
        wanted: Dtype,
    },
    /// The resize size differs, as `(width, height)`.
    Size {
        /// In the cache.
        cached: (u32, u32),
        /// Wanted.
        wanted: (u32, u32),
    },
    /// The resize filter differs.
    Filter {
        /// In the cache.
        cached: String,
        /// Wanted.
        wanted: String,
    },
    /// Sources were added to or removed from the set.
    SourceSet {
        /// Wanted sources the cache lacks.
        added: usize,
        /// Cached sources no longer wanted.
        removed: usize,
    },
    /// A source now lives at another relative path.
    SourceMoved {
        /// The image.
        key: ImageKey,
        /// Its path in the cache.
        cached: String,
        /// Its path now.
        wanted: String,
    },
    /// A source's size or modification time changed.
    SourceModified {
        /// The image.
        key: ImageKey,
        /// Whether the size changed.
        size: bool,
        /// Whether the modification time changed.
        mtime: bool,
    },
}

impl fmt::Display for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyChange::FormatVersion { cached, wanted } => {
                write!(f, "format version changed {cached} -> {wanted}")
            }
            KeyChange::Dtype { cached, wanted } => write!(f, "dtype changed {cached} -> {wanted}"),
            KeyChange::Size { cached, wanted } => write!(
                f,
                "resize size changed {}x{} -> {}x{}",
                cached.0, cached.1, wanted.0, wanted.1
            ),
            KeyChange::Filter { cached, wanted } => {
                write!(f, "resize filter changed `{cached}` -> `{wanted}`")
            }
            KeyChange::SourceSet { added, removed } => {
                write!(f, "{added} sources added, {removed} removed")
            }
            KeyChange::SourceMoved {
                key,
                cached,
                wanted,
            } => write!(f, "source {key} moved `{cached}` -> `{wanted}`"),
            KeyChange::SourceModified { key, size, mtime } => {
                let what = match (size, mtime) {
                    (true, true) => "size/mtime",
                    (true, false) => "size",
                    _ => "mtime",
                };
                write!(f, "source {key} changed ({what})")
            }
        }
    }
}
