//! `twinflow devices`: the GPU adapters this machine offers, best first, with the limits
//! the GPU backend works within.

use std::process::ExitCode;

use crate::model::gpu::{adapters, GpuError};

/// Lists the adapters; without any, says what to install and exits non-zero.
///
/// # Errors
/// A closed standard output.
pub fn run() -> anyhow::Result<ExitCode> {
    let found = adapters();
    if found.is_empty() {
        eprintln!("error: {}", GpuError::NoAdapter);
        return Ok(ExitCode::FAILURE);
    }
    let mut text = String::new();
    for (i, adapter) in found.iter().enumerate() {
        let best = if i == 0 {
            "  (used for --device gpu)"
        } else {
            ""
        };
        text.push_str(&format!("{i}: {adapter}{best}\n"));
    }
    super::say(&text)?;
    Ok(ExitCode::SUCCESS)
}
