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
