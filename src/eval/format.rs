//! How rates and AUCs read on the console: one format for every command, so a number
//! from `run` can be compared with the same number from `eval`, `oneshot` or a sweep at a
//! glance (`54.5%` everywhere, never `0.5455` in one place and `54.55%` in another).

/// A rate of pairs or trials (accuracy, precision, recall, EER) as a percentage with one
/// decimal: `54.5%`. One decimal is the resolution a few hundred test pairs support.
pub fn percent(rate: f64) -> String {
    format!("{:.1}%", 100.0 * rate)
}

/// [`percent`], or `n/a` when the rate is undefined (nothing was called same).
pub fn percent_or_na(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_string(), percent)
}

/// An area under the ROC curve with three decimals: `0.945`. AUC is a probability that
/// reads as a fraction, not a rate of pairs, so it keeps the 0..1 scale.
pub fn auc(value: f64) -> String {
    format!("{value:.3}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percent_with_one_decimal_and_auc_a_fraction() {
        assert_eq!(percent(0.545_45), "54.5%");
        assert_eq!(percent(0.071_4), "7.1%");
        assert_eq!(percent(1.0), "100.0%");
        assert_eq!(percent_or_na(None), "n/a");
        assert_eq!(auc(0.944_6), "0.945");
    }
}
