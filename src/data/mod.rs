//! The LFW-a dataset layer: image keys, directory scanning, pairs files and splits.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One image of one person, as LFW names it: `Name_NNNN.jpg` is `(name, number)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ImageKey {
    /// The identity, spelled as in the directory name (`Aaron_Peirsol`).
    pub name: String,
    /// The 1-based image number (`0003` is 3).
    pub number: u32,
}

impl fmt::Display for ImageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{:04}", self.name, self.number)
    }
}

/// An image key together with the file that holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageEntry {
    /// Which image this is.
    pub key: ImageKey,
    /// Where it is on disk.
    pub path: PathBuf,
}

// TEMPORARY until the data layer lands (merge: take the data branch's version).
/// How validation identities are split off the train pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ValidationSplit {
    /// The seed's rule.
    FirstLetter {
        /// Letters for same pairs.
        same: String,
        /// Letters for different pairs.
        different: String,
    },
    /// Seeded identity ratio.
    Ratio {
        /// Fraction of identities.
        fraction: f64,
    },
}
impl Default for ValidationSplit {
    fn default() -> Self {
        Self::FirstLetter {
            same: "ABCDE".into(),
            different: "ABC".into(),
        }
    }
}
impl ValidationSplit {
    /// Every problem.
    pub fn validate(&self) -> Vec<String> {
        Vec::new()
    }
}
