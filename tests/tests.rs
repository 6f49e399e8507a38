//! Integration tests: the `twinflow` binary on generated data, and every shipped pipeline.

mod oneshot;
mod pipelines;
mod run;
mod sweep;
mod train;
mod util;
