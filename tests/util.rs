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

/// The cache file (`*.twc`) in `dir`.
pub fn cache_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "twc"))
        .expect("a cache file")
}
