//! Evaluation of a verifier's scores: ROC, AUC and EER, threshold choice, the
//! validation-then-test protocol with bootstrap intervals, LFW-style k-fold accuracy,
//! Koch's one-shot N-way identification, and plots of all of it.
//!
//! Every metric takes scores where higher means "more likely the same person" (negate
//! distances first) and labels where `true` means same. Input that gives no meaningful
//! number (no scores, NaN, a single class) is an [`EvalError`], never a NaN or a panic.

mod bootstrap;
mod error;
pub mod format;
mod kfold;
mod one_shot;
pub mod plot;
mod report;
mod roc;
mod scores;
mod threshold;

pub use bootstrap::Interval;
pub use error::EvalError;
pub use kfold::{contiguous_folds, kfold_accuracy, KFold};
pub use one_shot::{one_shot_accuracy, OneShot};
pub use plot::{plot_by_setting, plot_curves, plot_roc, plot_score_histograms, SettingPoint};
pub use report::ValTestReport;
pub use roc::{Eer, Roc};
pub use threshold::{accuracy_at, best_threshold, Confusion, Threshold};
