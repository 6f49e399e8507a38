//! TEMP (compile check only; replaced by the eval branch)
pub mod error;
pub mod roc;
pub mod scores;
pub mod threshold;
pub use error::EvalError;
pub use roc::Roc;
pub use threshold::best_threshold;
