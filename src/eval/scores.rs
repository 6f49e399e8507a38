//! Checks on score lists and the sorted, tie-grouped view that every metric walks.

use super::EvalError;

/// Checks that `scores` and `labels` pair up, are not empty and are all finite.
pub(crate) fn check(what: &'static str, scores: &[f64], labels: &[bool]) -> Result<(), EvalError> {
    if scores.len() != labels.len() {
        return Err(EvalError::LengthMismatch {
            what,
            scores: scores.len(),
            labels: labels.len(),
        });
    }
    check_finite(what, scores)
}

/// Checks that `scores` is not empty and holds no NaN or infinity.
pub(crate) fn check_finite(what: &'static str, scores: &[f64]) -> Result<(), EvalError> {
    if scores.is_empty() {
        return Err(EvalError::Empty { what });
    }
    match scores.iter().position(|s| !s.is_finite()) {
        Some(index) => Err(EvalError::NonFinite {
            what,
            index,
            value: scores[index],
        }),
        None => Ok(()),
    }
}

/// Counts (same, different) labels and fails unless both are present.
pub(crate) fn check_both_classes(
    what: &'static str,
    labels: &[bool],
) -> Result<(usize, usize), EvalError> {
    let same = labels.iter().filter(|&&l| l).count();
    let different = labels.len() - same;
    if same == 0 || different == 0 {
        return Err(EvalError::OneClass {
            what,
            same,
            different,
        });
    }
    Ok((same, different))
}

/// Indices of `scores` from the highest score to the lowest. Equal scores keep their
/// input order, so everything downstream is deterministic.
pub(crate) fn order_desc(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// One run of equal scores: the score and the (weighted) number of same and different
/// pairs that have it. A threshold can only fall between groups, never inside one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Group {
    /// The shared score.
    pub score: f64,
    /// Same pairs (weight) with this score.
    pub same: u64,
    /// Different pairs (weight) with this score.
    pub different: u64,
}

/// Groups `order` (indices sorted by score) into runs of equal scores, counting each
/// pair `weight(index)` times (1 for plain metrics, the resample count in the bootstrap).
/// Groups with zero weight are dropped.
pub(crate) fn groups(
    scores: &[f64],
    labels: &[bool],
    order: &[usize],
    weight: impl Fn(usize) -> u64,
) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for &i in order {
        let w = weight(i);
        if w == 0 {
            continue;
        }
        let (same, different) = if labels[i] { (w, 0) } else { (0, w) };
        match out.last_mut() {
            // Exact equality is what makes a tie: the sort put equal scores together.
            Some(g) if g.score == scores[i] => {
                g.same += same;
                g.different += different;
            }
            _ => out.push(Group {
                score: scores[i],
                same,
                different,
            }),
        }
    }
    out
}

/// Area under the ROC curve from groups sorted by descending score, by the trapezoid
/// rule: each group moves the curve diagonally, so tied same/different pairs earn half
/// credit. `None` when a class is missing.
pub(crate) fn auc_of_groups(groups: &[Group]) -> Option<f64> {
    let positives: u64 = groups.iter().map(|g| g.same).sum();
    let negatives: u64 = groups.iter().map(|g| g.different).sum();
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Twice the area in units of one pair-pair comparison, kept integral to avoid drift.
    let mut twice_area: u128 = 0;
    let mut tp_before: u64 = 0;
    for g in groups {
        twice_area += u128::from(g.different) * u128::from(2 * tp_before + g.same);
        tp_before += g.same;
    }
    Some(twice_area as f64 / (2.0 * positives as f64 * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_bad_input() {
        assert!(matches!(
            check("x", &[], &[]),
            Err(EvalError::Empty { what: "x" })
        ));
        assert!(matches!(
            check("x", &[1.0], &[true, false]),
            Err(EvalError::LengthMismatch {
                scores: 1,
                labels: 2,
                ..
            })
        ));
        assert!(matches!(
            check("x", &[1.0, f64::NAN], &[true, false]),
            Err(EvalError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            check("x", &[f64::NEG_INFINITY], &[true]),
            Err(EvalError::NonFinite { index: 0, .. })
        ));
        assert!(matches!(
            check_both_classes("x", &[true, true]),
            Err(EvalError::OneClass {
                same: 2,
                different: 0,
                ..
            })
        ));
        assert_eq!(
            check_both_classes("x", &[true, false, false]).unwrap(),
            (1, 2)
        );
    }

    #[test]
    fn groups_merge_ties_and_weights() {
        let scores = [0.5, 0.9, 0.5, 0.1];
        let labels = [true, true, false, false];
        let order = order_desc(&scores);
        assert_eq!(order, vec![1, 0, 2, 3]);
        let g = groups(&scores, &labels, &order, |i| [1, 2, 3, 0][i]);
        // Index 3 has weight 0 and disappears; 0 and 2 tie at 0.5.
        assert_eq!(
            g,
            vec![
                Group {
                    score: 0.9,
                    same: 2,
                    different: 0
                },
                Group {
                    score: 0.5,
                    same: 1,
                    different: 3
                },
            ]
        );
    }

    #[test]
    fn auc_of_groups_counts_ties_as_half() {
        // One same and one different pair tied: the only comparison is a tie, so 0.5.
        let g = [Group {
            score: 1.0,
            same: 1,
            different: 1,
        }];
        assert_eq!(auc_of_groups(&g), Some(0.5));
        assert_eq!(
            auc_of_groups(&[Group {
                score: 1.0,
                same: 1,
                different: 0
            }]),
            None
        );
    }
}
