//! Building a cache file: rows stream into a uniquely named temp file beside the target, then
//! the metadata and header are written, the file is synced and renamed into place.
//!
//! The header page stays zero (so the temp file has no magic number) until every other byte is
//! written, and the rename happens only after `fsync`: whatever stops a build (an error, a
//! panic, Ctrl-C, a crash), the final path holds either the previous file or a complete one.

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::cache::error::CacheError;
use crate::cache::format::{row_stride, Dtype, Header, DATA_OFFSET, FORMAT_VERSION};
use crate::cache::key::CacheKey;
use crate::cache::meta::{self, NO_ROW};
use crate::data::ImageKey;

/// Skip reasons longer than this are cut, so a runaway decoder message cannot bloat the file.
const MAX_REASON_LEN: usize = 1024;

/// Size of the write buffer in front of the temp file.
const WRITE_BUFFER: usize = 1 << 20;

/// What [`CacheWriter::finish`] built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSummary {
    /// The cache file.
    pub path: PathBuf,
    /// Rows written.
    pub rows: usize,
    /// Sources skipped.
    pub skipped: usize,
    /// Length of the file in bytes.
    pub file_len: u64,
    /// CRC-32 of the data section.
    pub data_crc: u32,
}

/// Streams images into a new cache file; see the module docs for the crash guarantees.
///
/// Every source of the key must be either [pushed](Self::push) or [skipped](Self::skip)
/// before [`finish`](Self::finish). Dropping the writer without finishing removes the temp file.
pub struct CacheWriter {
    path: PathBuf,
    key: CacheKey,
    out: BufWriter<NamedTempFile>,
    /// One row as written: pixels then zero padding, reused for every row.
    row: Vec<u8>,
    data_crc: crc32fast::Hasher,
    /// Whether each source (by index in `key.sources`) was pushed or skipped.
    done: Vec<bool>,
    rows: Vec<u32>,
    skipped: Vec<(u32, String)>,
}

impl CacheWriter {
    /// Starts building the cache at `path` for `key`, creating the parent directory if needed.
    ///
    /// # Errors
    /// [`CacheError::InvalidKey`] for an empty size, duplicate sources or a key of another
    /// format version; [`CacheError::Io`] when the temp file cannot be created.
    pub fn create(path: &Path, mut key: CacheKey) -> Result<CacheWriter, CacheError> {
        key.sources.sort_by(|a, b| a.key.cmp(&b.key));
        let stride = check_key(path, &key)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path.file_name().ok_or_else(|| {
            let source = io::Error::new(io::ErrorKind::InvalidInput, "path has no file name");
            CacheError::io(path, "create a cache at", source)
        })?;
        fs::create_dir_all(dir).map_err(|e| CacheError::io(dir, "create directory", e))?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| CacheError::io(dir, "create a temp file in", e))?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, temp);
        // The header page is written for real only once everything else is on disk.
        out.write_all(&[0u8; DATA_OFFSET as usize])
            .map_err(|e| CacheError::io(path, "write temp file for", e))?;
        Ok(CacheWriter {
            path: path.to_owned(),
            row: vec![0; stride],
            data_crc: crc32fast::Hasher::new(),
            done: vec![false; key.sources.len()],
            rows: Vec::with_capacity(key.sources.len()),
            skipped: Vec::new(),
            key,
            out,
        })
    }

    /// The key this cache is being built for, sources sorted.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// Appends the image `key` as the next row; `pixels` are `height` rows of `width` bytes.
    ///
    /// # Errors
    /// [`CacheError::UnknownSource`], [`CacheError::RowSize`], [`CacheError::Duplicate`], or
    /// [`CacheError::Io`] when the write fails.
    pub fn push(&mut self, key: &ImageKey, pixels: &[u8]) -> Result<(), CacheError> {
        let source = self.claim(key)?;
        let expected = self.key.width as usize * self.key.height as usize;
        if pixels.len() != expected {
            return Err(CacheError::RowSize {
                path: self.path.clone(),
                key: key.clone(),
                expected,
                actual: pixels.len(),
            });
        }
        match self.key.dtype {
            Dtype::U8 => self.row[..expected].copy_from_slice(pixels),
            Dtype::F32 => {
                for (out, &pixel) in self.row.chunks_exact_mut(4).zip(pixels) {
                    out.copy_from_slice(&(f32::from(pixel) / 255.0).to_le_bytes());
                }
            }
        }
        self.data_crc.update(&self.row);
        self.out
            .write_all(&self.row)
            .map_err(|e| CacheError::io(&self.path, "write temp file for", e))?;
        self.done[source as usize] = true;
        self.rows.push(source);
        Ok(())
    }

    /// Records that the image `key` has no row because it could not be decoded.
    ///
    /// # Errors
    /// [`CacheError::UnknownSource`] or [`CacheError::Duplicate`].
    pub fn skip(&mut self, key: &ImageKey, reason: &str) -> Result<(), CacheError> {
        let source = self.claim(key)?;
        let mut end = reason.len().min(MAX_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        self.done[source as usize] = true;
        self.skipped.push((source, reason[..end].to_owned()));
        Ok(())
    }

    /// Writes the metadata and header, syncs, and renames the file into place.
    ///
    /// # Errors
    /// [`CacheError::Incomplete`] when a source was neither pushed nor skipped (no file is
    /// written), [`CacheError::Io`] when a write, sync or the rename fails.
    pub fn finish(self) -> Result<CacheSummary, CacheError> {
        self.check_complete()?;
        let meta = meta::encode(&self.key, &self.rows, &self.skipped);
        let rows = self.rows.len() as u64;
        let stride = self.row.len() as u64;
        let meta_offset = DATA_OFFSET + rows * stride;
        let header = Header {
            dtype: self.key.dtype,
            height: self.key.height,
            width: self.key.width,
            rows,
            row_stride: stride,
            data_offset: DATA_OFFSET,
            meta_offset,
            meta_len: meta.len() as u64,
            file_len: meta_offset + meta.len() as u64,
            data_crc: self.data_crc.finalize(),
            meta_crc: crc32fast::hash(&meta),
        };
        let path = self.path;
        let mut out = self.out;
        out.write_all(&meta)
            .map_err(io_error(&path, "write temp file for"))?;
        let mut temp = out
            .into_inner()
            .map_err(|e| io_error(&path, "flush temp file for")(e.into_error()))?;
        temp.seek(SeekFrom::Start(0))
            .and_then(|_| temp.write_all(&header.encode()))
            .map_err(io_error(&path, "write header of"))?;
        temp.as_file()
            .sync_all()
            .map_err(io_error(&path, "sync temp file for"))?;
        temp.persist(&path)
            .map_err(|e| io_error(&path, "rename temp file onto")(e.error))?;
        sync_parent(&path)?;
        Ok(CacheSummary {
            rows: self.rows.len(),
            skipped: self.skipped.len(),
            file_len: header.file_len,
            data_crc: header.data_crc,
            path,
        })
    }

    /// Fails with [`CacheError::Incomplete`] unless every source was pushed or skipped.
    fn check_complete(&self) -> Result<(), CacheError> {
        match self.done.iter().position(|&done| !done) {
            None => Ok(()),
            Some(first) => Err(CacheError::Incomplete {
                path: self.path.clone(),
                missing: self.done.iter().filter(|&&done| !done).count(),
                first: self.key.sources[first].key.clone(),
            }),
        }
    }

    /// Marks `key` as handled and returns its source index.
    fn claim(&self, key: &ImageKey) -> Result<u32, CacheError> {
        let index = self
            .key
            .sources
            .binary_search_by(|source| source.key.cmp(key))
            .map_err(|_| CacheError::UnknownSource {
                path: self.path.clone(),
                key: key.clone(),
            })?;
        if self.done[index] {
            return Err(CacheError::Duplicate {
                path: self.path.clone(),
                key: key.clone(),
            });
        }
        Ok(index as u32)
    }
}

impl fmt::Debug for CacheWriter {
    /// A summary: the derived form would print every source and the row buffer.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheWriter")
            .field("path", &self.path)
            .field("temp", &self.out.get_ref().path())
            .field("sources", &self.key.sources.len())
            .field("rows", &self.rows.len())
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

/// Checks a sorted key and returns its row stride.
fn check_key(path: &Path, key: &CacheKey) -> Result<usize, CacheError> {
    let invalid = |problem: String| {
        Err(CacheError::InvalidKey {
            path: path.to_owned(),
            problem,
        })
    };
    if key.format_version != FORMAT_VERSION {
        return invalid(format!(
            "format version {} is not {FORMAT_VERSION}",
            key.format_version
        ));
    }
    if key.width == 0 || key.height == 0 {
        return invalid(format!("empty image size {}x{}", key.width, key.height));
    }
    let Some(stride) = row_stride(key.width, key.height, key.dtype)
        .and_then(|stride| usize::try_from(stride).ok())
    else {
        return invalid(format!(
            "image size {}x{} is too large",
            key.width, key.height
        ));
    };
    if key.sources.len() >= (NO_ROW - 1) as usize {
        return invalid(format!("{} sources are too many", key.sources.len()));
    }
    if let Some(pair) = key.sources.windows(2).find(|w| w[0].key == w[1].key) {
        return invalid(format!("source {} is listed twice", pair[0].key));
    }
    let too_long = |s: &str| u32::try_from(s.len()).is_err();
    let long_source = key
        .sources
        .iter()
        .find(|s| too_long(&s.key.name) || too_long(&s.rel_path));
    if too_long(&key.filter) || long_source.is_some() {
        return invalid("a name or path is longer than 4 GiB".into());
    }
    Ok(stride)
}

/// A `map_err` adapter naming the cache file and the failed action.
fn io_error<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::io(path, action, source)
}

/// Syncs the directory holding `path`, so that the rename itself survives a crash.
#[cfg(unix)]
fn sync_parent(path: &Path) -> Result<(), CacheError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir, "sync directory"))?;
    }
    Ok(())
}

/// Directories cannot be opened for syncing here; the rename is as durable as the OS makes it.
#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> Result<(), CacheError> {
    Ok(())
}
