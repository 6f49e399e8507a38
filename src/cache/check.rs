//! The data checksum, checked in the background while a run trains on a reused cache.
//!
//! Opening a cache checks its structure and metadata but not its rows (reading them all
//! would slow every start); damaged pixels would then train silently. [`DataCheck`] reads
//! the rows once on its own thread from the start of training, and the trainer waits for
//! its verdict before it commits the first checkpoint, so nothing learnt from damaged data
//! is ever kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::error::CacheError;
use super::reader::TensorCache;

/// A data checksum being computed on its own thread.
#[derive(Debug)]
pub struct DataCheck {
    path: PathBuf,
    verdict: Verdict,
}

#[derive(Debug)]
enum Verdict {
    Running(JoinHandle<Result<(), CacheError>>),
    Done(Result<(), CacheError>),
}

impl DataCheck {
    /// Starts checking `cache`'s rows.
    pub fn spawn(cache: Arc<TensorCache>) -> Self {
        let path = cache.path().to_path_buf();
        let theirs = Arc::clone(&cache);
        let verdict = match std::thread::Builder::new()
            .name("cache-check".into())
            .spawn(move || theirs.verify_data())
        {
            Ok(handle) => Verdict::Running(handle),
            // No thread to spare: check now, on this one.
            Err(_) => Verdict::Done(cache.verify_data()),
        };
        Self { path, verdict }
    }

    /// The cache file being checked.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Waits for the verdict. On a mismatch the damaged file is moved aside (to
    /// `<name>.damaged`), so that the next run rebuilds the cache instead of reusing it.
    ///
    /// # Errors
    /// [`CacheError::Checksum`] for the data section, or [`CacheError::Io`] when the check
    /// or the move could not run.
    pub fn wait(self) -> Result<(), CacheError> {
        let result = match self.verdict {
            Verdict::Done(result) => result,
            Verdict::Running(handle) => handle.join().unwrap_or_else(|_| {
                Err(CacheError::io(
                    &self.path,
                    "check the data of",
                    std::io::Error::other("the checking thread panicked"),
                ))
            }),
        };
        if let Err(CacheError::Checksum { .. }) = &result {
            let aside = damaged_name(&self.path);
            std::fs::rename(&self.path, &aside)
                .map_err(|source| CacheError::io(&self.path, "move aside", source))?;
        }
        result
    }
}

/// Where [`DataCheck::wait`] moves a damaged cache.
pub fn damaged_name(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".damaged");
    PathBuf::from(name)
}
