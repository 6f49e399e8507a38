//! The dataset of a command that works on an existing run (`eval`, `oneshot`,
//! `run --resume`): the one the run recorded in its `data.json` unless `--data` names
//! another folder, checked against the record's fingerprint.
//!
//! The same dataset at another path is used, with a note, and so is the same dataset
//! with a few images changed (damaged, say), with a warning; another dataset is refused
//! unless `--other-data` is given. Runs made before records existed resolve their data as
//! before: `--data`, `TWINFLOW_DATA`, or the pipeline's `data.root`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::run::data_root;
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
