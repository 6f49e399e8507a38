//! Finding LFW-a images on disk, in any of the layouts people keep it in.
//!
//! Only names are read here, never pixels: scanning all 13,233 images is one directory
//! listing per person, which keeps it well under a second.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{DataError, ImageEntry, ImageKey, MissingImage, Pair};

/// The folder names of the seed study's flattened layout.
const FLAT_SPLIT_DIRS: [&str; 3] = ["train", "test", "unused"];

/// The name of LFW-a's image folder, which the original zip nests twice.
const LFW_DIR: &str = "lfw2";

/// How the images are laid out under the dataset root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One folder per person: `<Name>/<Name>_NNNN.jpg` (the LFW distribution).
    Nested,
    /// `<Name>_NNNN.jpg` directly in the root, or in its `train/`, `test/` and `unused/`
    /// folders (the seed study's organisation).
    Flat,
}

/// The images of a dataset, found by [`Dataset::scan`].
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The folder the images were found under: the given root after descending through
    /// `lfw2/` (once or twice) where that is how the dataset is wrapped.
    pub root: PathBuf,
    /// How the images are laid out under `root`.
    pub layout: Layout,
    /// Every image, sorted by key (so grouped by identity).
    pub images: Vec<ImageEntry>,
    /// Files (and stray folders) that do not follow the naming pattern, sorted.
    pub skipped: Vec<PathBuf>,
}

/// One directory entry, with the one fact about it the scan needs.
struct Entry {
    name: String,
    path: PathBuf,
    is_dir: bool,
}

impl Dataset {
    /// Scans `root` for LFW images.
    ///
    /// Accepts a folder holding `lfw2/`, the `lfw2` folder itself, the doubly nested
    /// `lfw2/lfw2/` of the original zip, and the flat layouts of [`Layout::Flat`]. In the
    /// nested layout a file whose name does not match its folder is skipped and listed.
    ///
    /// # Errors
    /// [`DataError::RootUnreadable`] or [`DataError::NotADirectory`] for a bad root,
    /// [`DataError::ReadDir`] when a folder cannot be listed, [`DataError::NoImages`] when
    /// nothing looks like an LFW image, and [`DataError::DuplicateImage`] when one image
    /// is found twice.
    pub fn scan(root: &Path) -> Result<Self, DataError> {
        let meta = fs::metadata(root).map_err(|source| DataError::RootUnreadable {
            path: root.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(DataError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        let (base, listing) = descend_into_lfw_dirs(root)?;
        let layout = detect_layout(&listing);
        let mut found = Found::default();
        match layout {
            Layout::Flat => found.flat_root(listing)?,
            Layout::Nested => found.nested_root(listing)?,
        }
        if found.images.is_empty() {
            return Err(DataError::NoImages {
                path: root.to_path_buf(),
            });
        }
        found.images.sort();
        found.skipped.sort();
        reject_duplicates(&found.images)?;
        Ok(Self {
            root: base,
            layout,
            images: found.images,
            skipped: found.skipped,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images (never true for a scanned dataset).
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The image with this key, if the dataset holds it.
    pub fn get(&self, key: &ImageKey) -> Option<&ImageEntry> {
        self.images
            .binary_search_by(|entry| entry.key.cmp(key))
            .ok()
            .map(|i| &self.images[i])
    }

    /// All images of one identity, in number order (empty when the name is unknown).
    pub fn identity(&self, name: &str) -> &[ImageEntry] {
        let start = self.images.partition_point(|e| e.key.name.as_str() < name);
        let len = self.images[start..].partition_point(|e| e.key.name == name);
        &self.images[start..start + len]
    }

    /// Every identity with its images, by name.
    pub fn identities(&self) -> BTreeMap<&str, Vec<&ImageEntry>> {
        let mut map: BTreeMap<&str, Vec<&ImageEntry>> = BTreeMap::new();
        for entry in &self.images {
            map.entry(entry.key.name.as_str()).or_default().push(entry);
        }
        map
    }

    /// The identity names, sorted and without repeats.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.images.iter().map(|e| e.key.name.as_str()).collect();
        names.dedup();
        names
    }

    /// Checks that every image named by `pairs` is in the dataset.
    ///
    /// # Errors
    /// [`DataError::MissingImages`] listing every missing image with its line in `source`.
    pub fn check_pairs(&self, pairs: &[Pair], source: &Path) -> Result<(), DataError> {
        let mut missing = Vec::new();
        for pair in pairs {
            for key in [&pair.a, &pair.b] {
                let seen = missing
                    .last()
                    .is_some_and(|m: &MissingImage| m.line == pair.line && &m.key == key);
                if self.get(key).is_none() && !seen {
                    missing.push(MissingImage {
                        line: pair.line,
                        key: key.clone(),
                    });
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(DataError::MissingImages {
                path: source.to_path_buf(),
                missing,
            })
        }
    }
}

/// Lists `dir`, telling folders from files (following symbolic links).
fn list_dir(dir: &Path) -> Result<Vec<Entry>, DataError> {
    let read_err = |source| DataError::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for item in fs::read_dir(dir).map_err(read_err)? {
        let item = item.map_err(read_err)?;
        let path = item.path();
        let kind = item.file_type().map_err(read_err)?;
        // Only a link needs a second look; plain entries are answered by the listing.
        let is_dir = kind.is_dir() || (kind.is_symlink() && path.is_dir());
        let name = item.file_name().to_string_lossy().into_owned();
        entries.push(Entry { name, path, is_dir });
    }
    Ok(entries)
}

/// Steps into `lfw2/` (at most twice, as the original zip nests it) and lists the result.
fn descend_into_lfw_dirs(root: &Path) -> Result<(PathBuf, Vec<Entry>), DataError> {
    let mut base = root.to_path_buf();
    let mut listing = list_dir(&base)?;
    for _ in 0..2 {
        let Some(inner) = listing.iter().find(|e| e.is_dir && e.name == LFW_DIR) else {
            break;
        };
        base = inner.path.clone();
        listing = list_dir(&base)?;
    }
    Ok((base, listing))
}

/// Flat when images sit in the folder itself or in the seed's split folders.
fn detect_layout(listing: &[Entry]) -> Layout {
    let flat = listing.iter().any(|e| {
        if e.is_dir {
            FLAT_SPLIT_DIRS.contains(&e.name.as_str())
        } else {
            ImageKey::from_file_name(&e.name).is_some()
        }
    });
    if flat {
        Layout::Flat
    } else {
        Layout::Nested
    }
}

/// Images and skipped paths gathered during a scan.
#[derive(Default)]
struct Found {
    images: Vec<ImageEntry>,
    skipped: Vec<PathBuf>,
}

impl Found {
    /// Takes every matching file; `folder` is the name it must carry (nested layout).
    fn files(&mut self, listing: Vec<Entry>, folder: Option<&str>) {
        for entry in listing {
            let key = (!entry.is_dir)
                .then(|| ImageKey::from_file_name(&entry.name))
                .flatten()
                .filter(|key| folder.is_none_or(|f| key.name == f));
            match key {
                Some(key) => self.images.push(ImageEntry {
                    key,
                    path: entry.path,
                }),
                None => self.skipped.push(entry.path),
            }
        }
    }

    /// Flat layout: images in the root and in `train/`, `test/`, `unused/`.
    fn flat_root(&mut self, listing: Vec<Entry>) -> Result<(), DataError> {
        let (dirs, files): (Vec<Entry>, Vec<Entry>) = listing.into_iter().partition(|e| e.is_dir);
        self.files(files, None);
        for dir in dirs {
            if FLAT_SPLIT_DIRS.contains(&dir.name.as_str()) {
                let inner = list_dir(&dir.path)?;
                self.files(inner, None);
            } else {
                self.skipped.push(dir.path);
            }
        }
        Ok(())
    }

    /// Nested layout: one folder per person; loose files in the root are skipped.
    fn nested_root(&mut self, listing: Vec<Entry>) -> Result<(), DataError> {
        for entry in listing {
            if entry.is_dir {
                let inner = list_dir(&entry.path)?;
                self.files(inner, Some(&entry.name));
            } else {
                self.skipped.push(entry.path);
            }
        }
        Ok(())
    }
}

/// Fails on the first key found twice; `images` must be sorted.
fn reject_duplicates(images: &[ImageEntry]) -> Result<(), DataError> {
    match images.windows(2).find(|w| w[0].key == w[1].key) {
        Some(w) => Err(DataError::DuplicateImage {
            key: w[0].key.clone(),
            first: w[0].path.clone(),
            second: w[1].path.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
