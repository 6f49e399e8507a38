//! Sweeps: many training runs, from a list of pipeline files or a grid file, resumable, with
//! one results table (markdown and CSV) and the seed report's figures across runs.
//!
//! A sweep folder holds `sweep.json` (what runs, in which order), one run folder per
//! experiment (`<id>-1/`, the usual run layout), `results.md`, `results.csv` and the
//! figures. The state is the run folders themselves: a run with `summary.json` is done, one
//! with `state.json` resumes from its last epoch, anything else starts over; so a sweep
//! killed at any point continues where it stopped.

pub mod grid;
pub mod results;

use std::path::{Path, PathBuf};

pub use grid::{Experiment, GridFile};
pub use results::{settings_of, write_report, Row};

use crate::errors::chain;
use crate::pipeline::validate::{load, End, LoadError, Plan};
use crate::pipeline::StageConfig;
use crate::train::rundir::RunDirError;

/// Why a sweep cannot be set up or reported.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file of the list cannot be read or parsed, or a pipeline file is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A grid's axes or expansions have problems.
    #[error("{}: {} problem(s):\n  {}", path.display(), problems.len(), problems.join("\n  "))]
    Grid {
        /// The grid file.
        path: PathBuf,
        /// Every problem, each naming its combination of values.
        problems: Vec<String>,
    },
    /// Several files had problems; each is printed with its causes, one per line.
    #[error("{}", errors.iter().map(|e| chain(e)).collect::<Vec<_>>().join("\n"))]
    Many {
        /// One error per failing file.
        errors: Vec<SweepError>,
    },
    /// An experiment does not train.
    #[error("{}: a sweep runs training pipelines, but this one ends in a Sink", path.display())]
    NotTraining {
        /// The pipeline or grid file.
        path: PathBuf,
    },
    /// Reading or writing the sweep folder failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A sweep or run file is not the JSON it should be, or cannot be written as JSON.
    #[error("cannot {action} {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// `parse` or `serialise`.
        action: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A finished run's folder could not be read back.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The sweep folder holds another sweep.
    #[error("{}: {reason}", path.display())]
    Results {
        /// The sweep's record.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::eval::EvalError),
}

/// Loads every file: a pipeline file is one experiment, a grid file one per combination.
/// Every file's problems are reported together; ids are made unique.
///
/// # Errors
/// [`SweepError::Many`] (or the single error) listing every unusable file.
pub fn load_experiments(files: &[PathBuf]) -> Result<Vec<Experiment>, SweepError> {
    let mut experiments = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_file(file) {
            Ok(found) => experiments.extend(found),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(SweepError::Many { errors }),
    }
    let mut seen: Vec<String> = Vec::new();
    for e in &mut experiments {
        let base = e.id.clone();
        let mut n = 2;
        while seen.contains(&e.id) {
            e.id = format!("{base}.{n}");
            n += 1;
        }
        seen.push(e.id.clone());
    }
    Ok(experiments)
}

/// One file's experiments.
///
/// # Errors
/// The file's read, parse, validation or grid errors.
pub fn load_file(file: &Path) -> Result<Vec<Experiment>, SweepError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let found = if grid::is_grid(&text) {
        grid::expand(&text, file)?
    } else {
        let plan = load(file)?;
        let id = file
            .file_stem()
            .map_or_else(|| "run".into(), |s| grid::safe(&s.to_string_lossy()));
        vec![Experiment {
            id,
            source: file.to_path_buf(),
            values: Vec::new(),
            plan,
        }]
    };
    if found.iter().any(|e| !matches!(e.plan.end, End::Train(_))) {
        return Err(SweepError::NotTraining {
            path: file.to_path_buf(),
        });
    }
    Ok(found)
}

/// Where an experiment's run lives in the sweep folder.
pub fn run_dir(sweep: &Path, id: &str) -> PathBuf {
    sweep.join(format!("{id}-1"))
}

/// How far an experiment got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing usable on disk: start it.
    New,
    /// Some epochs done: resume it.
    Partial,
    /// `summary.json` written: skip it.
    Done,
}

/// Reads an experiment's status from its run folder.
pub fn status(sweep: &Path, id: &str) -> Status {
    let dir = run_dir(sweep, id);
    if dir.join("summary.json").is_file() {
        Status::Done
    } else if dir.join("state.json").is_file() && dir.join("last.safetensors").is_file() {
        Status::Partial
    } else {
        Status::New
    }
}

/// The experiment's plan as the sweep runs it: its run goes to `<sweep>/<id>-1`, and with
/// `max_epochs` its schedule is capped (a reduced budget, recorded in the run's pipeline).
pub fn prepare(experiment: &Experiment, sweep: &Path, max_epochs: Option<usize>) -> Plan {
    let mut plan = experiment.plan.clone();
    let point = |train: &mut crate::train::TrainConfig| {
        train.runs = sweep.to_path_buf();
        train.name = Some(experiment.id.clone());
    };
    if let End::Train(train) = &mut plan.end {
        point(train);
    }
    for stage in &mut plan.pipeline.stages {
        if let StageConfig::Train(train) = stage {
            point(train);
        }
    }
    if let Some(cap) = max_epochs {
        let epochs = &mut plan.pipeline.schedule.epochs;
        *epochs = (*epochs).min(cap.max(1));
    }
    plan
}

/// The sweep's record of what it runs, written before the first run starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepRecord {
    /// The files the sweep was started with.
    pub files: Vec<PathBuf>,
    /// The epoch cap, if any.
    pub max_epochs: Option<usize>,
    /// Experiment ids in run order.
    pub experiments: Vec<String>,
}

/// Writes `sweep.json`, or checks that an existing one describes the same sweep, so a
/// resumed sweep cannot silently mix two different lists in one table.
///
/// # Errors
/// I/O errors, [`SweepError::Json`] for a damaged `sweep.json`, and [`SweepError::Results`]
/// when the folder holds a different sweep.
pub fn record(dir: &Path, wanted: &SweepRecord) -> Result<(), SweepError> {
    let path = dir.join("sweep.json");
    let io = |action| {
        let path = path.clone();
        move |source| SweepError::Io {
            path,
            action,
            source,
        }
    };
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(io("read"))?;
        let old: SweepRecord = serde_json::from_str(&text).map_err(|source| SweepError::Json {
            path: path.clone(),
            action: "parse",
            source,
        })?;
        if old.experiments != wanted.experiments || old.max_epochs != wanted.max_epochs {
            return Err(SweepError::Results {
                path,
                reason: format!(
                    "this folder holds another sweep ({} experiments, epoch cap {:?}); \
                     pick another --out or delete it",
                    old.experiments.len(),
                    old.max_epochs
                ),
            });
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io("create"))?;
    let json = serde_json::to_string_pretty(wanted).map_err(|source| SweepError::Json {
        path: path.clone(),
        action: "serialise",
        source,
    })?;
    std::fs::write(&path, json).map_err(io("write"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const TRAIN: &str = "Pipeline(stages: [Decode(()), PairBatch(()), Train(())])";

    #[test]
    fn lists_and_grids_load_with_unique_ids_and_all_errors_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.ron", TRAIN);
        let grid = write(
            dir.path(),
            "g.ron",
            r##"Grid(axes: [(name: "seed", values: ["1", "2"])],
                pipeline: r#"Pipeline(seed: ${seed}, stages: [Decode(()), PairBatch(()), Train(())])"#)"##,
        );
        let found = load_experiments(&[a.clone(), a.clone(), grid.clone()]).unwrap();
        let ids: Vec<&str> = found.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "a.2", "seed-1", "seed-2"]);
        assert_eq!(found[3].plan.pipeline.seed, 2);

        let bad = write(
            dir.path(),
            "bad.ron",
            "Pipeline(stages: [Decode((workers: 0))])",
        );
        let sink = write(
            dir.path(),
            "sink.ron",
            "Pipeline(stages: [Decode(()), Sink(Count)])",
        );
        let err = load_experiments(&[bad, a, sink]).unwrap_err().to_string();
        assert!(err.contains("bad.ron") && err.contains("workers"), "{err}");
        assert!(
            err.contains("sink.ron") && err.contains("ends in a Sink"),
            "{err}"
        );
    }

    #[test]
    fn prepare_points_the_run_into_the_sweep_and_caps_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.ron", TRAIN);
        let e = &load_experiments(&[a]).unwrap()[0];
        let plan = prepare(e, Path::new("sw"), Some(3));
        assert_eq!(plan.pipeline.schedule.epochs, 3);
        let End::Train(t) = &plan.end else {
            panic!("not a train plan")
        };
        assert_eq!(t.runs, Path::new("sw"));
        assert_eq!(t.name.as_deref(), Some("a"));
        assert_eq!(
            prepare(e, Path::new("sw"), Some(1000))
                .pipeline
                .schedule
                .epochs,
            50
        );
    }

    #[test]
    fn status_follows_the_run_folder_and_records_must_match() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(status(dir.path(), "x"), Status::New);
        let run = run_dir(dir.path(), "x");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("state.json"), "{}").unwrap();
        assert_eq!(status(dir.path(), "x"), Status::New);
        std::fs::write(run.join("last.safetensors"), "").unwrap();
        assert_eq!(status(dir.path(), "x"), Status::Partial);
        std::fs::write(run.join("summary.json"), "{}").unwrap();
        assert_eq!(status(dir.path(), "x"), Status::Done);

        let rec = SweepRecord {
            files: vec![],
            max_epochs: None,
            experiments: vec!["x".into()],
        };
        record(dir.path(), &rec).unwrap();
        record(dir.path(), &rec).unwrap();
        let other = SweepRecord {
            experiments: vec!["y".into()],
            ..rec
        };
        let err = record(dir.path(), &other).unwrap_err().to_string();
        assert!(err.contains("another sweep"), "{err}");
    }
}
