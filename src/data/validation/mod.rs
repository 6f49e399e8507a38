//! Carving an identity-disjoint validation set out of the train pairs.
//!
//! The seed study picks validation pairs by the first letter of a name (its Table 2). That
//! rule alone lets a person appear on both sides (a different pair drags its second person
//! into validation whatever their letter), so after applying it every train pair that
//! involves a validation identity is dropped. The alternative, [`ValidationSplit::Ratio`],
//! draws validation identities at random with a seed.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::splits::names_of;
use super::{first_letter, Pair};

/// How to choose validation pairs from the train pairs (a pipeline config slot).
///
/// RON: `FirstLetter(same: "ABCDE", different: "ABC")` or `Ratio(fraction: 0.3)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ValidationSplit {
    /// The seed's rule: a same pair goes to validation when its name starts with one of
    /// `same`; a different pair when its first name starts with one of `different`
    /// (case-insensitive). Train pairs sharing a person with validation are then dropped.
    FirstLetter {
        /// Letters that send a same pair to validation.
        same: String,
        /// Letters that send a different pair (by its first name) to validation.
        different: String,
    },
    /// A seeded random `fraction` of the train identities becomes validation identities;
    /// pairs that mix the two sides are dropped.
    Ratio {
        /// Share of identities for validation, strictly between 0 and 1.
        fraction: f64,
    },
}

impl Default for ValidationSplit {
    /// The seed study's choice, which gives 343 same and 379 different validation pairs
    /// on `pairsDevTrain.txt`.
    fn default() -> Self {
        Self::FirstLetter {
            same: "ABCDE".to_string(),
            different: "ABC".to_string(),
        }
    }
}

impl ValidationSplit {
    /// Every problem with this rule, as messages naming the field; empty when valid.
    pub fn validate(&self) -> Vec<String> {
        match self {
            Self::FirstLetter { same, different } => {
                let mut problems = letter_problems("same", same);
                problems.extend(letter_problems("different", different));
                problems
            }
            Self::Ratio { fraction } => {
                if *fraction > 0.0 && *fraction < 1.0 {
                    Vec::new()
                } else {
                    vec![format!(
                        "Ratio: `fraction` must be strictly between 0 and 1, found {fraction}"
                    )]
                }
            }
        }
    }

    /// A short human description, for tables: `A, B, C, D, E / A, B, C` or `30% of identities`.
    pub fn describe(&self) -> String {
        match self {
            Self::FirstLetter { same, different } => {
                format!("{} / {}", letters_label(same), letters_label(different))
            }
            Self::Ratio { fraction } => format!("{:.0}% of identities", fraction * 100.0),
        }
    }
}

/// The problems of one letters field: empty, or holding something other than A-Z.
fn letter_problems(field: &str, letters: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if letters.is_empty() {
        problems.push(format!(
            "FirstLetter: `{field}` must list at least one letter"
        ));
    }
    let bad: BTreeSet<char> = letters
        .chars()
        .filter(|c| !c.is_ascii_alphabetic())
        .collect();
    for c in bad {
        problems.push(format!(
            "FirstLetter: `{field}` holds {c:?}, which is not a letter A-Z"
        ));
    }
    problems
}

/// Letters as the seed's table shows them: upper-case, sorted, comma-separated.
pub fn letters_label(letters: &str) -> String {
    let set = letter_set(letters);
    let shown: Vec<String> = set.iter().map(char::to_string).collect();
    shown.join(", ")
}

/// The upper-cased letters of a field.
fn letter_set(letters: &str) -> BTreeSet<char> {
    letters
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Same and different pair counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairCounts {
    /// Pairs of one person.
    pub same: usize,
    /// Pairs of two people.
    pub different: usize,
}

impl PairCounts {
    /// Counts the pairs by kind.
    pub fn of(pairs: &[Pair]) -> Self {
        let same = pairs.iter().filter(|p| p.is_same()).count();
        Self {
            same,
            different: pairs.len() - same,
        }
    }

    /// All pairs.
    pub fn total(&self) -> usize {
        self.same + self.different
    }
}

/// The train pairs divided by [`split_validation`]; nothing is lost:
/// `train + validation + dropped` is the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationSplitResult {
    /// Pairs left for training; none involves a validation identity.
    pub train: Vec<Pair>,
    /// Pairs for validation.
    pub validation: Vec<Pair>,
    /// Pairs that would put a person on both sides, so belong to neither.
    pub dropped: Vec<Pair>,
    /// Everyone in the validation pairs (for `Ratio`: everyone drawn, paired or not).
    pub validation_identities: BTreeSet<String>,
    /// Validation pairs as the rule alone picks them, before keeping identities disjoint
    /// (the seed's Table 2: 343 same and 379 different on `pairsDevTrain.txt`).
    pub raw_validation: PairCounts,
    /// The other pairs as the rule alone leaves them for training (the seed's 757 / 721).
    pub raw_train: PairCounts,
}

/// Splits train pairs into train and validation with identities on one side only.
///
/// Input order is kept within each output. Deterministic for a given `seed` (which only
/// `Ratio` uses). The rule should have passed [`ValidationSplit::validate`]; an invalid
/// one still gives a well-formed (if lopsided) result, never a panic.
pub fn split_validation(
    pairs: &[Pair],
    rule: &ValidationSplit,
    seed: u64,
) -> ValidationSplitResult {
    let (picked, validation_identities) = match rule {
        ValidationSplit::FirstLetter { same, different } => pick_by_letter(pairs, same, different),
        ValidationSplit::Ratio { fraction } => pick_by_ratio(pairs, *fraction, seed),
    };
    let mut result = ValidationSplitResult {
        train: Vec::new(),
        validation: Vec::new(),
        dropped: Vec::new(),
        validation_identities,
        raw_validation: PairCounts::default(),
        raw_train: PairCounts::default(),
    };
    for (pair, picked) in pairs.iter().zip(picked) {
        let touches_validation = pair
            .names()
            .iter()
            .any(|n| result.validation_identities.contains(*n));
        if picked {
            result.validation.push(pair.clone());
        } else if touches_validation {
            result.dropped.push(pair.clone());
        } else {
            result.train.push(pair.clone());
        }
    }
    result.raw_validation = PairCounts::of(&result.validation);
    let rest = PairCounts::of(&result.train);
    let dropped = PairCounts::of(&result.dropped);
    result.raw_train = PairCounts {
        same: rest.same + dropped.same,
        different: rest.different + dropped.different,
    };
    result
}

/// The seed's letter rule: which pairs it picks, and who is then in validation.
fn pick_by_letter(pairs: &[Pair], same: &str, different: &str) -> (Vec<bool>, BTreeSet<String>) {
    let (same, different) = (letter_set(same), letter_set(different));
    let picked: Vec<bool> = pairs
        .iter()
        .map(|p| {
            let letters = if p.is_same() { &same } else { &different };
            first_letter(&p.a.name).is_some_and(|c| letters.contains(&c))
        })
        .collect();
    let chosen: Vec<Pair> = pairs
        .iter()
        .zip(&picked)
        .filter(|(_, &picked)| picked)
        .map(|(p, _)| p.clone())
        .collect();
    (picked, names_of(&chosen))
}

/// Draws validation identities at random; a pair is picked when both its people are.
///
/// At least one identity goes to each side whenever there are two or more.
fn pick_by_ratio(pairs: &[Pair], fraction: f64, seed: u64) -> (Vec<bool>, BTreeSet<String>) {
    let mut names: Vec<String> = names_of(pairs).into_iter().collect();
    let n = names.len();
    // `as` saturates, and maps NaN to 0, so a bad fraction cannot panic here.
    let wanted = (fraction * n as f64).round() as usize;
    let count = if n >= 2 {
        wanted.clamp(1, n - 1)
    } else {
        wanted.min(n)
    };
    names.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let chosen: BTreeSet<String> = names.into_iter().take(count).collect();
    let picked = pairs
        .iter()
        .map(|p| p.names().iter().all(|n| chosen.contains(*n)))
        .collect();
    (picked, chosen)
}

#[cfg(test)]
mod tests;
