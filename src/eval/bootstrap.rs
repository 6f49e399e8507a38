//! Percentile bootstrap confidence intervals for test accuracy and AUC.
//!
//! A resample draws as many pairs as the test set has, with replacement. Instead of
//! copying and re-sorting the pairs, each resample is a vector of draw counts over the
//! once-sorted test set, so one resample costs O(n).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::scores;

/// A two-sided 95% percentile interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The 2.5th percentile.
    pub lower: f64,
    /// The 97.5th percentile.
    pub upper: f64,
    /// Resamples it was computed from (AUC skips resamples that drew a single class).
    pub resamples: usize,
}

/// Accuracy and AUC intervals of the rule "same when score >= `threshold`" on the test
/// pairs. Inputs must already be checked (non-empty, finite, equal lengths).
/// Either interval is `None` when no resample could measure it.
pub(crate) fn intervals(
    scores: &[f64],
    labels: &[bool],
    threshold: f64,
    resamples: usize,
    seed: u64,
) -> (Option<Interval>, Option<Interval>) {
    let n = scores.len();
    let order = scores::order_desc(scores);
    let right: Vec<bool> = scores
        .iter()
        .zip(labels)
        .map(|(&s, &same)| (s >= threshold) == same)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut counts = vec![0u64; n];
    let (mut accuracies, mut aucs) = (Vec::with_capacity(resamples), Vec::new());
    for _ in 0..resamples {
        counts.fill(0);
        for _ in 0..n {
            counts[rng.gen_range(0..n)] += 1;
        }
        let hits: u64 = counts
            .iter()
            .zip(&right)
            .filter(|(_, &r)| r)
            .map(|(c, _)| c)
            .sum();
        accuracies.push(hits as f64 / n as f64);
        let groups = scores::groups(scores, labels, &order, |i| counts[i]);
        aucs.extend(scores::auc_of_groups(&groups));
    }
    (percentile_95(accuracies), percentile_95(aucs))
}

/// The 2.5th and 97.5th percentiles of `values`, interpolating linearly between order
/// statistics (the usual "type 7" definition); `None` for no values.
fn percentile_95(mut values: Vec<f64>) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (values.len() - 1) as f64;
        let (lo, frac) = (pos.floor() as usize, pos.fract());
        let hi = (lo + 1).min(values.len() - 1);
        values[lo] + frac * (values[hi] - values[lo])
    };
    Some(Interval {
        lower: at(0.025),
        upper: at(0.975),
        resamples: values.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        // 0..=100: the 2.5th percentile sits at position 2.5, the 97.5th at 97.5.
        let values: Vec<f64> = (0..=100).rev().map(f64::from).collect();
        let i = percentile_95(values).unwrap();
        assert_eq!((i.lower, i.upper, i.resamples), (2.5, 97.5, 101));
        assert_eq!(percentile_95(vec![]), None);
        let one = percentile_95(vec![0.7]).unwrap();
        assert_eq!((one.lower, one.upper), (0.7, 0.7));
    }

    #[test]
    fn single_pair_has_no_auc_interval() {
        // Every resample of one pair is that pair: accuracy is fixed, AUC undefined.
        let (acc, auc) = intervals(&[0.4], &[true], 0.5, 20, 1);
        let acc = acc.unwrap();
        assert_eq!((acc.lower, acc.upper, acc.resamples), (0.0, 0.0, 20));
        assert_eq!(auc, None);
    }

    #[test]
    fn no_resamples_no_intervals() {
        assert_eq!(
            intervals(&[0.4, 0.6], &[true, false], 0.5, 0, 1),
            (None, None)
        );
    }
}
