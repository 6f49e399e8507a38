//! The evaluation protocol: a threshold chosen on validation, applied unchanged to test.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::bootstrap::{self, Interval};
use super::format::{auc, percent, percent_or_na};
use super::roc::{Eer, Roc};
use super::scores;
use super::threshold::{best_threshold, Confusion};
use super::EvalError;

/// Test-set metrics at a threshold chosen on the validation set only.
///
/// Serialises to JSON for run records; [`fmt::Display`] renders it as a short table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValTestReport {
    /// The threshold (same when score >= it), chosen on validation.
    pub threshold: f64,
    /// Validation accuracy at that threshold.
    pub val_accuracy: f64,
    /// Validation pairs.
    pub val_pairs: usize,
    /// Test pairs.
    pub test_pairs: usize,
    /// Test accuracy at the validation threshold.
    pub accuracy: f64,
    /// Test ROC AUC (threshold-free).
    pub auc: f64,
    /// Test equal error rate and its own threshold (for reference; not the one applied).
    pub eer: Eer,
    /// Test precision at the validation threshold; `None` when nothing was called same.
    pub precision: Option<f64>,
    /// Test recall at the validation threshold.
    pub recall: Option<f64>,
    /// Test outcome counts at the validation threshold.
    pub confusion: Confusion,
    /// Bootstrap 95% interval of test accuracy; `None` with no resamples.
    pub accuracy_ci95: Option<Interval>,
    /// Bootstrap 95% interval of test AUC; `None` with no usable resamples.
    pub auc_ci95: Option<Interval>,
    /// Bootstrap resamples asked for.
    pub bootstrap: usize,
    /// Seed of the bootstrap generator.
    pub seed: u64,
}

impl ValTestReport {
    /// Chooses the threshold on the validation pairs ([`best_threshold`]), then measures
    /// the test pairs with it, with `bootstrap` resamples of the test pairs (seeded by
    /// `seed`; 0 skips the intervals) for 95% percentile intervals.
    ///
    /// # Errors
    /// [`EvalError`] when either set is empty, mismatched, has a non-finite score or
    /// lacks a class.
    pub fn compute(
        val_scores: &[f64],
        val_labels: &[bool],
        test_scores: &[f64],
        test_labels: &[bool],
        bootstrap: usize,
        seed: u64,
    ) -> Result<Self, EvalError> {
        scores::check("validation set", val_scores, val_labels)?;
        scores::check_both_classes("validation set", val_labels)?;
        scores::check("test set", test_scores, test_labels)?;
        scores::check_both_classes("test set", test_labels)?;
        let chosen = best_threshold(val_scores, val_labels)?;
        let confusion = Confusion::at(test_scores, test_labels, chosen.value)?;
        let roc = Roc::compute(test_scores, test_labels)?;
        let (accuracy_ci95, auc_ci95) =
            bootstrap::intervals(test_scores, test_labels, chosen.value, bootstrap, seed);
        Ok(Self {
            threshold: chosen.value,
            val_accuracy: chosen.accuracy,
            val_pairs: val_scores.len(),
            test_pairs: test_scores.len(),
            // Both sets are non-empty, so the ratio exists.
            accuracy: (confusion.tp + confusion.tn) as f64 / test_scores.len() as f64,
            auc: roc.auc(),
            eer: roc.eer(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            confusion,
            accuracy_ci95,
            auc_ci95,
            bootstrap,
            seed,
        })
    }
}

impl fmt::Display for ValTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.confusion;
        writeln!(
            f,
            "threshold  {:.4} (chosen on {} validation pairs, accuracy {})",
            self.threshold,
            self.val_pairs,
            percent(self.val_accuracy)
        )?;
        writeln!(
            f,
            "test pairs {} ({} same, {} different)",
            self.test_pairs,
            c.tp + c.fn_,
            c.fp + c.tn
        )?;
        writeln!(
            f,
            "accuracy   {}{}",
            percent(self.accuracy),
            ci(self.accuracy_ci95, percent)
        )?;
        writeln!(f, "AUC        {}{}", auc(self.auc), ci(self.auc_ci95, auc))?;
        writeln!(
            f,
            "EER        {} (at threshold {:.4})",
            percent(self.eer.rate),
            self.eer.threshold
        )?;
        writeln!(f, "precision  {}", percent_or_na(self.precision))?;
        writeln!(f, "recall     {}", percent_or_na(self.recall))?;
        writeln!(
            f,
            "confusion  tp {}  fp {}  tn {}  fn {}",
            c.tp, c.fp, c.tn, c.fn_
        )?;
        write!(
            f,
            "bootstrap  {} resamples, seed {}",
            self.bootstrap, self.seed
        )
    }
}

/// "  95% CI [lo, hi]" with both ends written by `show`, or nothing without an interval.
fn ci(interval: Option<Interval>, show: fn(f64) -> String) -> String {
    interval.map_or_else(String::new, |i| {
        format!("  95% CI [{}, {}]", show(i.lower), show(i.upper))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Noisy scores: same pairs centred at 1, different at 0, uniform noise of width 2.
    fn noisy(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
        let scores = labels
            .iter()
            .map(|&l| f64::from(u8::from(l)) + rng.gen_range(-1.0..1.0))
            .collect();
        (scores, labels)
    }

    #[test]
    fn threshold_comes_from_validation_only() {
        // Validation puts the best threshold at 0.55 (see threshold.rs's six-point
        // example). On test, 0.55 calls 0.7, 0.6 and 0.56 same: 2 of 4 right, although
        // a threshold of 0.65 would get all 4 right there.
        let val = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let val_labels = [true, true, false, true, false, false];
        let test = [0.7, 0.6, 0.56, 0.2];
        let test_labels = [true, false, false, false];
        let r = ValTestReport::compute(&val, &val_labels, &test, &test_labels, 0, 1).unwrap();
        assert!((r.threshold - 0.55).abs() < 1e-12);
        assert!((r.val_accuracy - 5.0 / 6.0).abs() < 1e-12);
        // Called same: 0.7 (same), 0.6 and 0.56 (different): tp 1, fp 2, tn 1.
        assert_eq!(r.accuracy, 0.5);
        assert_eq!(r.precision, Some(1.0 / 3.0));
        assert_eq!(r.recall, Some(1.0));
        assert_eq!(r.auc, 1.0);
        assert_eq!((r.accuracy_ci95, r.auc_ci95), (None, None));
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_estimate() {
        let (val, val_labels) = noisy(200, 1);
        let (test, test_labels) = noisy(300, 2);
        let a = ValTestReport::compute(&val, &val_labels, &test, &test_labels, 500, 7).unwrap();
        let b = ValTestReport::compute(&val, &val_labels, &test, &test_labels, 500, 7).unwrap();
        assert_eq!(a, b);
        let acc = a.accuracy_ci95.unwrap();
        let auc = a.auc_ci95.unwrap();
        assert!(acc.lower <= a.accuracy && a.accuracy <= acc.upper, "{a:?}");
        assert!(auc.lower <= a.auc && a.auc <= auc.upper, "{a:?}");
        assert!(acc.lower < acc.upper);
        assert_eq!((acc.resamples, auc.resamples), (500, 500));
        let c = ValTestReport::compute(&val, &val_labels, &test, &test_labels, 500, 8).unwrap();
        assert_ne!(a.accuracy_ci95, c.accuracy_ci95);
    }

    #[test]
    fn serialises_and_renders() {
        let (val, val_labels) = noisy(40, 3);
        let (test, test_labels) = noisy(40, 4);
        let r = ValTestReport::compute(&val, &val_labels, &test, &test_labels, 50, 1).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: ValTestReport = serde_json::from_str(&json).unwrap();
        // serde_json may parse a float one ulp off, so compare loosely.
        assert!((back.threshold - r.threshold).abs() < 1e-12);
        assert!((back.auc_ci95.unwrap().upper - r.auc_ci95.unwrap().upper).abs() < 1e-12);
        assert_eq!(
            (back.confusion, back.precision.is_some()),
            (r.confusion, true)
        );
        let text = r.to_string();
        // Rates as percentages with one decimal, AUC as a fraction with three.
        let accuracy = format!("accuracy   {:.1}%  95% CI [", 100.0 * r.accuracy);
        assert!(text.contains(&accuracy), "{text}");
        assert!(
            text.contains(&format!("AUC        {:.3}  95% CI [0.", r.auc)),
            "{text}"
        );
        assert!(text.contains("95% CI ["), "{text}");
        assert!(
            text.contains("test pairs 40 (20 same, 20 different)"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_the_set() {
        let ok = ([0.1, 0.9], [false, true]);
        let err = ValTestReport::compute(&ok.0, &ok.1, &[0.3], &[true], 10, 1).unwrap_err();
        assert!(err.to_string().starts_with("test set needs both"), "{err}");
        let err = ValTestReport::compute(&[], &[], &ok.0, &ok.1, 10, 1).unwrap_err();
        assert_eq!(err.to_string(), "validation set has no scores");
    }
}
