//! Which dataset a command uses. [`data_root`]: the folder `--data`, `TWINFLOW_DATA` or
//! the pipeline names, made first when the pipeline carries `data.synth`. [`run_data`]: the
//! dataset of a command that works on an existing run (`eval`, `oneshot`,
//! `run --resume`): the one the run recorded in its `data.json` unless `--data` names
//! another folder, checked against the record's fingerprint.
//!
//! The same dataset at another path is used, with a note, and so is the same dataset
//! with a few images changed (damaged, say), with a warning; another dataset is refused
//! unless `--other-data` is given. Runs made before records existed resolve their data as
//! before: `--data`, `TWINFLOW_DATA`, or the pipeline's `data.root`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;

use crate::data::synth::{self, Prepared};
use crate::data::{DataConfig, Dataset, Fingerprint};
use crate::train::data_record::{absolute, Comparison, DataRecord};

/// A run's dataset, found, scanned and checked.
pub struct RunData {
    /// The data folder.
    pub root: PathBuf,
    /// Its images.
    pub dataset: Dataset,
}

/// Resolves, scans and checks the dataset of the run in `run`: `flag` (`--data` or
/// `TWINFLOW_DATA`) first, then the run's record, then `data.root`; says on stderr where
/// the data came from when the record chose it or the path differs from the record.
///
/// # Errors
/// No dataset named anywhere, an unusable one, or (without `allow_other`) one whose
/// fingerprint differs from the record's.
pub fn run_data(
    run: &Path,
    flag: Option<&Path>,
    allow_other: bool,
    data: &DataConfig,
) -> anyhow::Result<RunData> {
    let record = DataRecord::read(run)?;
    let Some(record) = record else {
        let root = data_root(flag, data)?;
        let dataset = Dataset::scan(&root)?;
        return Ok(RunData { root, dataset });
    };
    let root = match flag {
        Some(flag) => data_root(Some(flag), data)?,
        None => data_root(Some(&record.root), data)?,
    };
    let dataset = Dataset::scan(&root).with_context(|| match flag {
        Some(_) => format!("--data {}", root.display()),
        None => format!(
            "the dataset {} trained on (recorded in {}); pass --data DIR where it is now",
            run.display(),
            run.join(crate::train::data_record::DATA_RECORD).display()
        ),
    })?;
    let found = Fingerprint::take(&dataset, &root, data)?;
    let comparison = record.check(run, &root, &found, allow_other)?;
    if let Some(note) = note(run, &record, &root, flag.is_some(), &comparison) {
        eprintln!("{note}");
    }
    Ok(RunData { root, dataset })
}

/// The stderr line that says which data a command uses, when the user did not name it
/// exactly: taken from the record, the recorded dataset at a new path, or other data.
fn note(
    run: &Path,
    record: &DataRecord,
    root: &Path,
    flagged: bool,
    comparison: &Comparison,
) -> Option<String> {
    let (run, here) = (run.display(), absolute(root));
    match comparison {
        Comparison::Same if flagged => None,
        Comparison::Same => Some(format!("data: {} (recorded by {run})", here.display())),
        Comparison::Moved => Some(format!(
            "data: {} holds the dataset {run} trained on (recorded at {}; same fingerprint)",
            here.display(),
            record.root.display()
        )),
        Comparison::Changed { what, moved } => Some(format!(
            "warning: {}{} holds the dataset {run} trained on with some images changed since \
             ({what}); using it",
            here.display(),
            if *moved {
                format!(" (recorded at {})", record.root.display())
            } else {
                String::new()
            }
        )),
        Comparison::Other(differences) => Some(format!(
            "data: {} is not the dataset {run} trained on ({}; recorded: {}); using it \
             (--other-data)",
            here.display(),
            differences.join(", "),
            record.root.display()
        )),
    }
}

/// Resolves the data folder: `--data`/`TWINFLOW_DATA`, else the RON's `data.root`; when
/// the pipeline carries `data.synth`, makes or refreshes its synthetic dataset there first
/// and says so on stderr.
///
/// # Errors
/// When neither names a folder, or the synthetic dataset cannot be made.
pub fn data_root(flag: Option<&Path>, data: &DataConfig) -> anyhow::Result<PathBuf> {
    let root = flag
        .or(data.root.as_deref())
        .map(Path::to_path_buf)
        .context(
            "no dataset: pass --data DIR, set TWINFLOW_DATA, or set data.root in the pipeline \
         (LFW-a: a folder holding lfw2/ and the pairs files)",
        )?;
    if let Some(opts) = &data.synth {
        let started = Instant::now();
        let prepared = synth::prepare(&root, opts)
            .with_context(|| format!("making the synthetic dataset in {}", root.display()))?;
        if let Some(note) = prepared_note(&root, &prepared, started.elapsed().as_secs_f64()) {
            eprintln!("{note}");
        }
    }
    Ok(root)
}

/// What [`data_root`] tells the user about the pipeline's synthetic dataset.
fn prepared_note(root: &Path, prepared: &Prepared, seconds: f64) -> Option<String> {
    let made = |summary: &synth::SynthSummary| {
        let [train, test, unused] = summary.identities;
        format!(
            "{} images of {} identities ({train} train, {test} test, {unused} unused) in \
             {seconds:.1} s",
            summary.images,
            train + test + unused
        )
    };
    match prepared {
        Prepared::Reused => Some(format!(
            "data: the synthetic dataset in {} (data.synth; reused)",
            root.display()
        )),
        Prepared::NotSynthetic => None,
        Prepared::Generated(summary) => Some(format!(
            "data: made the synthetic dataset of data.synth in {}: {}",
            root.display(),
            made(summary)
        )),
        Prepared::Replaced { previous, summary } => Some(format!(
            "data: remade the synthetic dataset in {} (it was made with {}): {}",
            root.display(),
            previous.to_ron().lines().last().unwrap_or_default().trim(),
            made(summary)
        )),
    }
}
