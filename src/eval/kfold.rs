//! LFW-style cross-validated accuracy: each fold is measured at a threshold chosen on
//! the other folds.

use serde::{Deserialize, Serialize};

use super::threshold::{accuracy_at, best_threshold};
use super::{scores, EvalError};

/// Cross-validated accuracy, reported as LFW's README asks: the mean over folds and the
/// standard error of that mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KFold {
    /// Mean of the per-fold accuracies.
    pub mean: f64,
    /// Sample standard deviation of the per-fold accuracies (divides by k - 1).
    pub std: f64,
    /// Standard error of the mean: `std / sqrt(k)`.
    pub std_error: f64,
    /// Accuracy on each held-out fold, by fold id.
    pub per_fold: Vec<f64>,
    /// The threshold each fold was measured at, chosen on the other folds.
    pub thresholds: Vec<f64>,
}

/// Cross-validated accuracy. `folds[i]` is the fold of pair `i`; fold ids must run
/// `0..k` with no fold empty and k >= 2 (LFW's pairs.txt gives 10 folds of 300 same and
/// 300 different pairs). For each fold, [`best_threshold`] is chosen on all other folds
/// and accuracy measured on the held-out fold.
///
/// # Errors
/// [`EvalError`] for empty, mismatched or non-finite input, a fold list of the wrong
/// length, fewer than 2 folds or an empty fold, and [`EvalError::Fold`] when the pairs
/// outside a fold lack a class.
pub fn kfold_accuracy(
    scores: &[f64],
    labels: &[bool],
    folds: &[usize],
) -> Result<KFold, EvalError> {
    scores::check("cross-validation input", scores, labels)?;
    if folds.len() != scores.len() {
        return Err(EvalError::FoldLength {
            folds: folds.len(),
            scores: scores.len(),
        });
    }
    let k = folds.iter().max().map_or(0, |&m| m + 1);
    if k < 2 {
        return Err(EvalError::TooFewFolds { k });
    }
    if let Some(fold) = (0..k).find(|f| !folds.contains(f)) {
        return Err(EvalError::EmptyFold { fold });
    }
    let (mut per_fold, mut thresholds) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for fold in 0..k {
        let (train, held_out) = split(scores, labels, folds, fold);
        let t = best_threshold(&train.0, &train.1).map_err(|e| EvalError::Fold {
            fold,
            source: Box::new(e),
        })?;
        per_fold.push(accuracy_at(&held_out.0, &held_out.1, t.value)?);
        thresholds.push(t.value);
    }
    let mean = per_fold.iter().sum::<f64>() / k as f64;
    let variance = per_fold.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    let std = variance.sqrt();
    Ok(KFold {
        mean,
        std,
        std_error: std / (k as f64).sqrt(),
        per_fold,
        thresholds,
    })
}

/// Scores and labels of one side of a split.
type Part = (Vec<f64>, Vec<bool>);

/// Splits the pairs into (all other folds, fold `fold`).
fn split(scores: &[f64], labels: &[bool], folds: &[usize], fold: usize) -> (Part, Part) {
    let (mut train, mut held_out): (Part, Part) = Default::default();
    for ((&s, &l), &f) in scores.iter().zip(labels).zip(folds) {
        let part = if f == fold { &mut held_out } else { &mut train };
        part.0.push(s);
        part.1.push(l);
    }
    (train, held_out)
}

/// Deterministic folds for pair files that have none: the same pairs, in file order,
/// are cut into `k` contiguous runs of near-equal size, and so are the different pairs;
/// fold `j` takes the `j`-th run of each. This keeps each fold's class balance close to
/// the whole file's, as LFW's folds are.
///
/// # Errors
/// [`EvalError::TooFewFolds`] for k < 2, [`EvalError::Empty`] for no labels, and
/// [`EvalError::EmptyFold`] when there are too few pairs to give every fold one.
pub fn contiguous_folds(labels: &[bool], k: usize) -> Result<Vec<usize>, EvalError> {
    if k < 2 {
        return Err(EvalError::TooFewFolds { k });
    }
    if labels.is_empty() {
        return Err(EvalError::Empty {
            what: "fold labels",
        });
    }
    let same = labels.iter().filter(|&&l| l).count();
    let class_size = |l: bool| if l { same } else { labels.len() - same };
    let mut seen = [0usize; 2];
    let folds: Vec<usize> = labels
        .iter()
        .map(|&l| {
            let j = seen[usize::from(l)];
            seen[usize::from(l)] += 1;
            j * k / class_size(l)
        })
        .collect();
    match (0..k).find(|f| !folds.contains(f)) {
        Some(fold) => Err(EvalError::EmptyFold { fold }),
        None => Ok(folds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_fold_by_hand() {
        // Fold 0: same 0.9, 0.6; different 0.5, 0.1.
        // Fold 1: same 0.8, 0.3; different 0.4, 0.7.
        let scores = [0.9, 0.6, 0.5, 0.1, 0.8, 0.3, 0.4, 0.7];
        let labels = [true, true, false, false, true, true, false, false];
        let folds = [0, 0, 0, 0, 1, 1, 1, 1];
        let k = kfold_accuracy(&scores, &labels, &folds).unwrap();
        // Fold 0 held out: on fold 1 (ascending 0.3s 0.4d 0.7d 0.8s) the best is 3 of 4
        // between 0.7 and 0.8, so 0.75; on fold 0 that misses 0.6 only: 0.75.
        // Fold 1 held out: on fold 0 (0.1d 0.5d 0.6s 0.9s) 0.55 gets all 4; on fold 1 it
        // misses 0.3 (same) and 0.7 (different): 0.5.
        assert_eq!(k.thresholds.len(), 2);
        assert!((k.thresholds[0] - 0.75).abs() < 1e-12);
        assert!((k.thresholds[1] - 0.55).abs() < 1e-12);
        assert_eq!(k.per_fold, vec![0.75, 0.5]);
        assert_eq!(k.mean, 0.625);
        // Deviations are +-0.125: variance 2 * 0.015625 / (2 - 1), std = 0.125 * sqrt 2,
        // standard error = std / sqrt 2 = 0.125.
        assert!((k.std - 0.125 * 2f64.sqrt()).abs() < 1e-12);
        assert!((k.std_error - 0.125).abs() < 1e-12);
    }

    #[test]
    fn separable_ten_fold_is_perfect() {
        // 10 folds of 3 same (scores above 0.5) and 3 different (below), LFW's layout.
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for f in 0..10 {
            for i in 0..3 {
                let jitter = f64::from(f * 3 + i) / 100.0;
                scores.extend([0.6 + jitter, 0.4 - jitter]);
                labels.extend([true, false]);
            }
        }
        let folds = contiguous_folds(&labels, 10).unwrap();
        let k = kfold_accuracy(&scores, &labels, &folds).unwrap();
        assert_eq!(k.per_fold, vec![1.0; 10]);
        assert_eq!((k.mean, k.std, k.std_error), (1.0, 0.0, 0.0));
    }

    #[test]
    fn contiguous_folds_cut_each_class_in_order() {
        // 4 same pairs cut 2+2, 6 different pairs cut 3+3 (j * k / n for the j-th).
        let labels = [
            true, true, true, true, false, false, false, false, false, false,
        ];
        assert_eq!(
            contiguous_folds(&labels, 2).unwrap(),
            vec![0, 0, 1, 1, 0, 0, 0, 1, 1, 1]
        );
        // Interleaved classes keep their own order.
        assert_eq!(
            contiguous_folds(&[true, false, true, false], 2).unwrap(),
            vec![0, 0, 1, 1]
        );
    }

    #[test]
    fn errors() {
        let (s, l) = ([0.1, 0.9, 0.2, 0.8], [false, true, false, true]);
        assert!(matches!(
            kfold_accuracy(&s, &l, &[0, 0, 0]),
            Err(EvalError::FoldLength {
                folds: 3,
                scores: 4
            })
        ));
        assert!(matches!(
            kfold_accuracy(&s, &l, &[0, 0, 0, 0]),
            Err(EvalError::TooFewFolds { k: 1 })
        ));
        assert!(matches!(
            kfold_accuracy(&s, &l, &[0, 2, 0, 2]),
            Err(EvalError::EmptyFold { fold: 1 })
        ));
        // Without fold 0, only different pairs remain to choose a threshold on.
        let err = kfold_accuracy(&s, &l, &[1, 0, 1, 0]).unwrap_err();
        assert!(matches!(err, EvalError::Fold { fold: 0, .. }), "{err}");
        assert!(matches!(
            contiguous_folds(&[true, false], 3),
            Err(EvalError::EmptyFold { fold: 1 })
        ));
        assert!(matches!(
            contiguous_folds(&[true], 1),
            Err(EvalError::TooFewFolds { k: 1 })
        ));
        assert!(matches!(
            contiguous_folds(&[], 2),
            Err(EvalError::Empty { .. })
        ));
    }
}
