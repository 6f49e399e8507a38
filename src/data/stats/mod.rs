//! Describing a dataset the way the seed study does (its section 4 and Tables 1 and 2).
//!
//! [`DatasetStats::compute`] gathers the numbers into plain structs, which tests check;
//! [`render()`] turns them into aligned text tables and [`sheet`] draws example pairs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::validation::PairCounts;
use super::{
    first_letter, split_validation, DataError, Dataset, Layout, Pair, Splits, ValidationSplit,
};

pub mod render;
pub mod sheet;
pub mod table;

pub use render::render;
pub use sheet::{write_contact_sheet, SheetOptions};

/// Upper bounds of the images-per-identity buckets; the last bucket is open-ended.
pub const BUCKET_LIMITS: [usize; 6] = [1, 2, 5, 10, 20, 50];

/// Everything `twinflow data stats` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetStats {
    /// Where the images are.
    pub root: PathBuf,
    /// How they are laid out.
    pub layout: Layout,
    /// Files skipped for not following the naming pattern.
    pub skipped: usize,
    /// The validation rule the split tables used.
    pub rule: ValidationSplit,
    /// Pairs per kind: the train file, its three parts, and the test file.
    pub balance: Vec<(String, PairCounts)>,
    /// The seed's Table 1: train pairs by first letter of the (first) name.
    pub letters: LetterHistogram,
    /// The seed's Table 2, and what making it identity-disjoint does to it.
    pub chosen: ChosenTable,
    /// Identities and images per split (train, test, unused, all).
    pub splits: Vec<SplitSummary>,
}

/// Train pairs per first letter, same and different pairs apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LetterHistogram {
    /// Same pairs per letter A-Z.
    pub same: [usize; 26],
    /// Different pairs per letter A-Z of the first name.
    pub different: [usize; 26],
    /// Pairs whose name does not start with a letter A-Z: (same, different).
    pub other: (usize, usize),
}

/// The validation split's pair counts, raw and identity-disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChosenTable {
    /// All train pairs.
    pub total: PairCounts,
    /// Validation pairs the rule picks (the seed's 343 / 379).
    pub raw_validation: PairCounts,
    /// Train pairs left once no identity is on both sides.
    pub train: PairCounts,
    /// Validation pairs kept.
    pub validation: PairCounts,
    /// Pairs dropped for sharing a person with validation.
    pub dropped: PairCounts,
    /// Identities in the remaining train pairs.
    pub train_identities: usize,
    /// Identities in validation.
    pub validation_identities: usize,
}

/// The identities of one split and how many images each has.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSummary {
    /// `train`, `test`, `unused` or `all`.
    pub name: String,
    /// Number of identities.
    pub identities: usize,
    /// Number of images.
    pub images: usize,
    /// Identities per bucket of [`BUCKET_LIMITS`], plus one for more than the last limit.
    pub buckets: Vec<usize>,
    /// Fewest images of an identity (0 for an empty split).
    pub min: usize,
    /// Median images per identity.
    pub median: f64,
    /// Mean images per identity.
    pub mean: f64,
    /// Most images of an identity.
    pub max: usize,
}

impl DatasetStats {
    /// Computes every statistic of a scanned dataset and its train and test pairs.
    ///
    /// # Errors
    /// [`DataError::SplitOverlap`] when train and test pairs share identities.
    pub fn compute(
        dataset: &Dataset,
        train: &[Pair],
        test: &[Pair],
        rule: &ValidationSplit,
        seed: u64,
    ) -> Result<Self, DataError> {
        let splits = Splits::from_pairs(dataset, train, test)?;
        let split = split_validation(train, rule, seed);
        let balance = vec![
            ("train pairs file".to_string(), PairCounts::of(train)),
            ("  train".to_string(), PairCounts::of(&split.train)),
            (
                "  validation".to_string(),
                PairCounts::of(&split.validation),
            ),
            ("  dropped".to_string(), PairCounts::of(&split.dropped)),
            ("test pairs file".to_string(), PairCounts::of(test)),
        ];
        let chosen = ChosenTable {
            total: PairCounts::of(train),
            raw_validation: split.raw_validation,
            train: PairCounts::of(&split.train),
            validation: PairCounts::of(&split.validation),
            dropped: PairCounts::of(&split.dropped),
            train_identities: super::splits::names_of(&split.train).len(),
            validation_identities: split.validation_identities.len(),
        };
        let all: BTreeSet<String> = dataset.names().into_iter().map(str::to_string).collect();
        let summaries = [
            ("train", &splits.train),
            ("test", &splits.test),
            ("unused", &splits.unused),
            ("all", &all),
        ]
        .into_iter()
        .map(|(name, names)| SplitSummary::of(name, dataset, names))
        .collect();
        Ok(Self {
            root: dataset.root.clone(),
            layout: dataset.layout,
            skipped: dataset.skipped.len(),
            rule: rule.clone(),
            balance,
            letters: LetterHistogram::of(train),
            chosen,
            splits: summaries,
        })
    }
}

impl LetterHistogram {
    /// Counts pairs by the first letter of their first name, as the seed's Table 1.
    pub fn of(pairs: &[Pair]) -> Self {
        let mut histogram = Self::default();
        for pair in pairs {
            let letter = first_letter(&pair.a.name).map(|c| usize::from(c as u8 - b'A'));
            match (letter, pair.is_same()) {
                (Some(i), true) => histogram.same[i] += 1,
                (Some(i), false) => histogram.different[i] += 1,
                (None, true) => histogram.other.0 += 1,
                (None, false) => histogram.other.1 += 1,
            }
        }
        histogram
    }
}

impl SplitSummary {
    /// Summarises the images of the identities `names` (unknown names count 0 images).
    pub fn of(name: &str, dataset: &Dataset, names: &BTreeSet<String>) -> Self {
        let mut counts: Vec<usize> = names.iter().map(|n| dataset.identity(n).len()).collect();
        counts.sort_unstable();
        let mut buckets = vec![0; BUCKET_LIMITS.len() + 1];
        for &count in &counts {
            let bucket = BUCKET_LIMITS.partition_point(|&limit| limit < count);
            buckets[bucket] += 1;
        }
        let images: usize = counts.iter().sum();
        Self {
            name: name.to_string(),
            identities: counts.len(),
            images,
            buckets,
            min: counts.first().copied().unwrap_or(0),
            median: median(&counts),
            mean: if counts.is_empty() {
                0.0
            } else {
                images as f64 / counts.len() as f64
            },
            max: counts.last().copied().unwrap_or(0),
        }
    }
}

/// The median of sorted counts (0 when there are none).
fn median(sorted: &[usize]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2] as f64,
        n => (sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ImageEntry, ImageKey};

    /// A dataset where person `i` of `counts` has `counts[i]` images.
    fn dataset(people: &[(&str, u32)]) -> Dataset {
        let mut images = Vec::new();
        for &(name, count) in people {
            for number in 1..=count {
                let key = ImageKey::new(name, number);
                images.push(ImageEntry {
                    path: PathBuf::from(key.file_name()),
                    key,
                });
            }
        }
        images.sort();
        Dataset {
            root: PathBuf::from("."),
            layout: Layout::Flat,
            images,
            skipped: Vec::new(),
        }
    }

    fn pair(a: &str, b: &str) -> Pair {
        let (a, b) = (ImageKey::new(a, 1), ImageKey::new(b, 2));
        Pair {
            a,
            b,
            line: 2,
            fold: 0,
        }
    }

    #[test]
    fn summary_buckets_and_moments() {
        let data = dataset(&[("A", 1), ("B", 2), ("C", 3), ("D", 7), ("E", 60)]);
        let names: BTreeSet<String> = ["A", "B", "C", "D", "E"].map(String::from).into();
        let summary = SplitSummary::of("all", &data, &names);
        assert_eq!(summary.buckets, [1, 1, 1, 1, 0, 0, 1]);
        assert_eq!((summary.min, summary.max, summary.images), (1, 60, 73));
        assert_eq!(summary.median, 3.0);
        assert!((summary.mean - 14.6).abs() < 1e-9);
        let empty = SplitSummary::of("none", &data, &BTreeSet::new());
        assert_eq!((empty.identities, empty.median, empty.mean), (0, 0.0, 0.0));
        assert_eq!(median(&[1, 2, 3, 10]), 2.5);
    }

    #[test]
    fn compute_counts_letters_splits_and_balance() {
        let data = dataset(&[("Ann", 2), ("Bob", 2), ("Zed", 2), ("Tim", 3), ("Uma", 1)]);
        let train = [
            pair("Ann", "Ann"),
            pair("Zed", "Zed"),
            pair("Bob", "Zed"),
            pair("Zed", "Ann"),
        ];
        let test = [pair("Tim", "Tim")];
        let stats = DatasetStats::compute(&data, &train, &test, &ValidationSplit::default(), 0)
            .expect("stats");
        let counts = |same, different| PairCounts { same, different };
        assert_eq!((stats.letters.same[0], stats.letters.same[25]), (1, 1));
        assert_eq!(
            (stats.letters.different[1], stats.letters.different[25]),
            (1, 1)
        );
        assert_eq!(stats.chosen.raw_validation, counts(1, 1));
        // Validation holds Ann, Bob and Zed, so every other train pair is dropped.
        assert_eq!(stats.chosen.dropped, counts(1, 1));
        assert_eq!(stats.chosen.validation_identities, 3);
        assert_eq!(stats.balance[4].1, counts(1, 0));
        let splits: Vec<(&str, usize, usize)> = stats
            .splits
            .iter()
            .map(|s| (s.name.as_str(), s.identities, s.images))
            .collect();
        let expected = [
            ("train", 3, 6),
            ("test", 1, 3),
            ("unused", 1, 1),
            ("all", 5, 10),
        ];
        assert_eq!(splits, expected);
    }
}
