//! The cache key: a record of everything that produced a cache file (sources, resize settings,
//! element type, format version), and the explanation of how two keys differ.
//!
//! Sources are stamped with size and modification time rather than a content hash: stamping
//! 13k files then costs one `stat` each instead of reading 100+ MB of JPEGs on every run. A
//! change that keeps both size and mtime goes unnoticed, which editing tools do not do.

use std::cmp::Ordering;
use std::fs;
use std::path::{Component, Path};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::change::KeyChange;
use super::error::CacheError;
use super::format::{Dtype, FORMAT_VERSION};
use crate::data::{ImageEntry, ImageKey};

/// One source image as it was when the cache was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStamp {
    /// The image.
    pub key: ImageKey,
    /// Its path relative to the data root, `/`-separated.
    pub rel_path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time in nanoseconds since the Unix epoch (0 if earlier or unknown).
    pub mtime_ns: u64,
}

/// What produced a cache file; a cache is reused only when its key equals the wanted one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheKey {
    /// The cache format version ([`FORMAT_VERSION`] for keys made by this build).
    pub format_version: u32,
    /// Image width after resizing, in pixels.
    pub width: u32,
    /// Image height after resizing, in pixels.
    pub height: u32,
    /// Name of the resize filter (`"triangle"`, `"lanczos3"`, ...), after `dct-half+` when the
    /// images were decoded at half scale.
    pub filter: String,
    /// Element type of the stored rows.
    pub dtype: Dtype,
    /// Every source image, sorted by key (the writer sorts them).
    pub sources: Vec<SourceStamp>,
}

impl CacheKey {
    /// A key of the current format version, with the sources sorted by image key.
    pub fn new(
        width: u32,
        height: u32,
        filter: &str,
        dtype: Dtype,
        mut sources: Vec<SourceStamp>,
    ) -> CacheKey {
        sources.sort_by(|a, b| a.key.cmp(&b.key));
        CacheKey {
            format_version: FORMAT_VERSION,
            width,
            height,
            filter: filter.to_owned(),
            dtype,
            sources,
        }
    }

    /// The key for building `entries` (all below `root`), stamping each file with its size and
    /// modification time.
    ///
    /// # Errors
    /// [`CacheError::Io`] when a file cannot be stat'ed, [`CacheError::OutsideRoot`] when an
    /// entry is not below `root` or its relative path is not UTF-8.
    pub fn from_entries(
        root: &Path,
        entries: &[ImageEntry],
        width: u32,
        height: u32,
        filter: &str,
        dtype: Dtype,
    ) -> Result<CacheKey, CacheError> {
        let sources = entries
            .iter()
            .map(|entry| stamp(root, entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CacheKey::new(width, height, filter, dtype, sources))
    }

    /// The first way in which this (cached) key differs from `wanted`, or `None` if they
    /// describe the same build. Settings are compared before sources.
    pub fn first_difference(&self, wanted: &CacheKey) -> Option<KeyChange> {
        if self.format_version != wanted.format_version {
            return Some(KeyChange::FormatVersion {
                cached: self.format_version,
                wanted: wanted.format_version,
            });
        }
        if self.dtype != wanted.dtype {
            return Some(KeyChange::Dtype {
                cached: self.dtype,
                wanted: wanted.dtype,
            });
        }
        if (self.width, self.height) != (wanted.width, wanted.height) {
            return Some(KeyChange::Size {
                cached: (self.width, self.height),
                wanted: (wanted.width, wanted.height),
            });
        }
        if self.filter != wanted.filter {
            return Some(KeyChange::Filter {
                cached: self.filter.clone(),
                wanted: wanted.filter.clone(),
            });
        }
        source_difference(&self.sources, &wanted.sources)
    }
}

/// The first source difference: set changes (counted in full) before per-file changes.
fn source_difference(cached: &[SourceStamp], wanted: &[SourceStamp]) -> Option<KeyChange> {
    // Sorting references keeps this right for hand-made keys that were never normalised.
    let mut cached: Vec<&SourceStamp> = cached.iter().collect();
    let mut wanted: Vec<&SourceStamp> = wanted.iter().collect();
    cached.sort_by(|a, b| a.key.cmp(&b.key));
    wanted.sort_by(|a, b| a.key.cmp(&b.key));
    let (mut added, mut removed, mut changed) = (0, 0, None);
    let (mut c, mut w) = (0, 0);
    while c < cached.len() || w < wanted.len() {
        let order = match (cached.get(c), wanted.get(w)) {
            (Some(a), Some(b)) => a.key.cmp(&b.key),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => (removed, c) = (removed + 1, c + 1),
            Ordering::Greater => (added, w) = (added + 1, w + 1),
            Ordering::Equal => {
                changed = changed.or_else(|| stamp_change(cached[c], wanted[w]));
                (c, w) = (c + 1, w + 1);
            }
        }
    }
    if added + removed > 0 {
        return Some(KeyChange::SourceSet { added, removed });
    }
    changed
}

/// How one source's stamp changed, if it did.
fn stamp_change(cached: &SourceStamp, wanted: &SourceStamp) -> Option<KeyChange> {
    if cached.rel_path != wanted.rel_path {
        return Some(KeyChange::SourceMoved {
            key: wanted.key.clone(),
            cached: cached.rel_path.clone(),
            wanted: wanted.rel_path.clone(),
        });
    }
    let size = cached.size != wanted.size;
    let mtime = cached.mtime_ns != wanted.mtime_ns;
    (size || mtime).then(|| KeyChange::SourceModified {
        key: wanted.key.clone(),
        size,
        mtime,
    })
}

/// Stats one entry's file.
fn stamp(root: &Path, entry: &ImageEntry) -> Result<SourceStamp, CacheError> {
    let outside = || CacheError::OutsideRoot {
        path: entry.path.clone(),
        root: root.to_owned(),
    };
    let rel = entry.path.strip_prefix(root).map_err(|_| outside())?;
    // `/`-joined so a key made on one OS compares equal on another.
    let mut parts = Vec::new();
    for part in rel.components() {
        match part {
            Component::Normal(name) => parts.push(name.to_str().ok_or_else(outside)?),
            _ => return Err(outside()),
        }
    }
    let meta = fs::metadata(&entry.path)
        .map_err(|source| CacheError::io(&entry.path, "stat source image", source))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    Ok(SourceStamp {
        key: entry.key.clone(),
        rel_path: parts.join("/"),
        size: meta.len(),
        mtime_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(name: &str, number: u32, size: u64) -> SourceStamp {
        SourceStamp {
            key: ImageKey {
                name: name.into(),
                number,
            },
            rel_path: format!("{name}/{name}_{number:04}.jpg"),
            size,
            mtime_ns: 1_000,
        }
    }

    fn key(sources: Vec<SourceStamp>) -> CacheKey {
        CacheKey::new(125, 125, "triangle", Dtype::U8, sources)
    }

    fn reason(cached: &CacheKey, wanted: &CacheKey) -> String {
        cached.first_difference(wanted).unwrap().to_string()
    }

    #[test]
    fn equal_keys_have_no_difference_whatever_the_source_order() {
        let a = key(vec![src("A", 1, 10), src("B", 1, 20)]);
        let mut b = a.clone();
        b.sources.reverse();
        assert_eq!(a.first_difference(&b), None);
    }

    #[test]
    fn settings_differences_are_explained() {
        let a = key(vec![src("A", 1, 10)]);
        let mut b = a.clone();
        (b.width, b.height) = (100, 100);
        assert_eq!(reason(&a, &b), "resize size changed 125x125 -> 100x100");
        let mut b = a.clone();
        b.filter = "lanczos3".into();
        assert_eq!(
            reason(&a, &b),
            "resize filter changed `triangle` -> `lanczos3`"
        );
        let mut b = a.clone();
        b.dtype = Dtype::F32;
        assert_eq!(reason(&a, &b), "dtype changed u8 -> f32");
        let mut b = a.clone();
        b.format_version = 2;
        assert_eq!(reason(&a, &b), "format version changed 1 -> 2");
    }

    #[test]
    fn source_differences_are_explained() {
        let a = key(vec![src("A", 1, 10), src("B", 1, 20), src("C", 1, 30)]);
        let b = key(vec![
            src("A", 1, 10),
            src("D", 1, 1),
            src("E", 1, 1),
            src("F", 1, 1),
        ]);
        assert_eq!(reason(&a, &b), "3 sources added, 2 removed");
        let mut b = a.clone();
        b.sources[1].size = 21;
        b.sources[2].mtime_ns = 5;
        assert_eq!(reason(&a, &b), "source B_0001 changed (size)");
        b.sources[1].mtime_ns = 5;
        assert_eq!(reason(&a, &b), "source B_0001 changed (size/mtime)");
        let mut b = a.clone();
        b.sources[0].rel_path = "elsewhere/A_0001.jpg".into();
        assert_eq!(
            reason(&a, &b),
            "source A_0001 moved `A/A_0001.jpg` -> `elsewhere/A_0001.jpg`"
        );
    }

    #[test]
    fn from_entries_stamps_files_relative_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let person = dir.path().join("Aaron_Peirsol");
        fs::create_dir(&person).unwrap();
        let path = person.join("Aaron_Peirsol_0001.jpg");
        fs::write(&path, b"12345").unwrap();
        let entry = ImageEntry {
            key: ImageKey {
                name: "Aaron_Peirsol".into(),
                number: 1,
            },
            path,
        };
        let key = CacheKey::from_entries(
            dir.path(),
            std::slice::from_ref(&entry),
            8,
            8,
            "nearest",
            Dtype::U8,
        )
        .unwrap();
        assert_eq!(
            key.sources[0].rel_path,
            "Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
        );
        assert_eq!(key.sources[0].size, 5);
        assert!(key.sources[0].mtime_ns > 0);
        let other = tempfile::tempdir().unwrap();
        let err =
            CacheKey::from_entries(other.path(), &[entry], 8, 8, "nearest", Dtype::U8).unwrap_err();
        assert!(matches!(err, CacheError::OutsideRoot { .. }), "{err}");
    }
}
