//! Pipelines: the RON schema, its validation into a plan, and the threaded stage engine.

pub mod config;
pub mod engine;
pub mod error;
pub mod item;
pub mod metrics;
pub mod runner;
pub mod training;
pub mod validate;

pub use config::Pipeline;
pub use engine::{
    Chain, Emitter, Flow, RunOptions, Sink, Source, SourceStage, StageContext, Transform,
    TransformStage,
};
pub use error::{PipelineError, StageError};
pub use item::{ImageItem, Item, PairBatch, Phase};
pub use metrics::{RunReport, StageReport};
