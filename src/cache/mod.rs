//! The memory-mapped tensor cache: decoded, resized images of LFW-a written once into one
//! file, then mapped read-only by later runs so training reads rows with no copy in memory.
//!
//! - [`format`](mod@format): constants, [`Dtype`] and the fixed header;
//! - [`key`]: [`CacheKey`], what produced a file, and [`KeyChange`], why it is stale;
//! - `meta`: the metadata section (key, row index, skipped sources);
//! - [`writer`]: [`CacheWriter`] streams rows to a temp file and renames it into place;
//! - [`reader`]: [`TensorCache`] opens, checks and serves rows;
//! - [`lock`]: [`BuildLock`], so concurrent builders of one path build it once;
//! - [`check`]: [`DataCheck`], the rows' checksum on a thread while a run starts training;
//! - `mmap`: the read-only mapping, the only `unsafe` code here.
//!
//! The byte layout is specified in `docs/cache-format.md`.
//!
//! A caller that builds on demand does: [`TensorCache::open_checked`]; on an error whose
//! [`CacheError::should_rebuild`] is true, [`BuildLock::acquire`], `open_checked` again (another
//! process may have built it meanwhile), and only then a [`CacheWriter`].

pub mod change;
pub mod check;
pub mod config;
pub mod dtype;
pub mod error;
pub mod format;
pub mod key;
pub mod lock;
mod meta;
mod mmap;
pub mod reader;
pub mod store;
pub mod writer;

#[cfg(test)]
mod tests;

pub use change::KeyChange;
pub use check::DataCheck;
pub use config::CacheConfig;
pub use error::{CacheError, CacheErrorKind, Section};
pub use format::{Dtype, FORMAT_VERSION, MAGIC};
pub use key::{CacheKey, SourceStamp};
pub use lock::BuildLock;
pub use meta::SkippedSource;
pub use reader::{OpenOptions, TensorCache};
pub use store::ImageStore;
pub use writer::{CacheSummary, CacheWriter};
