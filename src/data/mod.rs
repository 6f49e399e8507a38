//! The LFW-a dataset layer: image keys, directory scanning, pairs files and splits.
//!
//! The pieces follow the order in which a run meets the data: [`scan`] finds the images on
//! disk, [`pairs`] reads the standard LFW pairs files, [`splits`] assigns identities to
//! train, test and unused, [`validation`] carves an identity-disjoint validation set out of
//! the train pairs, [`stats`] describes all of it, [`fingerprint`] tells one dataset from
//! another, and [`synth`] writes a small synthetic dataset in the same layout so tests
//! need no real faces.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod config;
pub mod error;
pub mod fingerprint;
pub mod pairs;
pub mod scan;
pub mod splits;
pub mod stats;
pub mod synth;
pub mod validation;

#[cfg(test)]
mod real_data;

pub use config::{DataConfig, ImageSet};
pub use error::{DataError, MissingImage, PairsProblem};
pub use fingerprint::{Difference, Fingerprint};
pub use pairs::{parse_pairs, read_pairs, render_pairs, Pair};
pub use scan::{Dataset, Layout};
pub use splits::Splits;
pub use validation::{split_validation, PairCounts, ValidationSplit, ValidationSplitResult};

/// One image of one person, as LFW names it: `Name_NNNN.jpg` is `(name, number)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ImageKey {
    /// The identity, spelled as in the directory name (`Aaron_Peirsol`).
    pub name: String,
    /// The 1-based image number (`0003` is 3).
    pub number: u32,
}

impl ImageKey {
    /// Makes a key from a name and a number.
    pub fn new(name: impl Into<String>, number: u32) -> Self {
        Self {
            name: name.into(),
            number,
        }
    }

    /// Reads a key from a file name such as `Jean-Pierre_Raffarin_0004.jpg`.
    ///
    /// The number is the last `_`-separated part of the stem and must be exactly four
    /// digits, because names themselves contain underscores (`Abdel_Nasser_Assidi`). The
    /// extension must be `jpg` or `jpeg` in any case. Returns `None` for anything else,
    /// including the number `0000`, since LFW numbers start at 1.
    pub fn from_file_name(file_name: &str) -> Option<Self> {
        let (stem, ext) = file_name.rsplit_once('.')?;
        if !ext.eq_ignore_ascii_case("jpg") && !ext.eq_ignore_ascii_case("jpeg") {
            return None;
        }
        let (name, digits) = stem.rsplit_once('_')?;
        if name.is_empty() || digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u32 = digits.parse().ok()?;
        (number > 0).then(|| Self::new(name, number))
    }

    /// The file name LFW uses for this key: `Name_0001.jpg`.
    pub fn file_name(&self) -> String {
        format!("{self}.jpg")
    }
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

/// The first letter of a name, upper-cased, as the seed study buckets identities.
///
/// Returns `None` when the name does not start with an ASCII letter.
pub fn first_letter(name: &str) -> Option<char> {
    name.chars()
        .next()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_underscores_and_hyphens() {
        let key = ImageKey::from_file_name("Jean-Pierre_de_la_Cruz_0012.jpg");
        assert_eq!(key, Some(ImageKey::new("Jean-Pierre_de_la_Cruz", 12)));
        assert_eq!(
            ImageKey::from_file_name("AJ_Cook_0001.JPEG"),
            Some(ImageKey::new("AJ_Cook", 1))
        );
    }

    #[test]
    fn rejects_names_off_the_pattern() {
        for bad in [
            "Aaron_Peirsol_001.jpg",
            "Aaron_Peirsol_00001.jpg",
            "Aaron_Peirsol_0000.jpg",
            "Aaron_Peirsol_12a4.jpg",
            "Aaron_Peirsol_0001.png",
            "Aaron_Peirsol_0001",
            "_0001.jpg",
            "0001.jpg",
            ".DS_Store",
        ] {
            assert_eq!(ImageKey::from_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn display_and_file_name_round_trip() {
        let key = ImageKey::new("Zhu_Rongji", 8);
        assert_eq!(key.to_string(), "Zhu_Rongji_0008");
        assert_eq!(ImageKey::from_file_name(&key.file_name()), Some(key));
    }

    #[test]
    fn first_letter_is_case_insensitive() {
        assert_eq!(first_letter("aaron"), Some('A'));
        assert_eq!(first_letter("Zhu"), Some('Z'));
        assert_eq!(first_letter("_x"), None);
        assert_eq!(first_letter(""), None);
    }
}
