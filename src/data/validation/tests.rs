//! Validation split tests: the RON form, rule checks, a worked example of the seed's rule,
//! and property tests that nothing is lost and no identity is on both sides.

use proptest::prelude::*;

use super::*;
use crate::data::ImageKey;

fn pair(a: &str, b: &str, line: usize) -> Pair {
    Pair {
        a: ImageKey::new(a, 1),
        b: ImageKey::new(b, 2),
        line,
        fold: 0,
    }
}

fn lines(pairs: &[Pair]) -> Vec<usize> {
    pairs.iter().map(|p| p.line).collect()
}

#[test]
fn ron_forms_and_default() {
    let letter: ValidationSplit =
        ron::from_str(r#"FirstLetter(same: "ABCDE", different: "ABC")"#).expect("letters");
    assert_eq!(letter, ValidationSplit::default());
    let ratio: ValidationSplit = ron::from_str("Ratio(fraction: 0.3)").expect("ratio");
    assert_eq!(ratio, ValidationSplit::Ratio { fraction: 0.3 });
    let unknown = ron::from_str::<ValidationSplit>("Ratio(fraction: 0.3, seed: 1)");
    assert!(unknown.is_err(), "unknown fields must be rejected");
    let text = ron::to_string(&ValidationSplit::default()).expect("serialise");
    assert_eq!(
        ron::from_str::<ValidationSplit>(&text).expect("reparse"),
        ValidationSplit::default()
    );
}

#[test]
fn validate_collects_every_problem() {
    assert!(ValidationSplit::default().validate().is_empty());
    assert!(ValidationSplit::Ratio { fraction: 0.3 }
        .validate()
        .is_empty());
    let bad = ValidationSplit::FirstLetter {
        same: String::new(),
        different: "A1 ".to_string(),
    };
    let problems = bad.validate();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("`same` must list at least one letter"));
    assert!(problems.iter().any(|p| p.contains("'1'")), "{problems:?}");
    for fraction in [0.0, 1.0, -0.5, 2.0, f64::NAN] {
        assert_eq!(
            ValidationSplit::Ratio { fraction }.validate().len(),
            1,
            "{fraction}"
        );
    }
}

#[test]
fn describe_shows_the_seed_letters() {
    assert_eq!(
        ValidationSplit::default().describe(),
        "A, B, C, D, E / A, B, C"
    );
    assert_eq!(
        ValidationSplit::Ratio { fraction: 0.3 }.describe(),
        "30% of identities"
    );
}

#[test]
fn first_letter_rule_then_drops_shared_identities() {
    let pairs = [
        pair("Ann_A", "Ann_A", 2), // same, A: validation
        pair("eve_E", "eve_E", 3), // same, e (case-insensitive): validation
        pair("Zed_Z", "Zed_Z", 4), // same, Z: train, but Zed is dragged in by line 6
        pair("Max_M", "Max_M", 5), // same, M: train
        pair("Bob_B", "Zed_Z", 6), // different, B: validation (brings Zed along)
        pair("Dan_D", "Max_M", 7), // different, D not in "ABC": train
        pair("Max_M", "Ann_A", 8), // different, M: train, but Ann is in validation
    ];
    let result = split_validation(&pairs, &ValidationSplit::default(), 0);
    assert_eq!(lines(&result.validation), [2, 3, 6]);
    assert_eq!(lines(&result.train), [5, 7]);
    assert_eq!(lines(&result.dropped), [4, 8]);
    let ids: Vec<&str> = result
        .validation_identities
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(ids, ["Ann_A", "Bob_B", "Zed_Z", "eve_E"]);
    assert_eq!(
        result.raw_validation,
        PairCounts {
            same: 2,
            different: 1
        }
    );
    assert_eq!(
        result.raw_train,
        PairCounts {
            same: 2,
            different: 2
        }
    );
}

#[test]
fn ratio_keeps_both_sides_non_empty() {
    let pairs = [pair("A", "A", 2), pair("B", "B", 3)];
    for fraction in [0.01, 0.99] {
        let result = split_validation(&pairs, &ValidationSplit::Ratio { fraction }, 3);
        assert_eq!(result.validation_identities.len(), 1, "{fraction}");
        assert_eq!((result.train.len(), result.validation.len()), (1, 1));
    }
}

/// Random train pairs over 16 people whose names start with varied letters.
fn random_pairs() -> impl Strategy<Value = Vec<Pair>> {
    let names: Vec<String> = "ABCDEFGHxyzMNOPQ"
        .chars()
        .enumerate()
        .map(|(i, c)| format!("{c}person_{i}"))
        .collect();
    proptest::collection::vec((0usize..16, 0usize..16), 0..60).prop_map(move |idx| {
        idx.iter()
            .enumerate()
            .map(|(line, &(a, b))| pair(&names[a], &names[b], line + 2))
            .collect()
    })
}

fn rules() -> impl Strategy<Value = ValidationSplit> {
    prop_oneof![
        ("[A-Za-z]{1,6}", "[A-Za-z]{1,6}")
            .prop_map(|(same, different)| ValidationSplit::FirstLetter { same, different }),
        (0.05f64..0.95).prop_map(|fraction| ValidationSplit::Ratio { fraction }),
    ]
}

proptest! {
    #[test]
    fn nothing_lost_and_no_identity_on_both_sides(
        pairs in random_pairs(),
        rule in rules(),
        seed in any::<u64>(),
    ) {
        let result = split_validation(&pairs, &rule, seed);
        let mut all: Vec<usize> = lines(&result.train);
        all.extend(lines(&result.validation));
        all.extend(lines(&result.dropped));
        all.sort_unstable();
        prop_assert_eq!(all, lines(&pairs));

        let train_ids = names_of(&result.train);
        let validation_ids = names_of(&result.validation);
        prop_assert!(train_ids.is_disjoint(&validation_ids));
        prop_assert!(train_ids.is_disjoint(&result.validation_identities));
        prop_assert!(validation_ids.is_subset(&result.validation_identities));
        prop_assert_eq!(result.raw_validation.total() + result.raw_train.total(), pairs.len());
    }

    #[test]
    fn ratio_is_deterministic_per_seed(
        pairs in random_pairs(),
        fraction in 0.05f64..0.95,
        seed in any::<u64>(),
    ) {
        let rule = ValidationSplit::Ratio { fraction };
        prop_assert_eq!(
            split_validation(&pairs, &rule, seed),
            split_validation(&pairs, &rule, seed)
        );
    }
}
