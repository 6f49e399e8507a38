//! The ROC curve, its area and the equal error rate.

use serde::{Deserialize, Serialize};

use super::scores::{self, Group};
use super::EvalError;

/// A receiver operating characteristic curve: one point per distinct score.
///
/// Point `i` is what the rule "same when score >= `thresholds[i]`" gives. The first
/// point is (0, 0) at threshold +infinity (nothing called same); equal scores form a
/// single step, since no threshold can separate them.
#[derive(Debug, Clone, PartialEq)]
pub struct Roc {
    fpr: Vec<f64>,
    tpr: Vec<f64>,
    thresholds: Vec<f64>,
}

/// The equal error rate: where the false positive rate meets the false negative rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eer {
    /// The rate where FPR = FNR = 1 - TPR, linearly interpolated between ROC points.
    pub rate: f64,
    /// The score threshold there, interpolated the same way.
    pub threshold: f64,
}

impl Roc {
    /// Computes the full curve of `scores` (higher = more likely same) against `labels`
    /// (true = same).
    ///
    /// # Errors
    /// [`EvalError`] when the lists are empty or differ in length, a score is not
    /// finite, or only one class is present.
    pub fn compute(scores: &[f64], labels: &[bool]) -> Result<Self, EvalError> {
        scores::check("ROC input", scores, labels)?;
        scores::check_both_classes("ROC input", labels)?;
        let order = scores::order_desc(scores);
        Ok(Self::from_groups(&scores::groups(
            scores,
            labels,
            &order,
            |_| 1,
        )))
    }

    /// Builds the curve from groups sorted by descending score, both classes present.
    fn from_groups(groups: &[Group]) -> Self {
        let positives: u64 = groups.iter().map(|g| g.same).sum();
        let negatives: u64 = groups.iter().map(|g| g.different).sum();
        let mut roc = Self {
            fpr: vec![0.0],
            tpr: vec![0.0],
            thresholds: vec![f64::INFINITY],
        };
        let (mut tp, mut fp) = (0u64, 0u64);
        for g in groups {
            tp += g.same;
            fp += g.different;
            roc.fpr.push(fp as f64 / negatives as f64);
            roc.tpr.push(tp as f64 / positives as f64);
            roc.thresholds.push(g.score);
        }
        roc
    }

    /// False positive rates, from 0 to 1.
    pub fn fpr(&self) -> &[f64] {
        &self.fpr
    }

    /// True positive rates, from 0 to 1.
    pub fn tpr(&self) -> &[f64] {
        &self.tpr
    }

    /// The threshold of each point, decreasing; the first is +infinity.
    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }

    /// The (FPR, TPR) points, in order.
    pub fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.fpr.iter().copied().zip(self.tpr.iter().copied())
    }

    /// Area under the curve by the trapezoid rule. A tie between a same and a different
    /// pair is a diagonal step and earns half credit, so this equals the Mann-Whitney
    /// probability that a same pair outscores a different one (ties counting 1/2).
    pub fn auc(&self) -> f64 {
        self.points()
            .zip(self.points().skip(1))
            .map(|((x0, y0), (x1, y1))| (x1 - x0) * (y0 + y1) / 2.0)
            .sum()
    }

    /// The equal error rate, interpolated linearly between the two points where
    /// FPR - (1 - TPR) changes sign.
    pub fn eer(&self) -> Eer {
        let gap = |i: usize| self.fpr[i] - (1.0 - self.tpr[i]);
        // The gap is -1 at the first point, +1 at the last and never decreases, so a
        // crossing exists and is found after index 0.
        let i = (1..self.fpr.len())
            .find(|&i| gap(i) >= 0.0)
            .unwrap_or(self.fpr.len() - 1);
        let (g0, g1) = (gap(i - 1), gap(i));
        let t = g0 / (g0 - g1);
        let rate = self.fpr[i - 1] + t * (self.fpr[i] - self.fpr[i - 1]);
        let (th0, th1) = (self.thresholds[i - 1], self.thresholds[i]);
        // Interpolating towards +infinity means nothing; the first real threshold is
        // the closest meaningful value.
        let threshold = if th0.is_finite() {
            th0 + t * (th1 - th0)
        } else {
            th1
        };
        Eer { rate, threshold }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn perfect_reversed_and_tied() {
        let labels = [true, true, false, false];
        let perfect = Roc::compute(&[0.9, 0.8, 0.2, 0.1], &labels).unwrap();
        assert_close(perfect.auc(), 1.0);
        assert_close(perfect.eer().rate, 0.0);
        // FPR = FNR = 0 first holds at threshold 0.8 (both same pairs accepted).
        assert_close(perfect.eer().threshold, 0.8);
        let reversed = Roc::compute(&[0.1, 0.2, 0.8, 0.9], &labels).unwrap();
        assert_close(reversed.auc(), 0.0);
        assert_close(reversed.eer().rate, 1.0);
        let tied = Roc::compute(&[0.5; 4], &labels).unwrap();
        // One diagonal step from (0,0) to (1,1).
        assert_eq!(tied.fpr(), &[0.0, 1.0]);
        assert_close(tied.auc(), 0.5);
        assert_close(tied.eer().rate, 0.5);
        assert_close(tied.eer().threshold, 0.5);
    }

    #[test]
    fn six_point_example() {
        // Same pairs score 0.9, 0.8, 0.6; different pairs 0.7, 0.5, 0.4.
        let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let labels = [true, true, false, true, false, false];
        let roc = Roc::compute(&scores, &labels).unwrap();
        // Walking down the scores, TPR rises by 1/3 per same pair and FPR by 1/3 per
        // different pair.
        let third = 1.0 / 3.0;
        assert_eq!(roc.thresholds()[1..], scores);
        let expect = [
            (0.0, 0.0),
            (0.0, third),
            (0.0, 2.0 * third),
            (third, 2.0 * third),
            (third, 1.0),
            (2.0 * third, 1.0),
            (1.0, 1.0),
        ];
        for ((x, y), (ex, ey)) in roc.points().zip(expect) {
            assert_close(x, ex);
            assert_close(y, ey);
        }
        // Of the 9 same/different comparisons, 0.9 and 0.8 win all 3 and 0.6 wins 2: 8/9.
        assert_close(roc.auc(), 8.0 / 9.0);
        // At threshold 0.7, FPR = 1/3 (0.7) and FNR = 1/3 (0.6): the gap is exactly 0.
        assert_close(roc.eer().rate, third);
        assert_close(roc.eer().threshold, 0.7);
    }

    #[test]
    fn ties_form_one_diagonal_step() {
        // 0.5 holds one same and one different pair. Comparisons: 0.8 beats both
        // different pairs (2), 0.5 vs 0.5 ties (1/2), 0.5 beats 0.2 (1): 3.5 / 4.
        let roc = Roc::compute(&[0.8, 0.5, 0.5, 0.2], &[true, true, false, false]).unwrap();
        assert_eq!(roc.fpr(), &[0.0, 0.0, 0.5, 1.0]);
        assert_eq!(roc.tpr(), &[0.0, 0.5, 1.0, 1.0]);
        assert_close(roc.auc(), 0.875);
        // The gap goes -0.5 (at 0.8) to +0.5 (at 0.5): halfway, rate 0.25 at 0.65.
        assert_close(roc.eer().rate, 0.25);
        assert_close(roc.eer().threshold, 0.65);
    }

    #[test]
    fn auc_matches_pairwise_count() {
        let scores = [0.3, 0.3, 0.9, 0.1, 0.7, 0.3, 0.5, 0.5, 0.2];
        let labels = [true, false, true, false, false, true, true, false, false];
        let mut wins = 0.0;
        let mut comparisons = 0.0;
        for (s, _) in scores.iter().zip(labels).filter(|(_, l)| *l) {
            for (d, _) in scores.iter().zip(labels).filter(|(_, l)| !*l) {
                comparisons += 1.0;
                wins += if s > d {
                    1.0
                } else if s == d {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let roc = Roc::compute(&scores, &labels).unwrap();
        assert_close(roc.auc(), wins / comparisons);
        let order = scores::order_desc(&scores);
        let groups = scores::groups(&scores, &labels, &order, |_| 1);
        assert_close(scores::auc_of_groups(&groups).unwrap(), roc.auc());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            Roc::compute(&[], &[]),
            Err(EvalError::Empty { .. })
        ));
        assert!(matches!(
            Roc::compute(&[0.1, f64::NAN], &[true, false]),
            Err(EvalError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            Roc::compute(&[0.1, 0.2], &[false, false]),
            Err(EvalError::OneClass { same: 0, .. })
        ));
    }
}
