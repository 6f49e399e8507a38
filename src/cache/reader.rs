//! Opening a cache file: map it read-only, check everything but the pixel data, and serve rows
//! as slices of the mapping.
//!
//! Open checks the header, the exact file length and the metadata checksum, which together
//! catch every truncation and any damage outside the rows in well under 10 ms; the CRC of the
//! ~200 MB of rows costs a full read of the file, so it is left to [`TensorCache::verify_data`]
//! (or [`OpenOptions::verify_data`]).

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::cache::error::{CacheError, Section};
use crate::cache::format::{Dtype, Header};
use crate::cache::key::CacheKey;
use crate::cache::meta::{self, Meta, SkippedSource, NO_ROW};
use crate::cache::mmap::ReadOnlyMap;
use crate::data::ImageKey;

/// What to check when opening a cache beyond its structure and metadata checksum.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions<'a> {
    verify_data: bool,
    expected: Option<&'a CacheKey>,
}

impl<'a> OpenOptions<'a> {
    /// The default: structure and metadata checks only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also check the data checksum, reading every row once.
    pub fn verify_data(mut self, yes: bool) -> Self {
        self.verify_data = yes;
        self
    }

    /// Also require the file's key to equal `expected`, else [`CacheError::Stale`].
    pub fn expect_key(mut self, expected: &'a CacheKey) -> Self {
        self.expected = Some(expected);
        self
    }

    /// Opens the cache at `path` with these checks.
    ///
    /// # Errors
    /// [`CacheError::Missing`], any of the invalid-file errors ([`CacheError::kind`] is
    /// `Invalid`), [`CacheError::Stale`], or [`CacheError::Io`].
    pub fn open(self, path: &Path) -> Result<TensorCache, CacheError> {
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => CacheError::Missing {
                path: path.to_owned(),
                source,
            },
            _ => CacheError::io(path, "open", source),
        })?;
        if path.is_dir() {
            // Mapping a folder fails with the OS's "No such device", which says nothing.
            return Err(CacheError::Folder {
                path: path.to_owned(),
            });
        }
        let map = ReadOnlyMap::new(&file, path)?;
        let header = Header::decode(map.bytes(), path)?;
        let meta_bytes = &map.bytes()[header.meta_offset as usize..];
        let computed = crc32fast::hash(meta_bytes);
        if computed != header.meta_crc {
            return Err(CacheError::Checksum {
                path: path.to_owned(),
                section: Section::Metadata,
                stored: header.meta_crc,
                computed,
            });
        }
        let meta = meta::decode(meta_bytes, &header, path)?;
        let cache = TensorCache {
            path: path.to_owned(),
            pixels: header.width as usize * header.height as usize,
            map,
            header,
            meta,
        };
        if let Some(reason) = self
            .expected
            .and_then(|k| cache.cache_key().first_difference(k))
        {
            return Err(CacheError::Stale {
                path: path.to_owned(),
                reason,
            });
        }
        if self.verify_data {
            cache.verify_data()?;
        }
        Ok(cache)
    }
}

/// A cache file mapped read-only: rows are slices of the mapping, never copies.
///
/// `Send + Sync`, so one instance can be shared by loader threads through an `Arc`.
pub struct TensorCache {
    path: PathBuf,
    map: ReadOnlyMap,
    header: Header,
    meta: Meta,
    /// Pixels per image, `width * height`.
    pixels: usize,
}

impl TensorCache {
    /// Opens the cache at `path`, checking its structure and metadata (not the rows' checksum).
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open(path: &Path) -> Result<TensorCache, CacheError> {
        OpenOptions::new().open(path)
    }

    /// Opens the cache at `path` and requires its key to equal `expected`.
    ///
    /// # Errors
    /// As [`OpenOptions::open`]; [`CacheError::Stale`] names the first difference.
    pub fn open_checked(path: &Path, expected: &CacheKey) -> Result<TensorCache, CacheError> {
        OpenOptions::new().expect_key(expected).open(path)
    }

    /// Number of rows (images that decoded).
    pub fn len(&self) -> usize {
        self.meta.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.meta.rows.is_empty()
    }

    /// Image width in pixels.
    pub fn width(&self) -> u32 {
        self.header.width
    }

    /// Image height in pixels.
    pub fn height(&self) -> u32 {
        self.header.height
    }

    /// Element type of the rows.
    pub fn dtype(&self) -> Dtype {
        self.header.dtype
    }

    /// Bytes from one row's start to the next (the row plus its padding).
    pub fn row_stride(&self) -> usize {
        self.header.row_stride as usize
    }

    /// The file this cache was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Length of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.header.file_len
    }

    /// The stored CRC-32 of the data section and of the metadata section.
    pub fn checksums(&self) -> (u32, u32) {
        (self.header.data_crc, self.header.meta_crc)
    }

    /// Row `i` as `width * height` bytes, or `None` if out of range or the dtype is not `U8`.
    pub fn row_u8(&self, i: usize) -> Option<&[u8]> {
        (self.header.dtype == Dtype::U8).then(|| self.row_bytes(i))?
    }

    /// Row `i` as `width * height` floats, or `None` if out of range or the dtype is not `F32`.
    ///
    /// Always `None` on big-endian hosts, where the stored little-endian floats cannot be used
    /// in place (use [`row_bytes`](Self::row_bytes) and convert).
    pub fn row_f32(&self, i: usize) -> Option<&[f32]> {
        if self.header.dtype != Dtype::F32 || cfg!(target_endian = "big") {
            return None;
        }
        // Rows start at a page offset plus a multiple of 64 bytes in a page-aligned mapping, so
        // the cast cannot fail on alignment; `ok()` keeps even that case panic-free.
        bytemuck::try_cast_slice(self.row_bytes(i)?).ok()
    }

    /// The element bytes of row `i`, padding excluded, whatever the dtype.
    pub fn row_bytes(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len() {
            return None;
        }
        let start = self.header.data_offset as usize + i * self.row_stride();
        let len = self.pixels * self.header.dtype.size();
        self.map.bytes().get(start..start + len)
    }

    /// The row holding image `key`, or `None` if it is not in the cache (unknown or skipped).
    pub fn index_of(&self, key: &ImageKey) -> Option<usize> {
        let sources = &self.meta.key.sources;
        let source = sources.binary_search_by(|s| s.key.cmp(key)).ok()?;
        let row = self.meta.row_of_source[source];
        (row != NO_ROW).then_some(row as usize)
    }

    /// The image in row `i`.
    pub fn image_key(&self, i: usize) -> Option<&ImageKey> {
        let source = *self.meta.rows.get(i)?;
        Some(&self.meta.key.sources[source as usize].key)
    }

    /// The key the file was built with.
    pub fn cache_key(&self) -> &CacheKey {
        &self.meta.key
    }

    /// The sources that failed to decode and have no row.
    pub fn skipped(&self) -> &[SkippedSource] {
        &self.meta.skipped
    }

    /// Checks the CRC-32 of every row, reading the whole data section once.
    ///
    /// # Errors
    /// [`CacheError::Checksum`] for [`Section::Data`].
    pub fn verify_data(&self) -> Result<(), CacheError> {
        let data =
            &self.map.bytes()[self.header.data_offset as usize..self.header.meta_offset as usize];
        let computed = crc32fast::hash(data);
        if computed != self.header.data_crc {
            return Err(CacheError::Checksum {
                path: self.path.clone(),
                section: Section::Data,
                stored: self.header.data_crc,
                computed,
            });
        }
        Ok(())
    }
}

impl fmt::Debug for TensorCache {
    /// A summary: the derived form would print every source record.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TensorCache")
            .field("path", &self.path)
            .field("rows", &self.len())
            .field("width", &self.width())
            .field("height", &self.height())
            .field("dtype", &self.dtype())
            .field("skipped", &self.skipped().len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_cache_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TensorCache>();
    }
}
