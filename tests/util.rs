//! Helpers shared by the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `twinflow` binary with `args` in `dir`.
pub fn twinflow(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .args(args)
        .current_dir(dir)
        .env_remove("TWINFLOW_DATA")
        .output()
        .expect("the twinflow binary runs")
}

/// Stdout and stderr as one string, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
