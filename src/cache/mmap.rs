//! Read-only memory mapping of a cache file: the only `unsafe` code of the cache.
//!
//! Everything else sees the mapping as a plain `&[u8]`; rows are cast to `&[f32]` with
//! `bytemuck`, which checks alignment and length without `unsafe` here.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;

use crate::cache::error::CacheError;

/// A whole cache file mapped read-only.
#[derive(Debug)]
pub(crate) struct ReadOnlyMap {
    map: Mmap,
}

impl ReadOnlyMap {
    /// Maps all of `file`, which was opened read-only from `path`.
    pub fn new(file: &File, path: &Path) -> Result<ReadOnlyMap, CacheError> {
        // SAFETY: `Mmap::map` is unsafe because the bytes behind the returned slice may change
        // (or vanish, raising SIGBUS) if the file is modified or truncated while mapped, which
        // Rust's aliasing rules do not allow for a `&[u8]`. Twinflow never writes a cache file
        // in place: a writer fills a uniquely named temp file and renames it over the path, so
        // the inode mapped here is complete and is never written again by this program; a
        // rebuild replaces the directory entry, not these bytes. The map is read-only (PROT_READ)
        // and we never hand out a mutable view. What remains is a foreign process editing the
        // file in place, which we accept as ripgrep does for its searches.
        let map = unsafe { Mmap::map(file) }
            .map_err(|source| CacheError::io(path, "memory-map", source))?;
        Ok(ReadOnlyMap { map })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}
