//! `twinflow embed --run RUN --images DIR`: the trained twin's embedding of every image.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::verify::RunInput;
use crate::model::Weights;

/// Images per forward pass.
const BATCH: usize = 64;

/// Arguments of `twinflow embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// A finished training run (e.g. `runs/paper-1`).
    #[arg(long)]
    pub run: PathBuf,
    /// The backend to score on (`cpu` or `gpu`); overrides the run's own `device` without editing it.
    #[arg(long)]
    pub device: Option<crate::model::Device>,
    /// A folder of images (searched recursively for .jpg, .jpeg and .png).
    #[arg(long)]
    pub images: PathBuf,
    /// The CSV to write: one row per image, its path then the embedding.
    #[arg(long, default_value = "embeddings.csv")]
    pub out: PathBuf,
    /// Replace `--out` if it exists (otherwise an existing file is an error).
    #[arg(long)]
    pub force: bool,
}

fn images_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let path = entry
                .with_context(|| format!("cannot read {}", d.display()))?
                .path();
            let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the embeddings of every image in the folder.
///
/// # Errors
/// An unusable run, an unreadable image or folder, or an unwritable output.
pub fn run(args: &EmbedArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "{} exists; pass --force to replace it, or --out another file",
            args.out.display()
        );
    }
    super::check_output_file(&args.out).context("--out")?;
    let mut input = RunInput::open(&args.run, args.device)?;
    let files = images_in(&args.images)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no .jpg, .jpeg or .png files under {}",
        args.images.display()
    );
    let mut csv = String::new();
    for chunk in files.chunks(BATCH) {
        let mut pixels = Vec::new();
        for file in chunk {
            pixels.extend(input.load(file)?);
        }
        let embeddings = input.trained.net.embed(Weights::Live, &pixels)?;
        for (file, e) in chunk.iter().zip(embeddings) {
            let values: Vec<String> = e.iter().map(|v| format!("{v:.6}")).collect();
            let _ = writeln!(csv, "{},{}", file.display(), values.join(","));
        }
    }
    std::fs::write(&args.out, csv)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{} embeddings of {} values written to {}",
        files.len(),
        input.trained.plan.pipeline.model.dense.units,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
