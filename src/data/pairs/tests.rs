//! Pairs parser tests: the real format's quirks, every error, and property tests that
//! rendered pairs parse back identically and that garbage never panics.

use std::path::Path;

use proptest::prelude::*;

use super::*;

const SOURCE: &str = "pairsDevTrain.txt";

fn parse(text: &str) -> Result<Vec<Pair>, DataError> {
    parse_pairs(text, Path::new(SOURCE))
}

/// The line and problem of a line error, or a panic naming the unexpected error.
fn line_problem(text: &str) -> (usize, PairsProblem) {
    match parse(text) {
        Err(DataError::PairsLine { line, problem, .. }) => (line, problem),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn one_count_file_like_pairs_dev_train() {
    let text = "2\nAaron_Peirsol\t1\t2\nAbdel_Nasser_Assidi\t1\t2\n\
                AJ_Cook\t1\tMarsha_Thomason\t1\nAaron_Sorkin\t2\tFrank_Solich\t5\n";
    let pairs = parse(text).expect("parse");
    assert_eq!(pairs.len(), 4);
    assert!(pairs[0].is_same() && pairs[1].is_same());
    assert!(!pairs[2].is_same() && !pairs[3].is_same());
    assert_eq!(pairs[1].a, ImageKey::new("Abdel_Nasser_Assidi", 1));
    assert_eq!(pairs[3].b, ImageKey::new("Frank_Solich", 5));
    assert_eq!(pairs[3].line, 5);
    assert!(pairs.iter().all(|p| p.fold == 0));
    assert_eq!(render_pairs(&pairs), text);
}

#[test]
fn folds_file_like_pairs_txt() {
    let text = "2 1\nA_B 1 2\nA_B 1 C_D 1\nE_F 3 4\nE_F 1 G_H 2\n";
    let pairs = parse(text).expect("parse");
    let folds: Vec<usize> = pairs.iter().map(|p| p.fold).collect();
    assert_eq!(folds, [0, 0, 1, 1]);
    assert_eq!(parse(&render_pairs(&pairs)).expect("reparse"), pairs);
}

#[test]
fn tolerates_crlf_spaces_and_trailing_blank_lines() {
    let text = "1 \r\nA_B   1\t2  \r\nA_B\t1 C_D 1\t\r\n\r\n   \n";
    let pairs = parse(text).expect("parse");
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[1].b, ImageKey::new("C_D", 1));
}

#[test]
fn structural_errors_name_the_line() {
    assert_eq!(line_problem(""), (1, PairsProblem::Empty));
    assert_eq!(line_problem("\n\n"), (1, PairsProblem::Empty));
    assert!(matches!(
        line_problem("1 2 3\n"),
        (1, PairsProblem::BadHeader { .. })
    ));
    assert!(matches!(
        line_problem("x\n"),
        (
            1,
            PairsProblem::BadNumber {
                field: "pair count",
                ..
            }
        )
    ));
    assert_eq!(
        line_problem("1\nA_B 1 C_D 2\nA_B 1 C_D 2\n"),
        (2, PairsProblem::DifferentWhereSame)
    );
    assert_eq!(
        line_problem("1\nA_B 1 2\nA_B 1 2\n"),
        (3, PairsProblem::SameWhereDifferent)
    );
    assert_eq!(
        line_problem("1\nA_B 1 2 3 4 5\nA_B 1 C_D 2\n"),
        (
            2,
            PairsProblem::FieldCount {
                expected: 3,
                found: 6
            }
        )
    );
    assert_eq!(
        line_problem("1\nA_B 1 2\n\nA_B 1 C_D 2\n"),
        (3, PairsProblem::BlankLine)
    );
    assert_eq!(
        line_problem("1\nA_B 1 2\nA_B 1 A_B 2\n"),
        (
            3,
            PairsProblem::SameNameInDifferent {
                name: "A_B".to_string()
            }
        )
    );
}

#[test]
fn bad_image_numbers_are_reported() {
    for bad in ["0", "-1", "1.5", "x", "99999999999"] {
        let text = format!("1\nA_B 1 {bad}\nA_B 1 C_D 2\n");
        let (line, problem) = line_problem(&text);
        assert_eq!(line, 2);
        assert!(
            matches!(&problem, PairsProblem::BadNumber { text, .. } if text == bad),
            "{problem:?}"
        );
    }
    let err = parse("1\nA_B 1 x\nA_B 1 C_D 2\n").expect_err("bad number");
    assert_eq!(
        err.to_string(),
        "pairsDevTrain.txt:2: image number (1 or more) must be a whole number, found `x`"
    );
}

#[test]
fn count_mismatch_both_ways() {
    let short = parse("2\nA_B 1 2\nE_F 1 2\nA_B 1 C_D 2\n").expect_err("short");
    assert!(
        matches!(
            short,
            DataError::PairsCount {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{short:?}"
    );
    let long = parse("1\nA_B 1 2\nA_B 1 C_D 2\nA_B 1 C_D 2\n").expect_err("long");
    assert!(matches!(
        long,
        DataError::PairsCount {
            expected: 2,
            found: 3,
            ..
        }
    ));
    assert!(long
        .to_string()
        .starts_with("pairsDevTrain.txt: the header promises 2"));
}

#[test]
fn read_pairs_names_a_missing_file() {
    let err = read_pairs(Path::new("/nonexistent/pairs.txt")).expect_err("missing");
    assert!(matches!(err, DataError::ReadFile { .. }));
    assert!(err.to_string().contains("/nonexistent/pairs.txt"));
}

/// An LFW-looking name: capitalised parts joined by `_`, some with hyphens.
fn name() -> impl Strategy<Value = String> {
    "[A-Z][a-z]{0,6}(-[A-Z][a-z]{1,4})?(_[A-Za-z][a-z]{0,6}){1,3}"
}

/// Well-formed pairs: `folds` folds of `per_side` same and `per_side` different pairs.
fn pairs_file() -> impl Strategy<Value = Vec<Pair>> {
    (1usize..4, 1usize..6).prop_flat_map(|(folds, per_side)| {
        let same = (name(), 1u32..10_000, 1u32..10_000);
        let diff = (name(), 1u32..10_000, name(), 1u32..10_000);
        (
            proptest::collection::vec(same, folds * per_side),
            proptest::collection::vec(diff, folds * per_side),
        )
            .prop_map(move |(same, diff)| lay_out(per_side, same, diff))
    })
}

/// Interleaves same and different pairs fold by fold, numbering lines as a file would.
fn lay_out(
    per_side: usize,
    same: Vec<(String, u32, u32)>,
    diff: Vec<(String, u32, String, u32)>,
) -> Vec<Pair> {
    let mut same = same.into_iter();
    let mut diff = diff.into_iter();
    let mut pairs = Vec::new();
    let folds = same.len() / per_side;
    for fold in 0..folds {
        for (name, i, j) in same.by_ref().take(per_side) {
            let (a, b) = (ImageKey::new(&name, i), ImageKey::new(name, j));
            pairs.push(Pair {
                a,
                b,
                line: pairs.len() + 2,
                fold,
            });
        }
        for (n1, i, mut n2, j) in diff.by_ref().take(per_side) {
            if n1 == n2 {
                n2.push_str("_Jr");
            }
            let (a, b) = (ImageKey::new(n1, i), ImageKey::new(n2, j));
            pairs.push(Pair {
                a,
                b,
                line: pairs.len() + 2,
                fold,
            });
        }
    }
    pairs
}

proptest! {
    #[test]
    fn rendered_pairs_parse_back_identically(pairs in pairs_file()) {
        let text = render_pairs(&pairs);
        prop_assert_eq!(parse(&text).expect("parse rendered"), pairs);
    }

    #[test]
    fn whitespace_variants_parse_the_same(
        pairs in pairs_file(),
        sep in prop::sample::select(vec!["\t", " ", "  ", " \t"]),
        crlf in any::<bool>(),
        trailing in prop::sample::select(vec!["", " ", "\t"]),
        blank_lines in 0usize..3,
    ) {
        let mut text: String = render_pairs(&pairs)
            .lines()
            .map(|l| format!("{}{trailing}{}", l.replace('\t', sep), if crlf { "\r\n" } else { "\n" }))
            .collect();
        text.push_str(&"\n".repeat(blank_lines));
        prop_assert_eq!(parse(&text).expect("parse variant"), pairs);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn plausible_garbage_never_panics(
        tokens in proptest::collection::vec(
            prop::sample::select(vec!["0", "1", "2", "3", "99999999999", "A_B", "C", "\t", " ", "\n", "\r\n", "-1"]),
            0..60,
        )
    ) {
        let _ = parse(&tokens.concat());
    }
}
