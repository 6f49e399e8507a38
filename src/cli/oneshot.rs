//! `twinflow oneshot --run RUN`: Koch et al.'s one-shot N-way identification on the test
//! identities, with a trained run.
//!
//! Each trial shows the network a query image of a test identity with two or more images
//! and N support images: another image of that identity and one image of each of N - 1
//! other test identities. The trial is right when the true support scores highest. Test
//! identities never appear in training, so this measures one-shot learning as Koch et al.
//! defined it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::run::load_images;
use super::run_data::{run_data, RunData};
use super::say;
use crate::cache::ImageStore;
use crate::data::{read_pairs, splits::names_of, ImageEntry};
use crate::eval::{one_shot_accuracy, OneShot};
use crate::pipeline::trained::load_trained;
use crate::train::scoring::embed_rows;

/// Images per forward pass while embedding the test images.
const BATCH: usize = 64;

/// The N of Koch et al.'s one-shot table, run when `--ways` is not given.
const DEFAULT_WAYS: [usize; 3] = [5, 10, 20];

/// Arguments of `twinflow oneshot`.
#[derive(Debug, Args)]
pub struct OneShotArgs {
    /// A finished training run (e.g. `runs/paper-1`); `oneshot.json` is written into it.
    #[arg(long)]
    pub run: PathBuf,
    /// The backend to score on (`cpu` or `gpu`); overrides the run's own `device` without editing it.
    #[arg(long)]
    pub device: Option<crate::model::Device>,
    /// The LFW-a folder; defaults to the dataset the run trained on (`RUN/data.json`), else
    /// `TWINFLOW_DATA` or the run pipeline's `data.root`. The same dataset at another path is
    /// fine; another dataset is refused without `--other-data`.
    #[arg(long, env = "TWINFLOW_DATA")]
    pub data: Option<PathBuf>,
    /// Accept a `--data` that is not the dataset the run trained on.
    #[arg(long)]
    pub other_data: bool,
    /// Candidates per trial (N), comma-separated [default: 5,10,20, each lowered to the
    /// number of test identities where there are fewer, with a note].
    #[arg(long, value_delimiter = ',')]
    pub ways: Option<Vec<usize>>,
    /// Trials per N.
    #[arg(long, default_value_t = 1000)]
    pub trials: usize,
    /// Seed of the trials; defaults to the run pipeline's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// One N of the report.
#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    result: OneShot,
    /// The accuracy of a random guess, 1/N.
    chance: f64,
}

/// What `oneshot` writes to `oneshot.json`.
#[derive(Serialize)]
struct Report {
    test_pairs: PathBuf,
    identities: usize,
    query_identities: usize,
    images: usize,
    seed: u64,
    results: Vec<Row>,
}

/// Runs the trials for every N, prints the table and writes it into the run folder.
///
/// # Errors
/// An unusable run or dataset, or an N the test identities cannot fill.
pub fn run(args: &OneShotArgs) -> anyhow::Result<ExitCode> {
    let mut trained = load_trained(&args.run, args.device)
        .with_context(|| format!("loading {}", args.run.display()))?;
    let data = &trained.plan.pipeline.data;
    let RunData { root, dataset } =
        run_data(&args.run, args.data.as_deref(), args.other_data, data)?;
    let test_file = root.join(&data.test_pairs);
    let pairs = read_pairs(&test_file)?;
    dataset.check_pairs(&pairs, &test_file)?;
    let names = names_of(&pairs);
    let entries: Vec<ImageEntry> = dataset
        .images
        .iter()
        .filter(|e| names.contains(&e.key.name))
        .cloned()
        .collect();
    let ways = check_request(args, &entries)?;
    let loaded = load_images(&trained.plan, root, entries)?;
    let store = &loaded.store;
    let rows: Vec<u32> = (0..store.len() as u32).collect();
    let embeddings = embed_rows(trained.net.as_mut(), store, &rows, BATCH)?;
    let items: Vec<(&str, usize)> = (0..store.len())
        .map(|r| (store.key(r).name.as_str(), r))
        .collect();
    let comparator = trained.net.comparator(crate::model::Weights::Live)?;
    let seed = args.seed.unwrap_or(trained.plan.pipeline.seed);
    let mut results = Vec::new();
    for &n in &ways {
        let result = one_shot_accuracy(n, args.trials, seed, &items, |&a, &b| {
            f64::from(comparator.similarity(&embeddings[a], &embeddings[b]))
        })
        .with_context(|| format!("{n}-way one-shot trials"))?;
        results.push(Row {
            result,
            chance: 1.0 / n as f64,
        });
    }
    let per_identity = images_per_identity(items.iter().map(|(name, _)| *name));
    let report = Report {
        test_pairs: test_file,
        identities: per_identity.len(),
        query_identities: per_identity.values().filter(|&&k| k >= 2).count(),
        images: store.len(),
        seed,
        results,
    };
    let out = args.run.join("oneshot.json");
    // An earlier result is kept beside the new one, and the output says so.
    let kept = out.with_extension("previous.json");
    let replaced = out.exists();
    if replaced {
        std::fs::rename(&out, &kept)
            .with_context(|| format!("moving {} to {}", out.display(), kept.display()))?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    say(&table(&report, args.trials))?;
    say(&format!("written: {}\n", out.display()))?;
    if replaced {
        say(&format!("the earlier result is now {}\n", kept.display()))?;
    }
    Ok(loaded.exit_code())
}

/// The N to run, or a refusal, before any decoding, of what the test identities cannot
/// give. An N the user asked for is refused when too large; the default N are lowered to
/// the number of test identities instead, with a note, so `oneshot` with no `--ways` works
/// on a small (e.g. synthetic) test set.
fn check_request(args: &OneShotArgs, entries: &[ImageEntry]) -> anyhow::Result<Vec<usize>> {
    let per_identity = images_per_identity(entries.iter().map(|e| e.key.name.as_str()));
    let identities = per_identity.len();
    anyhow::ensure!(args.trials > 0, "--trials must be > 0");
    anyhow::ensure!(
        per_identity.values().any(|&k| k >= 2),
        "no test identity has two images, so no trial has a true support"
    );
    let ways = match &args.ways {
        Some(ways) => ways.clone(),
        None => {
            let (ways, note) = default_ways(identities)?;
            if let Some(note) = note {
                eprintln!("{note}");
            }
            ways
        }
    };
    anyhow::ensure!(!ways.is_empty(), "--ways needs at least one N");
    for &n in &ways {
        anyhow::ensure!(
            (2..=identities).contains(&n),
            "--ways {n}: N must be in 2..={identities}, the number of test identities with images"
        );
    }
    Ok(ways)
}

/// [`DEFAULT_WAYS`] lowered to `identities`, without repeats, and the note that says so
/// when any was lowered.
fn default_ways(identities: usize) -> anyhow::Result<(Vec<usize>, Option<String>)> {
    anyhow::ensure!(
        identities >= 2,
        "one-shot trials need at least 2 test identities with images, found {identities}"
    );
    let mut ways: Vec<usize> = DEFAULT_WAYS.iter().map(|&n| n.min(identities)).collect();
    ways.dedup();
    let note = (ways.len() < DEFAULT_WAYS.len() || ways.last() != DEFAULT_WAYS.last()).then(|| {
        let list = |w: &[usize]| w.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        format!(
            "note: the test pairs have {identities} identities, so the default N {} became {} \
             (choose with --ways)",
            list(&DEFAULT_WAYS),
            list(&ways)
        )
    });
    Ok((ways, note))
}

fn images_per_identity<'a>(names: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for name in names {
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

fn table(report: &Report, trials: usize) -> String {
    let mut t = format!(
        "one-shot identification: {} test identities ({} with two or more images, the \
         queries), {} images, {trials} trials per N, seed {}\n\n{:>6}  {:>8}  {:<16}  {:>6}\n",
        report.identities,
        report.query_identities,
        report.images,
        report.seed,
        "N",
        "accuracy",
        "95% interval",
        "chance"
    );
    let pct = crate::eval::format::percent;
    for row in &report.results {
        let r = &row.result;
        let _ = writeln!(
            t,
            "{:>6}  {:>8}  [{:>6}, {:>6}]  {:>6}",
            r.n_way,
            pct(r.accuracy),
            pct(r.ci95.0),
            pct(r.ci95.1),
            pct(row.chance)
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_shows_the_default_ways_as_they_are_typed() {
        use clap::Args as _;
        let help = OneShotArgs::augment_args(clap::Command::new("oneshot"))
            .render_help()
            .to_string();
        assert!(help.contains("comma-separated [default: 5,10,20"), "{help}");
        assert!(!help.contains("5 10 20"), "{help}");
    }

    #[test]
    fn default_ways_are_lowered_to_the_test_identities_with_a_note() {
        assert_eq!(default_ways(120).expect("ways"), (vec![5, 10, 20], None));
        let (ways, note) = default_ways(12).expect("ways");
        assert_eq!(ways, vec![5, 10, 12]);
        let note = note.expect("a note");
        assert!(note.contains("5,10,20 became 5,10,12"), "{note}");
        assert_eq!(default_ways(10).expect("ways").0, vec![5, 10]);
        assert_eq!(default_ways(3).expect("ways").0, vec![3]);
        assert!(default_ways(1).is_err());
    }
}
