//! `twinflow validate FILE...`: checks pipeline and grid files and lists every problem of each.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::errors::chain;
use crate::pipeline::validate::load;
use crate::sweep::grid;

/// Arguments of `twinflow validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Pipeline files (or sweep grid files) to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// The memory estimate in one line: the total, the machine's memory, the largest part.
fn memory_line(plan: &crate::pipeline::validate::Plan) -> String {
    use crate::pipeline::budget::{bytes, estimate, physical_memory, total};
    let parts = estimate(plan);
    let have = physical_memory().map_or_else(String::new, |m| format!(" of {}", bytes(m)));
    let top = parts.first().map_or_else(String::new, |p| {
        format!(
            "; the largest part {} for {} ({})",
            bytes(p.bytes),
            p.what,
            p.field
        )
    });
    format!("memory: about {}{have}{top}", bytes(total(&parts)))
}

/// Validates each file and exits non-zero when any is invalid.
///
/// # Errors
/// None beyond printing; invalid files set the exit code.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in &args.files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if grid::is_grid(&text) {
            match grid::expand(&text, file) {
                Ok(runs) => println!(
                    "ok    {}  (grid of {} pipelines)",
                    file.display(),
                    runs.len()
                ),
                Err(err) => {
                    failed += 1;
                    println!("error {}", chain(&err));
                }
            }
            continue;
        }
        match load(file) {
            Ok(plan) => {
                let kinds: Vec<&str> = plan.pipeline.stages.iter().map(|s| s.kind()).collect();
                println!("ok    {}  ({})", file.display(), kinds.join(" -> "));
                println!("      {}", memory_line(&plan));
                for warning in &plan.warnings {
                    println!("warn  {}: {warning}", file.display());
                }
            }
            Err(err) => {
                failed += 1;
                println!("error {}", chain(&err));
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
