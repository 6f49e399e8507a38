//! Integration tests: the `twinflow` binary on generated data, and every shipped pipeline.

mod compat;
mod demo;
mod errors;
mod faults;
mod gpu;
mod keep;
mod oneshot;
mod pipelines;
mod policy;
mod progress;
mod run;
mod run_data;
mod sweep;
mod tensorboard;
mod train;
mod util;
