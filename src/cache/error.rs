//! The one error type of the cache module, and the triage a caller needs to decide whether a
//! cache file should simply be rebuilt.

use std::fmt;
use std::io;
use std::path::PathBuf;

use thiserror::Error;

use super::change::KeyChange;
use crate::data::ImageKey;

/// A part of a cache file that has its own checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The fixed 128-byte header at offset 0.
    Header,
    /// The metadata after the rows: cache key, row index and skipped sources.
    Metadata,
    /// The pixel rows.
    Data,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Header => "header",
            Section::Metadata => "metadata (key and index)",
            Section::Data => "data",
        })
    }
}

/// What went wrong, in the coarse terms a caller acts on (see [`CacheError::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheErrorKind {
    /// No file at the path: build it.
    Missing,
    /// The file is not a valid cache (wrong magic or version, truncated, corrupt): rebuild it.
    Invalid,
    /// The file is valid but was made from other sources or settings: rebuild it.
    Stale,
    /// Anything else (I/O failure, misuse of the writer): report it, rebuilding will not help.
    Other,
}

/// Everything that can go wrong while building, opening or checking a tensor cache.
///
/// Every variant names the file it is about.
#[derive(Debug, Error)]
pub enum CacheError {
    /// The cache file does not exist.
    #[error("cache file `{path}` does not exist")]
    Missing {
        /// The cache file.
        path: PathBuf,
        /// The error of the failed open.
        #[source]
        source: io::Error,
    },
    /// An I/O operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// The file the operation was on.
        path: PathBuf,
        /// What was being done, as a verb phrase ("read", "rename temp file onto").
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the cache magic number.
    #[error("`{path}` is not a twinflow tensor cache (bad magic number)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by a different version of the format.
    #[error("`{path}` has cache format version {found}, this build reads version {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The file is too short to hold even a header.
    #[error("`{path}` is truncated: {actual} bytes, a cache has at least {minimum}")]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Its length.
        actual: u64,
        /// The smallest valid length.
        minimum: u64,
    },
    /// The file length differs from the one its (checksummed) header records.
    #[error(
        "`{path}` is truncated or damaged: its header says {expected} bytes, the file has {actual}"
    )]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// The length recorded in the header.
        expected: u64,
        /// The length on disk.
        actual: u64,
    },
    /// A section's checksum does not match its bytes.
    #[error("the {section} of `{path}` fails its checksum (stored {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Which section.
        section: Section,
        /// The checksum recorded in the header.
        stored: u32,
        /// The checksum of the bytes on disk.
        computed: u32,
    },
    /// A folder was named where a cache file belongs.
    #[error("`{path}` is a folder; name a cache file (`*.twc`) in it")]
    Folder {
        /// The folder.
        path: PathBuf,
    },
    /// The file's checksums pass but its contents are inconsistent.
    #[error("`{path}` is corrupt: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        problem: String,
    },
    /// The file is valid but was built from other sources or settings than wanted.
    #[error("cache `{path}` is stale: {reason}")]
    Stale {
        /// The file.
        path: PathBuf,
        /// The first difference between the file's key and the wanted key.
        reason: KeyChange,
    },
    /// The cache key given to the writer is unusable.
    #[error("invalid cache key for `{path}`: {problem}")]
    InvalidKey {
        /// The cache file being built.
        path: PathBuf,
        /// What is wrong with the key.
        problem: String,
    },
    /// A source image is not below the data root, so it has no relative path.
    #[error("source image `{path}` is not under the data root `{root}`")]
    OutsideRoot {
        /// The source image.
        path: PathBuf,
        /// The data root.
        root: PathBuf,
    },
    /// A pushed row has the wrong number of pixels.
    #[error("row for {key} has {actual} pixels, cache `{path}` expects {expected}")]
    RowSize {
        /// The cache file being built.
        path: PathBuf,
        /// The image.
        key: ImageKey,
        /// `width * height`.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A pushed or skipped image is not one of the key's sources.
    #[error("{key} is not a source of cache `{path}`")]
    UnknownSource {
        /// The cache file being built.
        path: PathBuf,
        /// The image.
        key: ImageKey,
    },
    /// An image was pushed or skipped twice.
    #[error("{key} was already pushed or skipped in cache `{path}`")]
    Duplicate {
        /// The cache file being built.
        path: PathBuf,
        /// The image.
        key: ImageKey,
    },
    /// The writer was finished before every source was pushed or skipped.
    #[error("cache `{path}` is incomplete: {missing} sources were neither pushed nor skipped, the first is {first}")]
    Incomplete {
        /// The cache file being built.
        path: PathBuf,
        /// How many sources are missing.
        missing: usize,
        /// The first missing source.
        first: ImageKey,
    },
}

impl CacheError {
    /// The coarse kind of this error.
    pub fn kind(&self) -> CacheErrorKind {
        match self {
            CacheError::Missing { .. } => CacheErrorKind::Missing,
            CacheError::BadMagic { .. }
            | CacheError::UnsupportedVersion { .. }
            | CacheError::TooShort { .. }
            | CacheError::SizeMismatch { .. }
            | CacheError::Checksum { .. }
            | CacheError::Corrupt { .. } => CacheErrorKind::Invalid,
            CacheError::Stale { .. } => CacheErrorKind::Stale,
            _ => CacheErrorKind::Other,
        }
    }

    /// Whether building the cache anew is the right answer to this error: true when the file
    /// is missing, invalid or stale; false for I/O failures and misuse, which a rebuild would
    /// hit again.
    pub fn should_rebuild(&self) -> bool {
        self.kind() != CacheErrorKind::Other
    }

    /// Wraps an I/O error with the path and the action it failed.
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        CacheError::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// A corrupt-file error.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        CacheError::Corrupt {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
