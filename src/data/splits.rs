//! Which identities are for training, which for one-shot testing, and which are left over.
//!
//! LFW's development pairs are drawn so that no person appears in both the train and the
//! test pairs; that is what makes the test one-shot. [`Splits::from_pairs`] checks it.

use std::collections::BTreeSet;

use super::{DataError, Dataset, Pair};

/// Identity names per split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Splits {
    /// Everyone named by the train pairs.
    pub train: BTreeSet<String>,
    /// Everyone named by the test pairs.
    pub test: BTreeSet<String>,
    /// Everyone else in the dataset (the seed's `unused` folder).
    pub unused: BTreeSet<String>,
}

impl Splits {
    /// Assigns identities from the train and test pairs; the rest of `dataset` is unused.
    ///
    /// Names in the pairs need not be in the dataset; [`Dataset::check_pairs`] is the
    /// check for that.
    ///
    /// # Errors
    /// [`DataError::SplitOverlap`] listing every identity found in both train and test.
    pub fn from_pairs(dataset: &Dataset, train: &[Pair], test: &[Pair]) -> Result<Self, DataError> {
        let train = names_of(train);
        let test = names_of(test);
        let overlap: Vec<String> = train.intersection(&test).cloned().collect();
        if !overlap.is_empty() {
            return Err(DataError::SplitOverlap { names: overlap });
        }
        let unused = dataset
            .names()
            .into_iter()
            .filter(|name| !train.contains(*name) && !test.contains(*name))
            .map(str::to_string)
            .collect();
        Ok(Self {
            train,
            test,
            unused,
        })
    }

    /// Which split an identity is in, if any.
    pub fn split_of(&self, name: &str) -> Option<&'static str> {
        if self.train.contains(name) {
            Some("train")
        } else if self.test.contains(name) {
            Some("test")
        } else if self.unused.contains(name) {
            Some("unused")
        } else {
            None
        }
    }
}

/// Every identity named by some pair.
pub fn names_of(pairs: &[Pair]) -> BTreeSet<String> {
    pairs
        .iter()
        .flat_map(|p| p.names())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proptest::prelude::*;

    use super::*;
    use crate::data::{ImageEntry, ImageKey, Layout};

    fn dataset(names: &[&str]) -> Dataset {
        let images = names
            .iter()
            .map(|n| ImageEntry {
                key: ImageKey::new(*n, 1),
                path: PathBuf::from(format!("{n}_0001.jpg")),
            })
            .collect();
        Dataset {
            root: PathBuf::from("."),
            layout: Layout::Flat,
            images,
            skipped: Vec::new(),
        }
    }

    fn pair(a: &str, b: &str) -> Pair {
        Pair {
            a: ImageKey::new(a, 1),
            b: ImageKey::new(b, 2),
            line: 2,
            fold: 0,
        }
    }

    #[test]
    fn assigns_train_test_and_unused() {
        let data = dataset(&["Ann", "Bob", "Cid", "Dan", "Eve"]);
        let splits = Splits::from_pairs(
            &data,
            &[pair("Ann", "Ann"), pair("Ann", "Bob")],
            &[pair("Cid", "Dan")],
        )
        .expect("splits");
        assert_eq!(splits.train, ["Ann", "Bob"].map(String::from).into());
        assert_eq!(splits.test, ["Cid", "Dan"].map(String::from).into());
        assert_eq!(splits.unused, ["Eve"].map(String::from).into());
        assert_eq!(splits.split_of("Eve"), Some("unused"));
        assert_eq!(splits.split_of("Zed"), None);
    }

    #[test]
    fn overlap_lists_every_shared_name() {
        let data = dataset(&["Ann", "Bob", "Cid"]);
        let err = Splits::from_pairs(
            &data,
            &[pair("Ann", "Bob"), pair("Cid", "Cid")],
            &[pair("Cid", "Bob")],
        )
        .expect_err("overlap");
        assert_eq!(
            err.to_string(),
            "identities in both the train and the test pairs: Bob, Cid"
        );
    }

    proptest! {
        #[test]
        fn every_identity_in_exactly_one_split(
            train in proptest::collection::vec((0usize..12, 0usize..12), 0..20),
            test in proptest::collection::vec((12usize..20, 12usize..20), 0..10),
        ) {
            let names: Vec<String> = (0..24).map(|i| format!("P{i:02}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let data = dataset(&refs);
            let to_pairs = |idx: &[(usize, usize)]| -> Vec<Pair> {
                idx.iter().map(|&(a, b)| pair(&names[a], &names[b])).collect()
            };
            let splits = Splits::from_pairs(&data, &to_pairs(&train), &to_pairs(&test))
                .expect("disjoint by construction");
            for name in &names {
                let count = [&splits.train, &splits.test, &splits.unused]
                    .iter()
                    .filter(|s| s.contains(name))
                    .count();
                prop_assert_eq!(count, 1, "{}", name);
            }
        }
    }
}
