//! A dataset's fingerprint: what a run folder records of the data it trained on, so that a
//! later `eval`, `oneshot` or `--resume` can tell the same dataset (wherever it now lies)
//! from another one.
//!
//! It is taken from the scan and the file sizes, never the pixels: stating LFW-a's 13,233
//! images takes a fraction of a second, reading them would take far longer. Image names
//! are taken relative to the dataset (as keys), so a copied or moved dataset keeps its
//! fingerprint.

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DataConfig, DataError, Dataset};

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
    /// CRC-32 of every image's key and size, in key order.
    pub images_crc: u32,
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
        let mut crc = crc32fast::Hasher::new();
        for (entry, size) in dataset.images.iter().zip(&sizes) {
            crc.update(format!("{} {size}\n", entry.key).as_bytes());
        }
        let identities: BTreeSet<&str> =
            dataset.images.iter().map(|e| e.key.name.as_str()).collect();
        Ok(Self {
            identities: identities.len(),
            images: dataset.images.len(),
            bytes: sizes.iter().sum(),
            images_crc: crc.finalize(),
            train_pairs_crc: file_crc(&root.join(&data.train_pairs))?,
            test_pairs_crc: file_crc(&root.join(&data.test_pairs))?,
        })
    }

    /// How `other` differs from `self`, one short phrase per field (`images 960 -> 1200`);
    /// empty when they are equal.
    pub fn differences(&self, other: &Self) -> Vec<String> {
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
        count("bytes", self.bytes, other.bytes);
        if out.is_empty() && self.images_crc != other.images_crc {
            out.push("image names or sizes differ".into());
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
        out
    }
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
            images_crc: 7,
            train_pairs_crc: train,
            test_pairs_crc: Some(1),
        }
    }

    #[test]
    fn differences_name_each_changed_part() {
        let a = print(10, Some(1));
        assert!(a.differences(&a.clone()).is_empty());
        assert_eq!(
            a.differences(&print(12, None)),
            ["images 10 -> 12", "train pairs file missing"]
        );
        let renamed = Fingerprint {
            images_crc: 8,
            ..a.clone()
        };
        assert_eq!(a.differences(&renamed), ["image names or sizes differ"]);
    }
}
