//! Opening the tensor cache for a run, building it first when it is missing, damaged or
//! stale.
//!
//! [`open_or_build`] is what `run` does when a pipeline says `cache: Some(...)`: open the
//! file and check its key; when it is missing, damaged or stale, say why, take the build
//! lock, check again (another process may have just built it), then stream the image chain
//! into a [`CacheWriter`]. The writer is only finished after a clean run, so a failed or
//! interrupted build never leaves a file that looks valid.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::RunError;
use super::images::{run_images, RunSettings};
use super::validate::Plan;
use crate::cache::{
    BuildLock, CacheConfig, CacheError, CacheKey, CacheWriter, DataCheck, Dtype, ImageStore,
    OpenOptions, TensorCache,
};
use crate::data::{ImageEntry, ImageKey, ImageSet};
use crate::engine::metrics::{RunReport, Skipped};
use crate::errors::chain;
use crate::stages::store::CacheSink;
use crate::stages::{OnError, Scale};

/// A cache ready for sampling, and how it came to be.
pub struct Opened {
    /// The cache, as an image store.
    pub cache: Arc<dyn ImageStore>,
    /// What happened, for the user: reused, or rebuilt and why.
    pub status: String,
    /// Sources that failed to decode when the cache was built.
    pub skipped: Vec<Skipped>,
    /// The build's metrics, when it was built now.
    pub report: Option<RunReport>,
    /// The data checksum of a reused file, being computed ([`Verify::Background`]).
    pub check: Option<DataCheck>,
}

/// When a reused cache's rows are checked against their checksum (opening checks the
/// structure and metadata only, so that a run starts at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// On a thread while training starts; the first checkpoint waits for the verdict.
    Background,
    /// Before the file is reused: a damaged one is rebuilt (`cache build`); with `force`,
    /// it is rebuilt whatever its state.
    Now {
        /// Build anew even over a valid file.
        force: bool,
    },
}

/// The cache file for a plan: one per data folder, image set, size, filter (with the decode
/// scale) and dtype, so that a changed setting makes the old file stale instead of silently
/// reused.
pub fn cache_path(
    config: &CacheConfig,
    root: &Path,
    set: ImageSet,
    size: (u32, u32),
    filter: &str,
) -> PathBuf {
    let name = root
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let name: String = name
        .unwrap_or_else(|| "data".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let set = format!("{set:?}").to_lowercase();
    config.dir.join(format!(
        "{}-{set}-{}x{}-{filter}-{}.twc",
        short_name(&name),
        size.0,
        size.1,
        config.dtype
    ))
}

/// The longest dataset name a cache file name keeps whole. File systems allow 255 bytes
/// per name; the rest of a cache's name (set, size, filter and crop, dtype, `.lock`) stays
/// under 100.
const NAME_MAX: usize = 64;

/// `name` as it goes into a cache file name: whole when short, else its start and a
/// checksum of the whole (so two long names that share a start still differ), where a
/// 225-character folder name made the cache "File name too long".
fn short_name(name: &str) -> String {
    if name.len() <= NAME_MAX {
        return name.to_string();
    }
    // `name` is ASCII (sanitised above), so any byte index is a char boundary.
    format!(
        "{}~{:08x}",
        &name[..NAME_MAX - 9],
        crc32fast::hash(name.as_bytes())
    )
}

/// How the plan resamples images, as recorded in the cache key and file name: the resize
/// filter's name (and crop box), after `dct-half+` when Decode halves them (the pixels differ
/// from a full decode resized, if only by rounding).
fn filter_name(plan: &Plan) -> String {
    let filter = plan
        .resize
        .as_ref()
        .map_or_else(|| "none".to_string(), |r| r.cache_tag());
    match plan.decode.scale {
        Scale::Full => filter,
        Scale::Half => format!("dct-half+{filter}"),
    }
}

/// The cache file `run` would use for a plan.
pub fn cache_path_for(plan: &Plan, config: &CacheConfig, settings: &RunSettings) -> PathBuf {
    cache_path(
        config,
        &settings.data_root,
        plan.pipeline.data.images,
        plan.image_size(),
        &filter_name(plan),
    )
}

/// Opens the plan's cache, building or rebuilding it first when needed.
///
/// # Errors
/// Cache I/O errors, the image chain's errors while building, and
/// [`RunError::SkippedUnderAbort`] when a reused cache skipped images that the plan's
/// `on_error: Abort` would have stopped at.
pub fn open_or_build(
    plan: &Plan,
    config: &CacheConfig,
    settings: &RunSettings,
    entries: Vec<ImageEntry>,
    verify: Verify,
) -> Result<Opened, RunError> {
    let opened = open_or_build_any(plan, config, settings, entries, verify)?;
    // A build under Abort stops at its first bad image, so only a reused file can get here
    // with skips: they were made under another policy.
    match opened.skipped.first() {
        Some(first) if plan.decode.on_error == OnError::Abort => Err(RunError::SkippedUnderAbort {
            cache: cache_path_for(plan, config, settings),
            count: opened.skipped.len(),
            first: first.item.clone(),
            reason: first.reason.clone(),
        }),
        _ => Ok(opened),
    }
}

/// [`open_or_build`] whatever the error policy.
fn open_or_build_any(
    plan: &Plan,
    config: &CacheConfig,
    settings: &RunSettings,
    entries: Vec<ImageEntry>,
    verify: Verify,
) -> Result<Opened, RunError> {
    let force = verify == Verify::Now { force: true };
    let (w, h) = plan.image_size();
    let filter = filter_name(plan);
    let root = &settings.data_root;
    let path = cache_path_for(plan, config, settings);
    let key = CacheKey::from_entries(root, &entries, w, h, &filter, config.dtype)?;
    let open = || {
        OpenOptions::new()
            .expect_key(&key)
            .verify_data(verify != Verify::Background)
            .open(&path)
    };
    // `--force` rebuilds whatever the file holds: no need to open (and read) it first.
    let found = if force { None } else { Some(open()) };
    let why = match found {
        None => "--force".to_string(),
        Some(Ok(cache)) => {
            let status = format!("reused {}", path.display());
            return Ok(reused(cache, status, verify));
        }
        Some(Err(err)) if err.should_rebuild() => chain(&err),
        Some(Err(err)) => return Err(err.into()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
            path: dir.to_path_buf(),
            action: "create the cache folder",
            source,
        })?;
    }
    let lock = BuildLock::acquire(&path)?;
    if !force {
        if let Ok(cache) = open() {
            let status = format!("reused {} (built by another process)", path.display());
            return Ok(reused(cache, status, verify));
        }
    }
    // Temp files of builds that were killed: no live build has one, since we hold the lock.
    lock.remove_orphans()?;
    if config.dtype == Dtype::F32 && (w, h) == (250, 250) {
        // Not an error: just a large file (13,233 x 250 x 250 x 4 bytes = 3.3 GB).
        eprintln!("note: an f32 cache of 250x250 images is about 3.3 GB");
    }
    let paths: HashMap<String, ImageKey> = entries
        .iter()
        .map(|e| (e.path.display().to_string(), e.key.clone()))
        .collect();
    let sink = CacheSink::new(CacheWriter::create(&path, key)?);
    let (sink, report) = run_images(plan, settings, entries, "cache-writer", sink)?;
    let mut writer = sink.into_writer();
    for s in &report.skipped {
        if let Some(key) = paths.get(&s.item) {
            writer.skip(key, &s.reason)?;
        }
    }
    let summary = writer.finish()?;
    let cache = TensorCache::open(&summary.path)?;
    let status = format!(
        "built {} ({} images, {} skipped) because {why}",
        path.display(),
        summary.rows,
        summary.skipped
    );
    Ok(Opened {
        skipped: report.skipped.clone(),
        report: Some(report),
        // Just written, its checksum computed from the rows as they went in.
        ..reused(cache, status, Verify::Now { force: false })
    })
}

/// An opened cache as the run sees it, with its data check started when it is to run in
/// the background.
fn reused(cache: TensorCache, status: String, verify: Verify) -> Opened {
    let skipped = cache
        .skipped()
        .iter()
        .map(|s| Skipped {
            stage: "cache".into(),
            item: s.key.to_string(),
            reason: s.reason.clone(),
        })
        .collect();
    let cache = Arc::new(cache);
    let check = (verify == Verify::Background).then(|| DataCheck::spawn(Arc::clone(&cache)));
    Opened {
        cache,
        status,
        skipped,
        report: None,
        check,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_dataset_name_is_shortened_distinctly() {
        let (a, b) = ("x".repeat(225), format!("{}y", "x".repeat(224)));
        let (sa, sb) = (short_name(&a), short_name(&b));
        assert!(sa.len() <= NAME_MAX && sb.len() <= NAME_MAX, "{sa}");
        assert_ne!(sa, sb);
        assert_eq!(short_name("lfwa"), "lfwa");
    }
}
