//! Command-line interface: clap derive types, one module per subcommand.
//!
//! Library modules return `thiserror` errors; this layer adds context with `anyhow`.

pub mod bench;
pub mod cache;
pub mod data;
pub mod devices;
pub mod embed;
pub mod eval;
pub mod oneshot;
pub mod run;
pub mod run_data;
pub mod stages;
pub mod sweep;
pub mod validate;
pub mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Siamese face verification pipelines on LFW-a, declared in RON.
#[derive(Debug, Parser)]
#[command(name = "twinflow", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look at LFW-a (`stats`) or make a synthetic stand-in (`synth`).
    Data(data::DataArgs),
    /// Run a pipeline and print what every stage did.
    Run(run::RunArgs),
    /// Measure training speed (and compare with Keras).
    Bench(bench::BenchArgs),
    /// Score a trained run on a pairs file: accuracy, AUC, EER, ROC, k-fold accuracy.
    Eval(eval::EvalArgs),
    /// Write the trained twin's embedding of every image in a folder.
    Embed(embed::EmbedArgs),
    /// Koch et al.'s one-shot N-way identification on the test identities.
    Oneshot(oneshot::OneShotArgs),
    /// Say whether two face images show the same person, with a trained run.
    Verify(verify::VerifyArgs),
    /// Train every pipeline of a list or a grid file (resumable) and tabulate the results.
    Sweep(sweep::SweepArgs),
    /// Check pipeline and grid files and list every problem.
    Validate(validate::ValidateArgs),
    /// List every stage kind with its options and defaults.
    Stages,
    /// Inspect and check tensor cache files.
    Cache(cache::CacheArgs),
    /// List the GPU adapters (Vulkan) and their limits.
    Devices,
}

/// Parses the command line and runs the chosen subcommand.
///
/// # Errors
/// Any error of the subcommand, with context for the user.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Data(args) => data::run(args),
        Command::Run(args) => run::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Embed(args) => embed::run(&args),
        Command::Oneshot(args) => oneshot::run(&args),
        Command::Sweep(args) => sweep::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Stages => stages::run(),
        Command::Cache(args) => cache::run(args),
        Command::Devices => devices::run(),
    }
}

/// Prints to standard output; a closed pipe (`| head`) ends the output quietly, where
/// `print!` would panic.
///
/// # Errors
/// Any other write error.
pub(crate) fn say(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => anyhow::Context::context(other, "cannot write to standard output"),
    }
}

/// Parses a count that must be at least 1 (batch sizes, steps, epoch caps): clap then
/// refuses 0 up front instead of a run that misbehaves on it.
pub(crate) fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks, before any long work, that a file can be written at `path`: its folder exists
/// and takes a new file, and `path` is not a folder. Nothing at `path` is touched.
///
/// # Errors
/// What is wrong, naming the path.
pub(crate) fn check_output_file(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if path.is_dir() {
        anyhow::bail!("{} is a folder, not a file", path.display());
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        anyhow::bail!(
            "cannot write {}: folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    tempfile::NamedTempFile::new_in(folder)
        .map(drop)
        .with_context(|| {
            format!(
                "cannot write {}: folder {} takes no new file",
                path.display(),
                folder.display()
            )
        })
}

/// What a finished run keeps on disk (`--keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Keep {
    /// Everything, so that `--resume` can extend the run.
    #[default]
    All,
    /// The best weights, metrics, plots and summary; not what only a resume reads (last
    /// weights, optimizer state, weight average): most of a run's bytes.
    Best,
}

/// Applies `--keep` to a finished run folder, saying what it freed.
///
/// # Errors
/// I/O failures removing files.
pub(crate) fn apply_keep(keep: Keep, run: &std::path::Path) -> anyhow::Result<()> {
    if keep == Keep::All {
        return Ok(());
    }
    let dir = crate::train::RunDir::open(run)?;
    let freed = dir.keep_best()?;
    println!(
        "kept the best weights only (--keep best): freed {} in {}, {} left",
        crate::pipeline::budget::bytes(freed),
        run.display(),
        crate::pipeline::budget::bytes(dir.disk_usage())
    );
    Ok(())
}
