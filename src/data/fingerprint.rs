//! A dataset's fingerprint: what a run folder records of the data it trained on, so that a
//! later `eval`, `oneshot` or `--resume` can tell the same dataset (wherever it now lies)
//! from another one.
//!
//! It is taken from the scan and the file sizes, never the pixels: stating LFW-a's 13,233
//! images takes a fraction of a second, reading them would take far longer. Image names
//! are taken relative to the dataset (as keys), so a copied or moved dataset keeps its
//! fingerprint.
//!
//! Sizes are checksummed in [`SIZE_GROUPS`] groups of images (by a hash of the key), so
//! that a few damaged or edited images (a few groups differ: the same dataset, changed)
//! can be told from another version of it with the same names, say LFW beside LFW-a
//! (nearly every group differs).

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DataConfig, DataError, Dataset, ImageKey};

/// The groups of images whose sizes are checksummed apart.
pub const SIZE_GROUPS: usize = 32;

/// At most this many groups may differ in size for a dataset to count as the same one,
/// changed (a few images damaged or replaced), rather than another one.
const CHANGED_GROUPS: usize = 2;

/// What identifies a dataset: its counts, a checksum of its image names and sizes, and
/// checksums of the pairs files that split it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Distinct identities among the images.
    pub identities: usize,
    /// Images found by the scan.
    pub images: usize,
    /// The images' total size in bytes.
    pub bytes: u64,
    /// CRC-32 of every image's key, in key order.
    pub names_crc: u32,
    /// CRC-32 of the keys and sizes of each group of images (a key's group is its CRC
    /// modulo [`SIZE_GROUPS`]).
    pub size_groups: Vec<u32>,
    /// CRC-32 of the train pairs file (`data.train_pairs`); `None` when it is missing.
    pub train_pairs_crc: Option<u32>,
    /// CRC-32 of the test pairs file (`data.test_pairs`); `None` when it is missing.
    pub test_pairs_crc: Option<u32>,
}

impl Fingerprint {
    /// The fingerprint of `dataset`, scanned from `root`, with the pairs files `data` names.
    ///
    /// # Errors
    /// [`DataError::ReadFile`] when an image cannot be stated or a pairs file that exists
    /// cannot be read.
    pub fn take(dataset: &Dataset, root: &Path, data: &DataConfig) -> Result<Self, DataError> {
        let sizes = dataset
            .images
            .par_iter()
            .map(|e| {
                std::fs::metadata(&e.path)
                    .map(|m| m.len())
                    .map_err(|source| DataError::ReadFile {
                        path: e.path.clone(),
                        source,
                    })
            })
            .collect::<Result<Vec<u64>, DataError>>()?;
        let mut names = crc32fast::Hasher::new();
        let mut groups = vec![crc32fast::Hasher::new(); SIZE_GROUPS];
        for (entry, size) in dataset.images.iter().zip(&sizes) {
            let key = format!("{}\n", entry.key);
            names.update(key.as_bytes());
            groups[group(&entry.key)].update(format!("{key}{size}\n").as_bytes());
        }
        let identities: BTreeSet<&str> =
            dataset.images.iter().map(|e| e.key.name.as_str()).collect();
        Ok(Self {
            identities: identities.len(),
            images: dataset.images.len(),
            bytes: sizes.iter().sum(),
            names_crc: names.finalize(),
            size_groups: groups
                .into_iter()
                .map(crc32fast::Hasher::finalize)
                .collect(),
            train_pairs_crc: file_crc(&root.join(&data.train_pairs))?,
            test_pairs_crc: file_crc(&root.join(&data.test_pairs))?,
        })
    }

    /// How `other` compares with `self`: `None` when equal, else whether it is the same
    /// dataset with a few images changed or another dataset, with what differs.
    pub fn compare(&self, other: &Self) -> Option<Difference> {
        let mut out = Vec::new();
        let mut count = |what: &str, a: u64, b: u64| {
            if a != b {
                out.push(format!("{what} {a} -> {b}"));
            }
        };
        count(
            "identities",
            self.identities as u64,
            other.identities as u64,
        );
        count("images", self.images as u64, other.images as u64);
        if out.is_empty() && self.names_crc != other.names_crc {
            out.push("image names differ".into());
        }
        for (what, a, b) in [
            (
                "train pairs file",
                self.train_pairs_crc,
                other.train_pairs_crc,
            ),
            ("test pairs file", self.test_pairs_crc, other.test_pairs_crc),
        ] {
            match (a, b) {
                (Some(_), None) => out.push(format!("{what} missing")),
                (None, Some(_)) => out.push(format!("{what} added")),
                (Some(a), Some(b)) if a != b => out.push(format!("{what} differs")),
                _ => {}
            }
        }
        let groups = self
            .size_groups
            .iter()
            .zip(&other.size_groups)
            .filter(|(a, b)| a != b)
            .count()
            + self.size_groups.len().abs_diff(other.size_groups.len());
        let same_names_and_pairs = out.is_empty();
        if groups > 0 || self.bytes != other.bytes {
            out.push(format!(
                "image sizes differ in {groups} of {SIZE_GROUPS} groups (bytes {} -> {})",
                self.bytes, other.bytes
            ));
        }
        match out.len() {
            0 => None,
            // Same names and pairs, a few images of other sizes: damaged or touched up.
            1 if same_names_and_pairs && groups <= CHANGED_GROUPS => {
                Some(Difference::Changed(out.remove(0)))
            }
            _ => Some(Difference::Other(out)),
        }
    }
}

/// How two fingerprints differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The same names and pairs files, with a few images of other sizes: the same dataset
    /// with some images damaged or replaced.
    Changed(String),
    /// Another dataset (or version of it): each difference in a short phrase.
    Other(Vec<String>),
}

/// The size group of an image.
fn group(key: &ImageKey) -> usize {
    crc32fast::hash(key.to_string().as_bytes()) as usize % SIZE_GROUPS
}

/// The CRC-32 of a file's bytes; `None` when there is no such file.
fn file_crc(path: &Path) -> Result<Option<u32>, DataError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(crc32fast::hash(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DataError::ReadFile {
            path: path.into(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(images: usize, train: Option<u32>) -> Fingerprint {
        Fingerprint {
            identities: 3,
            images,
            bytes: 100,
            names_crc: 7,
            size_groups: (0..SIZE_GROUPS as u32).collect(),
            train_pairs_crc: train,
            test_pairs_crc: Some(1),
        }
    }

    #[test]
    fn a_few_resized_images_are_a_change_and_anything_more_is_another_dataset() {
        let a = print(10, Some(1));
        assert_eq!(a.compare(&a.clone()), None);
        assert_eq!(
            a.compare(&print(12, None)),
            Some(Difference::Other(vec![
                "images 10 -> 12".into(),
                "train pairs file missing".into()
            ]))
        );
        let mut damaged = a.clone();
        damaged.size_groups[3] = 99;
        damaged.bytes = 90;
        assert_eq!(
            a.compare(&damaged),
            Some(Difference::Changed(
                "image sizes differ in 1 of 32 groups (bytes 100 -> 90)".into()
            ))
        );
        let mut version = a.clone();
        version.size_groups.iter_mut().for_each(|g| *g += 1);
        assert!(matches!(a.compare(&version), Some(Difference::Other(_))));
        let renamed = Fingerprint {
            names_crc: 8,
            ..a.clone()
        };
        assert_eq!(
            a.compare(&renamed),
            Some(Difference::Other(vec!["image names differ".into()]))
        );
    }
}
