//! Choosing a decision threshold, and what a threshold gives: accuracy and confusion.

use serde::{Deserialize, Serialize};

use super::scores;
use super::EvalError;

/// A decision threshold (same when score >= `value`) and the accuracy it reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The threshold.
    pub value: f64,
    /// Accuracy on the scores it was chosen on.
    pub accuracy: f64,
}

/// The threshold that maximises accuracy on `scores` and `labels`.
///
/// Candidates lie midway between adjacent distinct scores, plus one below all scores
/// and one above, each half a mean gap beyond the extreme score (0.5 when all scores
/// are equal) so that they behave like midpoints on a new set of similar scale. When
/// several candidates reach the best accuracy the lowest wins, so the choice is
/// deterministic.
///
/// # Errors
/// [`EvalError`] when the lists are empty or differ in length, a score is not finite,
/// or only one class is present.
pub fn best_threshold(scores: &[f64], labels: &[bool]) -> Result<Threshold, EvalError> {
    scores::check("threshold input", scores, labels)?;
    let (same, _) = scores::check_both_classes("threshold input", labels)?;
    let order = scores::order_desc(scores);
    let mut groups = scores::groups(scores, labels, &order, |_| 1);
    groups.reverse();
    // Candidate 0 calls everything same: exactly the same pairs are right. Moving the
    // threshold above a group turns its pairs to "different", which fixes its
    // different pairs and breaks its same pairs. Counts stay integral so ties are exact.
    let mut correct = same as i64;
    let (mut best, mut best_correct) = (0usize, correct);
    for (i, g) in groups.iter().enumerate() {
        correct += g.different as i64 - g.same as i64;
        if correct > best_correct {
            (best, best_correct) = (i + 1, correct);
        }
    }
    let value = candidate(&groups.iter().map(|g| g.score).collect::<Vec<_>>(), best);
    Ok(Threshold {
        value,
        accuracy: best_correct as f64 / scores.len() as f64,
    })
}

/// Candidate threshold `i` over ascending distinct scores: below all (0), between
/// `distinct[i - 1]` and `distinct[i]`, or above all (`distinct.len()`).
fn candidate(distinct: &[f64], i: usize) -> f64 {
    let (low, high) = (distinct[0], distinct[distinct.len() - 1]);
    let margin = if distinct.len() > 1 {
        (high - low) / (2.0 * (distinct.len() - 1) as f64)
    } else {
        0.5
    };
    match i {
        0 => low - margin,
        i if i == distinct.len() => high + margin,
        // Halves first: the sum of two large finite scores could overflow.
        i => distinct[i - 1] / 2.0 + distinct[i] / 2.0,
    }
}

/// Fraction of pairs that "same when score >= `threshold`" gets right.
///
/// # Errors
/// [`EvalError`] when the lists are empty or differ in length, a score is not finite,
/// or the threshold is NaN.
pub fn accuracy_at(scores: &[f64], labels: &[bool], threshold: f64) -> Result<f64, EvalError> {
    let c = Confusion::at(scores, labels, threshold)?;
    Ok((c.tp + c.tn) as f64 / scores.len() as f64)
}

/// Counts of the four outcomes of a threshold ("positive" = called same).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Same pairs called same.
    pub tp: usize,
    /// Different pairs called same.
    pub fp: usize,
    /// Different pairs called different.
    pub tn: usize,
    /// Same pairs called different (`fn` is a keyword; serialised as "fn").
    #[serde(rename = "fn")]
    pub fn_: usize,
}

impl Confusion {
    /// Counts the outcomes of "same when score >= `threshold`".
    ///
    /// # Errors
    /// [`EvalError`] when the lists are empty or differ in length, a score is not
    /// finite, or the threshold is NaN.
    pub fn at(scores: &[f64], labels: &[bool], threshold: f64) -> Result<Self, EvalError> {
        scores::check("scores", scores, labels)?;
        if threshold.is_nan() {
            return Err(EvalError::BadThreshold { value: threshold });
        }
        let mut c = Self::default();
        for (&s, &same) in scores.iter().zip(labels) {
            match (s >= threshold, same) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        Ok(c)
    }

    /// All pairs counted.
    pub fn total(&self) -> usize {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// Fraction of pairs called right; `None` when nothing was counted.
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.tp + self.tn, self.total())
    }

    /// Of the pairs called same, the fraction that are; `None` when none were.
    pub fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Of the same pairs, the fraction called same; `None` when there are none.
    pub fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }
}

/// `num / den`, or `None` for an empty denominator.
fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORES: [f64; 6] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
    const LABELS: [bool; 6] = [true, true, false, true, false, false];

    #[test]
    fn six_point_best_threshold() {
        // Correct counts per candidate, low to high: below all 3 (the same pairs), 0.45: 4,
        // 0.55: 5, 0.65: 4, 0.75: 5, 0.85: 4, 0.95 (above all): 3. 0.55 and 0.75 tie at
        // 5/6; the lowest wins.
        let t = best_threshold(&SCORES, &LABELS).unwrap();
        assert!((t.value - 0.55).abs() < 1e-12, "{}", t.value);
        assert!((t.accuracy - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(accuracy_at(&SCORES, &LABELS, t.value).unwrap(), t.accuracy);
    }

    #[test]
    fn ties_are_never_split() {
        // Same pairs at 0.5 and 0.9, different pairs at 0.5 and 0.1: no threshold can
        // separate the two 0.5s, so the best is between 0.1 and 0.5 (3 of 4 right).
        let t = best_threshold(&[0.5, 0.9, 0.5, 0.1], &[true, true, false, false]).unwrap();
        assert_eq!(t.value, 0.3);
        assert_eq!(t.accuracy, 0.75);
    }

    #[test]
    fn edge_candidates_sit_half_a_mean_gap_out() {
        // Reversed order: calling everything same or everything different both get 2 of
        // 4, and nothing between does better. The lowest wins: distinct scores 1..4 have
        // a mean gap of 1, so the candidate is 1 - 0.5.
        let t = best_threshold(&[1.0, 2.0, 3.0, 4.0], &[true, true, false, false]).unwrap();
        assert_eq!(t.value, 0.5);
        assert_eq!(t.accuracy, 0.5);
        // Different pairs high, one same pair highest: above all is best (3 of 4).
        let t = best_threshold(&[1.0, 2.0, 3.0, 4.0], &[false, false, false, true]).unwrap();
        assert_eq!(t.value, 3.5);
        let t = best_threshold(&[1.0, 2.0, 3.0, 4.0], &[true, false, false, false]).unwrap();
        assert_eq!(t.value, 4.5);
        assert_eq!(t.accuracy, 0.75);
        // All equal: calling everything same (2 of 3) sits 0.5 below the one score.
        let t = best_threshold(&[2.0; 3], &[true, true, false]).unwrap();
        assert_eq!(t.value, 1.5);
    }

    #[test]
    fn confusion_counts() {
        // At 0.55: 0.9, 0.8, 0.6 (same) and 0.7 (different) called same.
        let c = Confusion::at(&SCORES, &LABELS, 0.55).unwrap();
        assert_eq!(
            c,
            Confusion {
                tp: 3,
                fp: 1,
                tn: 2,
                fn_: 0
            }
        );
        assert_eq!(c.precision(), Some(0.75));
        assert_eq!(c.recall(), Some(1.0));
        assert_eq!(c.accuracy(), Some(5.0 / 6.0));
        // Nothing called same: precision undefined.
        let none = Confusion::at(&SCORES, &LABELS, 1.0).unwrap();
        assert_eq!(none.precision(), None);
        assert_eq!(Confusion::default().accuracy(), None);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            best_threshold(&[0.1, 0.2], &[true, true]),
            Err(EvalError::OneClass { .. })
        ));
        assert!(matches!(
            accuracy_at(&[0.1], &[true], f64::NAN),
            Err(EvalError::BadThreshold { .. })
        ));
        assert!(matches!(
            accuracy_at(&[], &[], 0.0),
            Err(EvalError::Empty { .. })
        ));
        // One class is fine for plain accuracy.
        assert_eq!(accuracy_at(&[0.1, 0.3], &[true, true], 0.2).unwrap(), 0.5);
    }
}
