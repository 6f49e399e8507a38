//! Pipelines: the RON schema, its validation into a plan, and running a plan: the image
//! chain (or the cache), the batch chain and training, as one run.

pub mod budget;
pub mod cache;
pub mod config;
pub mod edits;
pub mod error;
pub mod images;
pub mod plan;
pub mod preflight;
pub mod runner;
pub mod stages;
pub mod trained;
pub mod validate;

pub use config::Pipeline;
pub use stages::StageConfig;
