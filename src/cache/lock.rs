//! The build lock: an exclusive OS file lock on the sidecar `<cache>.lock`, so that two
//! processes wanting the same cache build it once.
//!
//! The protocol for a builder is: acquire the lock (waiting for any other builder), then try
//! [`TensorCache::open_checked`](crate::cache::TensorCache::open_checked) again, because the
//! builder we waited for may have just made the file; build only if that still fails. Writers
//! use unique temp names and an atomic rename, so even builders that skip the lock cannot
//! corrupt the file; the lock only saves the duplicate work.
//!
//! The lock file is never deleted: removing it while another process waits on it would let a
//! third process lock a new file of the same name, and two builders would run at once.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::cache::error::CacheError;

/// Holds the exclusive build lock of one cache path until dropped.
#[derive(Debug)]
pub struct BuildLock {
    file: File,
    cache: PathBuf,
}

impl BuildLock {
    /// Takes the build lock of the cache at `cache`, waiting while another builder holds it.
    /// Creates the parent directory and the lock file if needed.
    ///
    /// # Errors
    /// [`CacheError::Io`] when the lock file cannot be created or locked.
    pub fn acquire(cache: &Path) -> Result<BuildLock, CacheError> {
        let (file, lock_path) = open_lock_file(cache)?;
        file.lock()
            .map_err(|e| CacheError::io(lock_path, "lock", e))?;
        Ok(BuildLock {
            file,
            cache: cache.to_owned(),
        })
    }

    /// Takes the build lock if no one holds it, else returns `None` at once.
    ///
    /// # Errors
    /// [`CacheError::Io`] when the lock file cannot be created or locked.
    pub fn try_acquire(cache: &Path) -> Result<Option<BuildLock>, CacheError> {
        let (file, lock_path) = open_lock_file(cache)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(BuildLock {
                file,
                cache: cache.to_owned(),
            })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(CacheError::io(lock_path, "lock", e)),
        }
    }

    /// The sidecar lock file of the cache at `cache`: its path with `.lock` appended.
    pub fn lock_path(cache: &Path) -> PathBuf {
        let mut name = OsString::from(cache.as_os_str());
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Deletes the temp files that builds of this cache left behind when they were killed
    /// before they could clean up, and returns how many there were.
    ///
    /// Only sound while holding the lock, and only if every builder of this path takes it:
    /// otherwise a live build's temp file could be deleted (its `finish` would then fail).
    ///
    /// # Errors
    /// [`CacheError::Io`] when the directory cannot be listed or a file cannot be removed.
    pub fn remove_orphans(&self) -> Result<usize, CacheError> {
        let dir = match self.cache.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let Some(name) = self.cache.file_name() else {
            return Ok(0);
        };
        // The writer names its temp files `.<name>.<random>.tmp`.
        let prefix = format!(".{}.", name.to_string_lossy());
        let entries = fs::read_dir(dir).map_err(|e| CacheError::io(dir, "list", e))?;
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| CacheError::io(dir, "list", e))?;
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            if file_name.starts_with(&prefix) && file_name.ends_with(".tmp") {
                let path = entry.path();
                fs::remove_file(&path).map_err(|e| CacheError::io(&path, "remove", e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just does it without delay
        // should the handle be duplicated somewhere. A failure leaves nothing to do.
        let _ = self.file.unlock();
    }
}

/// Opens (creating) the lock file of `cache` and its directory.
fn open_lock_file(cache: &Path) -> Result<(File, PathBuf), CacheError> {
    let lock_path = BuildLock::lock_path(cache);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| CacheError::io(dir, "create directory", e))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| CacheError::io(&lock_path, "open lock file", e))?;
    Ok((file, lock_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_excludes_a_second_builder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("sub/faces.tfc");
        let first = BuildLock::acquire(&cache).unwrap();
        assert!(BuildLock::try_acquire(&cache).unwrap().is_none());
        drop(first);
        assert!(BuildLock::try_acquire(&cache).unwrap().is_some());
        assert!(dir.path().join("sub/faces.tfc.lock").exists());
    }

    #[test]
    fn orphaned_temp_files_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("faces.tfc");
        for name in [
            ".faces.tfc.ab12cd.tmp",
            ".faces.tfc.zz.tmp",
            "faces.tfc",
            ".other.x.tmp",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let lock = BuildLock::acquire(&cache).unwrap();
        assert_eq!(lock.remove_orphans().unwrap(), 2);
        assert!(cache.exists());
        assert!(dir.path().join(".other.x.tmp").exists());
    }
}
