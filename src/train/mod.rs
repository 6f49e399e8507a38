//! Training: the loop (a sink of the batch chain), optimizers, checkpoints and run folders.

pub mod average;
pub mod checkpoint;
pub mod commit;
pub mod config;
pub mod console;
pub mod data_record;
pub mod error;
pub mod evaluation;
pub mod keep;
pub mod metrics;
pub mod plots;
pub mod refresh;
pub mod rundir;
pub mod schedule;
pub mod scoring;
pub mod session;
pub mod state;
pub mod tensorboard;
pub mod trainer;

pub use average::WeightAverage;
pub use config::TrainConfig;
pub use rundir::RunDir;
pub use state::{EpochMetrics, LoopState};
pub use trainer::{Trainer, TrainerParts};
