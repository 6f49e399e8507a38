//! twinflow: streaming pipelines that train and evaluate Siamese convolutional networks
//! (Koch et al. 2015) for one-shot face verification on LFW-a.
//!
//! The crate is laid out by concept: [`data`] reads LFW-a and its pairs files, [`pipeline`]
//! holds the RON schema, its validation and the threaded stage engine, [`stages`] holds one
//! file per stage kind, [`cache`] holds the memory-mapped tensor cache, and [`eval`] turns
//! scores into metrics, reports and plots; [`errors`] turns an error and its causes into
//! one line of text. The `twinflow` binary in `src/main.rs` is a thin shell over [`cli`].

pub mod cache;
pub mod cli;
pub mod data;
pub mod engine;
pub mod errors;
pub mod eval;
pub mod model;
pub mod pipeline;
pub mod problem;
pub mod stages;
pub mod sweep;
pub mod train;
