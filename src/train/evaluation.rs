//! The final evaluation of a run: its best weights score the validation pairs, where the
//! threshold is chosen, and the test pairs, where it is applied unchanged.

use crate::cache::ImageStore;
use crate::data::ImageKey;
use crate::eval::ValTestReport;
use crate::model::Network;

use super::config::TrainConfig;
use super::error::SessionError;
use super::scoring::score_pairs_with;

/// The pairs a run trains and evaluates on, as image keys.
pub struct EvalPairs<'a> {
    /// Validation pairs.
    pub validation: &'a [(ImageKey, ImageKey)],
    /// Test pairs.
    pub test: &'a [(ImageKey, ImageKey)],
}

/// Bootstrap resamples for the confidence intervals of the final evaluation.
pub const BOOTSTRAP: usize = 1000;

/// Chooses the threshold on validation and applies it unchanged to test.
///
/// # Errors
/// Model errors, and metric errors (e.g. a split with a single class).
pub fn evaluate(
    net: &mut dyn Network,
    store: &dyn ImageStore,
    pairs: &EvalPairs<'_>,
    config: &TrainConfig,
    seed: u64,
) -> Result<(ValTestReport, Scored), SessionError> {
    let (batch, flip) = (config.eval_batch, config.eval_flip);
    let (vs, vl, val_loss) = score_pairs_with(net, store, pairs.validation, batch, flip)?;
    let (ts, tl, test_loss) = score_pairs_with(net, store, pairs.test, batch, flip)?;
    let report = ValTestReport::compute(&vs, &vl, &ts, &tl, BOOTSTRAP, seed)?;
    Ok((
        report,
        Scored {
            validation: (vs, vl),
            test: (ts, tl),
            val_loss,
            test_loss,
        },
    ))
}

/// Scores and labels of the validation and test pairs.
pub struct Scored {
    /// Validation scores and labels.
    pub validation: (Vec<f64>, Vec<bool>),
    /// Test scores and labels.
    pub test: (Vec<f64>, Vec<bool>),
    /// Mean validation loss.
    pub val_loss: f64,
    /// Mean test loss.
    pub test_loss: f64,
}
