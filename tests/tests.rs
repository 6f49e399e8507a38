//! Integration tests: the `twinflow` binary on generated data, and every shipped pipeline.

mod compat;
mod demo;
mod errors;
mod faults;
mod gpu;
mod oneshot;
mod pipelines;
mod run;
mod sweep;
mod train;
mod util;
