//! The `twinflow` command line; all logic lives in the library's `cli` module.

use std::process::ExitCode;

// dfdx allocates a fresh buffer per op; glibc malloc spent ~40% of training time in page faults.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match twinflow::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
