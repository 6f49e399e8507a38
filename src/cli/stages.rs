//! `twinflow stages`: lists every stage kind with its options and their defaults.

use std::process::ExitCode;

use crate::pipeline::stages::Role;
use crate::pipeline::StageConfig;
use crate::stages::{OnError, Sampler};

/// Prints the stage catalogue as RON a user can paste into a pipeline.
///
/// # Errors
/// When a default cannot be rendered as RON (a bug).
pub fn run() -> anyhow::Result<ExitCode> {
    let pretty = ron::ser::PrettyConfig::new()
        .depth_limit(3)
        .struct_names(true);
    let catalogue = StageConfig::catalogue();
    let kinds = |role: Role| {
        let kinds: Vec<&str> = catalogue
            .iter()
            .filter(|(s, _)| s.role() == role)
            .map(|(s, _)| s.kind())
            .collect();
        kinds.join(" | ")
    };
    println!(
        "Stages run in this order: {} -> [{}] -> [{} -> [{}]] -> {}.\n",
        kinds(Role::Decode),
        kinds(Role::Image),
        kinds(Role::Sampler),
        kinds(Role::Batch),
        kinds(Role::End)
    );
    for (stage, about) in catalogue {
        println!("{}: {about}", stage.kind());
        println!(
            "  default: {}\n",
            ron::ser::to_string_pretty(&stage, pretty.clone())?.replace('\n', "\n  ")
        );
    }
    println!("PairBatch samplers:");
    for (sampler, about) in Sampler::catalogue() {
        println!("  {}  -- {about}", ron::ser::to_string(&sampler)?);
    }
    println!(
        "\nDecode on_error: {:?} (default: report, skip, exit non-zero at the end) | {:?} (report, skip, succeed) | {:?} (stop at once)",
        OnError::Report,
        OnError::Skip,
        OnError::Abort
    );
    println!("Resize filter: Bilinear (default, TensorFlow-style) | Nearest | Triangle | CatmullRom | Lanczos3");
    Ok(ExitCode::SUCCESS)
}
