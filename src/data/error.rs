//! Errors of the dataset layer: one enum for the whole module, each variant naming the
//! file (and line) at fault so a user can go straight to it.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::ImageKey;

/// Everything that can go wrong while reading, checking, describing or writing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The dataset folder could not be opened (most often: it does not exist).
    #[error("cannot open dataset folder {}", .path.display())]
    RootUnreadable {
        /// The folder given.
        path: PathBuf,
        /// Why it could not be opened.
        source: io::Error,
    },
    /// The dataset path is a file, not a folder.
    #[error("dataset path {} is not a folder", .path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The folder holds no file named like an LFW image.
    #[error(
        "no LFW images (`Name_0001.jpg`, nested in per-person folders or flat) under {}",
        .path.display()
    )]
    NoImages {
        /// The folder searched.
        path: PathBuf,
    },
    /// A folder inside the dataset could not be listed.
    #[error("cannot list folder {}", .path.display())]
    ReadDir {
        /// The folder.
        path: PathBuf,
        /// Why it could not be listed.
        source: io::Error,
    },
    /// The same image was found twice (possible in the flat layout's three folders).
    #[error("image {key} appears twice: {} and {}", .first.display(), .second.display())]
    DuplicateImage {
        /// The image.
        key: ImageKey,
        /// The first file found for it.
        first: PathBuf,
        /// The second one.
        second: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", .path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// A line of a pairs file is malformed.
    #[error("{}:{line}: {problem}", .path.display())]
    PairsLine {
        /// The pairs file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        problem: PairsProblem,
    },
    /// A pairs file holds more or fewer pairs than its header promises.
    #[error(
        "{}: the header promises {expected} pairs but the file holds {found}",
        .path.display()
    )]
    PairsCount {
        /// The pairs file.
        path: PathBuf,
        /// Pairs promised by the header (folds x 2 x count).
        expected: usize,
        /// Pairs found; `expected + 1` means "at least one more than promised".
        found: usize,
    },
    /// Pairs name images that the dataset does not hold; every one is listed.
    #[error(
        "{} image(s) named in {} are missing from the dataset:{}",
        .missing.len(),
        .path.display(),
        missing_list(.path, .missing)
    )]
    MissingImages {
        /// The pairs file.
        path: PathBuf,
        /// Each missing image with the line that names it.
        missing: Vec<MissingImage>,
    },
    /// Identities occur in both the train and the test pairs, so test is not one-shot.
    #[error("identities in both the train and the test pairs: {}", .names.join(", "))]
    SplitOverlap {
        /// The shared identities, sorted.
        names: Vec<String>,
    },
    /// An image file could not be decoded.
    #[error("cannot decode image {}", .path.display())]
    DecodeImage {
        /// The image file.
        path: PathBuf,
        /// The decoder's complaint.
        source: image::ImageError,
    },
    /// An image could not be encoded or saved.
    #[error("cannot write image {}", .path.display())]
    EncodeImage {
        /// The file being written.
        path: PathBuf,
        /// The encoder's complaint.
        source: image::ImageError,
    },
    /// A file or folder could not be written.
    #[error("cannot write {}", .path.display())]
    WriteFile {
        /// The file or folder.
        path: PathBuf,
        /// Why it could not be written.
        source: io::Error,
    },
    /// The output folder of a generator already holds a dataset.
    #[error("{} already exists; remove it or choose another output folder", .path.display())]
    OutputExists {
        /// The existing folder.
        path: PathBuf,
    },
    /// A folder to be replaced was not written by the synthetic-data generator.
    #[error(
        "refusing to replace {}: it has no `{marker}`, so it was not written by `twinflow data synth`",
        .path.display()
    )]
    NotSynthetic {
        /// The folder.
        path: PathBuf,
        /// The marker file it lacks.
        marker: &'static str,
    },
    /// A synthetic dataset's marker file does not hold generator options.
    #[error("{} does not record synthetic-data options; remove its folder to regenerate it", .path.display())]
    SynthMarker {
        /// The marker file.
        path: PathBuf,
        /// The RON parser's complaint.
        source: ron::error::SpannedError,
    },
    /// Synthetic-data options that cannot produce a usable dataset.
    #[error("invalid synthetic data options: {}", .problems.join("; "))]
    SynthOptions {
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// What is wrong with one line of a pairs file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairsProblem {
    /// The file has no header line.
    #[error("the file is empty; it should start with a pair count")]
    Empty,
    /// The header is neither `N` nor `FOLDS N`.
    #[error("the header should be `N` or `FOLDS N`, found `{text}`")]
    BadHeader {
        /// The header line as found.
        text: String,
    },
    /// A number field is not a whole number (or an image number is 0).
    #[error("{field} must be a whole number, found `{text}`")]
    BadNumber {
        /// Which field (`pair count`, `image number`, ...).
        field: &'static str,
        /// The text found.
        text: String,
    },
    /// A line has neither 3 nor 4 fields.
    #[error("expected {expected} tab- or space-separated fields, found {found}")]
    FieldCount {
        /// Fields expected at this point of the file.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A 3-field line where the file should be listing different pairs.
    #[error("a same pair (`name i j`) where a different pair (`name1 i name2 j`) was expected")]
    SameWhereDifferent,
    /// A 4-field line where the file should be listing same pairs.
    #[error("a different pair (`name1 i name2 j`) where a same pair (`name i j`) was expected")]
    DifferentWhereSame,
    /// A different pair whose two names are equal.
    #[error("a different pair names `{name}` twice")]
    SameNameInDifferent {
        /// The repeated name.
        name: String,
    },
    /// An empty line before the last pair.
    #[error("blank line among the pairs")]
    BlankLine,
}

/// One image named by a pairs file but absent from the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingImage {
    /// The 1-based line of the pairs file that names it.
    pub line: usize,
    /// The image.
    pub key: ImageKey,
}

/// Renders the missing images one per line as `file:line: Name_0001`, so editors can jump.
fn missing_list(path: &Path, missing: &[MissingImage]) -> String {
    let mut out = String::new();
    for m in missing {
        // Writing to a String cannot fail.
        let _ = write!(out, "\n  {}:{}: {}", path.display(), m.line, m.key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_images_lists_every_one_with_its_line() {
        let err = DataError::MissingImages {
            path: PathBuf::from("pairs.txt"),
            missing: vec![
                MissingImage {
                    line: 2,
                    key: ImageKey::new("A_B", 1),
                },
                MissingImage {
                    line: 7,
                    key: ImageKey::new("C_D", 12),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "2 image(s) named in pairs.txt are missing from the dataset:\n  \
             pairs.txt:2: A_B_0001\n  pairs.txt:7: C_D_0012"
        );
    }

    #[test]
    fn pairs_line_names_file_and_line() {
        let err = DataError::PairsLine {
            path: PathBuf::from("p.txt"),
            line: 3,
            problem: PairsProblem::FieldCount {
                expected: 3,
                found: 5,
            },
        };
        assert_eq!(
            err.to_string(),
            "p.txt:3: expected 3 tab- or space-separated fields, found 5"
        );
    }
}
