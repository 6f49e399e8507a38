//! The `twinflow` command line; all logic lives in the library's `cli` module.

use std::process::ExitCode;

fn main() -> ExitCode {
    match twinflow::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
