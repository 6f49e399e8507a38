//! `twinflow data`: describe a dataset the way the seed study (the TensorFlow/Keras report
//! this project rebuilds) does (`stats`), or write a small synthetic one for tests and
//! demos (`synth`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use super::say;
use anyhow::{bail, Context};
use clap::Subcommand;

use crate::data::stats::{render, write_contact_sheet, DatasetStats, SheetOptions};
use crate::data::synth::{self, SynthOptions};
use crate::data::{read_pairs, Dataset, Pair, ValidationSplit};

/// Look at LFW-a, or make a synthetic stand-in.
#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// What to do with the data.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// The `data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Print the dataset tables of the seed study (the TensorFlow/Keras report this project
    /// rebuilds) and write a contact sheet of example pairs.
    Stats(StatsArgs),
    /// Write a small synthetic LFW-like dataset (procedural faces) with pairs files.
    Synth(SynthArgs),
}

/// Arguments of `twinflow data stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Dataset folder: one holding `lfw2/`, `lfw2/` itself, or the seed study's flat layout.
    #[arg(long, env = "TWINFLOW_DATA", value_name = "DIR")]
    pub data: PathBuf,
    /// Train pairs file [default: DIR/pairsDevTrain.txt].
    #[arg(long, value_name = "FILE")]
    pub train_pairs: Option<PathBuf>,
    /// Test pairs file [default: DIR/pairsDevTest.txt].
    #[arg(long, value_name = "FILE")]
    pub test_pairs: Option<PathBuf>,
    /// Where to write the PNG contact sheet of example train pairs.
    #[arg(long, value_name = "FILE", default_value = "data/contact-sheet.png")]
    pub sheet: PathBuf,
    /// Do not write the contact sheet.
    #[arg(long)]
    pub no_sheet: bool,
    /// Same pairs (and as many different pairs) on the contact sheet.
    #[arg(long, value_name = "N", default_value_t = SheetOptions::default().per_kind)]
    pub sheet_pairs: usize,
    /// Validation split rule, in RON: `FirstLetter(same: "ABCDE", different: "ABC")`
    /// (the seed study's, the default) or `Ratio(fraction: 0.3)`.
    #[arg(long, value_name = "RON")]
    pub validation: Option<String>,
    /// Seed of a `Ratio` validation split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `twinflow data synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Output folder; gets `lfw2/`, `pairsDevTrain.txt`, `pairsDevTest.txt`, `synth.ron`.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of every random choice; the same seed gives byte-identical files.
    #[arg(long, default_value_t = SynthOptions::default().seed)]
    pub seed: u64,
    /// Identities in all (a quarter test, an eighth unused, the rest train).
    #[arg(long, value_name = "N", default_value_t = SynthOptions::default().identities)]
    pub identities: usize,
    /// Image side in pixels.
    #[arg(long, value_name = "PX", default_value_t = SynthOptions::default().size)]
    pub size: u32,
    /// Fewest images per train or test identity.
    #[arg(long, value_name = "N", default_value_t = SynthOptions::default().min_images)]
    pub min_images: u32,
    /// Most images per identity.
    #[arg(long, value_name = "N", default_value_t = SynthOptions::default().max_images)]
    pub max_images: u32,
    /// Also write K truncated, undecodable JPEGs of unused identities.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub corrupt: usize,
    /// Replace what an earlier `data synth` wrote into DIR.
    #[arg(long)]
    pub force: bool,
}

/// Runs a `data` subcommand.
///
/// # Errors
/// Any failure to read, check, describe or write data, with the file at fault.
pub fn run(args: DataArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DataCommand::Stats(args) => stats(args),
        DataCommand::Synth(args) => synth(args),
    }
}

fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let rule = validation_rule(args.validation.as_deref())?;
    let dataset = Dataset::scan(&args.data)
        .context("cannot scan the dataset (set by --data or TWINFLOW_DATA)")?;
    let train_path = args
        .train_pairs
        .unwrap_or_else(|| args.data.join("pairsDevTrain.txt"));
    let test_path = args
        .test_pairs
        .unwrap_or_else(|| args.data.join("pairsDevTest.txt"));
    let train = checked_pairs(&dataset, &train_path, "train")?;
    let test = checked_pairs(&dataset, &test_path, "test")?;
    let stats = DatasetStats::compute(&dataset, &train, &test, &rule, args.seed)
        .context("train and test pairs must not share identities")?;
    say(&render(&stats))?;
    if !args.no_sheet {
        let opts = SheetOptions {
            per_kind: args.sheet_pairs,
            ..SheetOptions::default()
        };
        let (same, different) = write_contact_sheet(&args.sheet, &dataset, &train, opts)
            .with_context(|| format!("cannot write contact sheet {}", args.sheet.display()))?;
        say(&format!(
            "\nContact sheet of {same} same and {different} different train pairs: {}\n",
            args.sheet.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses and checks the `--validation` rule, reporting every problem at once.
fn validation_rule(text: Option<&str>) -> anyhow::Result<ValidationSplit> {
    let Some(text) = text else {
        return Ok(ValidationSplit::default());
    };
    let rule: ValidationSplit = ron::from_str(text)
        .with_context(|| format!("--validation `{text}` is not a valid rule"))?;
    let problems = rule.validate();
    if !problems.is_empty() {
        bail!("--validation `{text}`: {}", problems.join("; "));
    }
    Ok(rule)
}

/// Reads a pairs file and checks that the dataset holds every image it names.
fn checked_pairs(dataset: &Dataset, path: &Path, which: &str) -> anyhow::Result<Vec<Pair>> {
    let pairs = read_pairs(path).with_context(|| {
        format!("cannot load {which} pairs (choose the file with --{which}-pairs)")
    })?;
    dataset.check_pairs(&pairs, path).with_context(|| {
        format!(
            "{which} pairs do not match dataset {}",
            dataset.root.display()
        )
    })?;
    Ok(pairs)
}

fn synth(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let opts = SynthOptions {
        seed: args.seed,
        identities: args.identities,
        size: args.size,
        min_images: args.min_images,
        max_images: args.max_images,
        corrupt: args.corrupt,
        ..SynthOptions::default()
    };
    if args.force && synth::remove_previous(&args.out)? {
        say(&format!(
            "Removed the earlier synthetic images in {}\n",
            args.out.display()
        ))?;
    }
    let started = Instant::now();
    let summary = synth::generate(&args.out, &opts)
        .with_context(|| format!("cannot write synthetic data to {}", args.out.display()))?;
    say(&synth_report(&summary, started.elapsed().as_secs_f64()))?;
    Ok(ExitCode::SUCCESS)
}

/// What `data synth` tells the user it wrote.
fn synth_report(summary: &synth::SynthSummary, seconds: f64) -> String {
    let [train, test, unused] = summary.identities;
    let mut text = format!(
        "Wrote {} images of {} identities ({train} train, {test} test, {unused} unused) \
         to {} in {seconds:.2} s\n",
        summary.images,
        train + test + unused,
        summary.images_dir.display(),
    );
    for (path, per_side) in [
        (&summary.train_pairs, summary.pairs_per_side[0]),
        (&summary.test_pairs, summary.pairs_per_side[1]),
    ] {
        text += &format!(
            "  {}: {per_side} same + {per_side} different pairs\n",
            path.display()
        );
    }
    if let Some(first) = summary.corrupt.first() {
        let count = summary.corrupt.len();
        text += &format!("  {count} corrupt files, e.g. {}\n", first.display());
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A stand-in for the top-level parser, so these tests do not depend on `cli::Cli`.
    #[derive(Debug, Parser)]
    struct Top {
        #[command(flatten)]
        data: DataArgs,
    }

    #[test]
    fn parses_stats_and_synth_flags() {
        let top = Top::parse_from([
            "t",
            "stats",
            "--data",
            "/d",
            "--validation",
            "Ratio(fraction: 0.3)",
        ]);
        let DataCommand::Stats(stats) = top.data.command else {
            panic!("expected stats");
        };
        assert_eq!(stats.data, PathBuf::from("/d"));
        assert_eq!(stats.sheet, PathBuf::from("data/contact-sheet.png"));
        let rule = validation_rule(stats.validation.as_deref()).expect("rule");
        assert_eq!(rule, ValidationSplit::Ratio { fraction: 0.3 });

        let top = Top::parse_from(["t", "synth", "--out", "o", "--size", "64", "--corrupt", "2"]);
        let DataCommand::Synth(synth) = top.data.command else {
            panic!("expected synth");
        };
        assert_eq!((synth.size, synth.corrupt, synth.seed), (64, 2, 7));
    }

    #[test]
    fn bad_validation_rules_are_explained() {
        let err = validation_rule(Some("Ratio(fraction: 1.5)")).expect_err("range");
        assert!(
            format!("{err:#}").contains("strictly between 0 and 1"),
            "{err:#}"
        );
        let err = validation_rule(Some("Halves")).expect_err("unknown");
        assert!(format!("{err:#}").contains("not a valid rule"), "{err:#}");
    }

    #[test]
    fn synth_then_stats_end_to_end() {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let out = dir.path().join("synth");
        let sheet = dir.path().join("sheet/contact.png");
        let out_arg = out.to_string_lossy().into_owned();
        let sheet_arg = sheet.to_string_lossy().into_owned();
        let synth = Top::parse_from([
            "t",
            "synth",
            "--out",
            &out_arg,
            "--size",
            "32",
            "--identities",
            "8",
        ]);
        run(synth.data).expect("synth");
        let again = Top::parse_from(["t", "synth", "--out", &out_arg, "--size", "32", "--force"]);
        run(again.data).expect("synth --force");
        let stats = Top::parse_from(["t", "stats", "--data", &out_arg, "--sheet", &sheet_arg]);
        run(stats.data).expect("stats");
        assert!(sheet.is_file());
    }
}
