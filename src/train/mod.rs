//! Training: the loop (a sink of the batch chain), optimizers, checkpoints and run folders.

pub mod average;
pub mod checkpoint;
pub mod metrics;
pub mod optim;
pub mod refresh;
pub mod rundir;
pub mod session;
pub mod trainer;

pub use average::WeightAverage;
pub use optim::Optimizer;
pub use rundir::RunDir;
pub use trainer::{EpochMetrics, LoopState, Trainer};
