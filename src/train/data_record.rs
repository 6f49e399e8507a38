//! `data.json` in a run folder: where the dataset a run trained on lay (as an absolute
//! path) and its [`Fingerprint`].
//!
//! A run's `pipeline.ron` often has no `data.root` (the data came from `--data`), and a
//! relative one breaks from another folder; the record lets `eval`, `oneshot` and
//! `run --resume` find the data without being told again, and lets them tell the same
//! dataset at another path (fine) from another dataset (refused unless asked for).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rundir::{io, RunDir, RunDirError};
use crate::data::{Difference, Fingerprint};

/// The record's file name in a run folder.
pub const DATA_RECORD: &str = "data.json";

/// The dataset a run trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRecord {
    /// The data folder, absolute.
    pub root: PathBuf,
    /// What identifies its contents.
    pub fingerprint: Fingerprint,
}

/// How a dataset compares with a run's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// The recorded dataset at the recorded path.
    Same,
    /// The recorded dataset, found at another path (copied or moved).
    Moved,
    /// The recorded dataset with a few images changed since (damaged or replaced: the
    /// same names and pairs files), used with a warning: what differs, and whether it is
    /// at another path.
    Changed {
        /// What differs.
        what: String,
        /// Whether it is at another path than the record's.
        moved: bool,
    },
    /// Another dataset: what differs.
    Other(Vec<String>),
}

/// A dataset other than the one a run trained on was given, without `--other-data`.
#[derive(Debug, thiserror::Error)]
pub enum OtherDataError {
    /// The folder the run recorded holds another dataset now.
    #[error(
        "the dataset in {} is not the one {} trained on any more ({}); pass --other-data to \
         use it anyway",
        root.display(), run.display(), differences.join(", ")
    )]
    Replaced {
        /// The run folder.
        run: PathBuf,
        /// The recorded (and given) data folder.
        root: PathBuf,
        /// What differs from the record.
        differences: Vec<String>,
    },
    /// Another folder, holding another dataset, was given.
    #[error(
        "{} is not the dataset {} trained on ({}; recorded: {}); pass --other-data to use it \
         anyway, or leave out --data (and TWINFLOW_DATA) to use the recorded one",
        root.display(), run.display(), differences.join(", "), recorded.display()
    )]
    Other {
        /// The run folder.
        run: PathBuf,
        /// The data folder the run recorded.
        recorded: PathBuf,
        /// The data folder given.
        root: PathBuf,
        /// What differs from the record.
        differences: Vec<String>,
    },
}

/// `path` made absolute: canonical where it exists (so `./data/../data` and a symlink
/// compare equal to the folder itself), else joined to the current directory.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

impl DataRecord {
    /// The record of the dataset in `root` (made absolute).
    pub fn new(root: &Path, fingerprint: Fingerprint) -> Self {
        Self {
            root: absolute(root),
            fingerprint,
        }
    }

    /// The record in the run folder `run`; `None` for runs made before records existed.
    ///
    /// # Errors
    /// An unreadable or damaged record.
    pub fn read(run: &Path) -> Result<Option<Self>, RunDirError> {
        let path = run.join(DATA_RECORD);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path, "read")(e)),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| RunDirError::Json {
                path,
                action: "parse",
                source,
            })
    }

    /// Writes the record into the run folder.
    ///
    /// # Errors
    /// I/O failures.
    pub fn write(&self, run: &RunDir) -> Result<(), RunDirError> {
        let path = run.path().join(DATA_RECORD);
        let json = serde_json::to_string_pretty(self).map_err(|source| RunDirError::Json {
            path: path.clone(),
            action: "serialise",
            source,
        })?;
        run.write(DATA_RECORD, &json).map(drop)
    }

    /// Makes `self` the run's record, logging in `changes.log` how it differs from the
    /// one there (a resume on data that moved, or on other data by `--other-data`).
    ///
    /// # Errors
    /// An unreadable record; I/O failures.
    pub fn update(&self, run: &RunDir) -> Result<(), RunDirError> {
        let before = Self::read(run.path())?;
        if before.as_ref() == Some(self) {
            return Ok(());
        }
        if let Some(before) = before {
            let what = match before.compare(&self.root, &self.fingerprint) {
                Comparison::Same => "the same dataset".to_string(),
                Comparison::Moved => "the same dataset, moved".to_string(),
                Comparison::Changed { what, .. } => {
                    format!("the same dataset, some images changed: {what}")
                }
                Comparison::Other(differences) => {
                    format!("another dataset: {}", differences.join(", "))
                }
            };
            run.append(
                "changes.log",
                &format!(
                    "on resume: data: {} -> {} ({what})",
                    before.root.display(),
                    self.root.display()
                ),
            )?;
        }
        self.write(run)
    }

    /// How the dataset in `root`, with `found` as its fingerprint, compares with the record.
    pub fn compare(&self, root: &Path, found: &Fingerprint) -> Comparison {
        let moved = absolute(root) != self.root;
        match self.fingerprint.compare(found) {
            Some(Difference::Other(differences)) => Comparison::Other(differences),
            Some(Difference::Changed(what)) => Comparison::Changed { what, moved },
            None if moved => Comparison::Moved,
            None => Comparison::Same,
        }
    }

    /// [`DataRecord::compare`], with another dataset an error unless `allow_other`.
    ///
    /// # Errors
    /// [`OtherDataError`] for another or changed dataset without `allow_other`.
    pub fn check(
        &self,
        run: &Path,
        root: &Path,
        found: &Fingerprint,
        allow_other: bool,
    ) -> Result<Comparison, OtherDataError> {
        let comparison = self.compare(root, found);
        match &comparison {
            Comparison::Other(differences) if !allow_other => {
                let (run, differences) = (run.to_path_buf(), differences.clone());
                Err(if absolute(root) == self.root {
                    OtherDataError::Replaced {
                        run,
                        root: self.root.clone(),
                        differences,
                    }
                } else {
                    OtherDataError::Other {
                        run,
                        recorded: self.root.clone(),
                        root: root.to_path_buf(),
                        differences,
                    }
                })
            }
            _ => Ok(comparison),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(images: usize) -> Fingerprint {
        Fingerprint {
            identities: 2,
            images,
            bytes: 10,
            names_crc: 1,
            size_groups: vec![0; crate::data::fingerprint::SIZE_GROUPS],
            train_pairs_crc: Some(2),
            test_pairs_crc: Some(3),
        }
    }

    #[test]
    fn the_same_dataset_elsewhere_is_moved_and_another_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).expect("a");
        std::fs::create_dir_all(&b).expect("b");
        let record = DataRecord::new(&a, print(4));
        assert_eq!(record.compare(&a, &print(4)), Comparison::Same);
        assert_eq!(record.compare(&b, &print(4)), Comparison::Moved);
        let err = record
            .check(Path::new("runs/x-1"), &b, &print(5), false)
            .expect_err("other data");
        let text = err.to_string();
        assert!(
            text.contains("images 4 -> 5") && text.contains("--other-data"),
            "{text}"
        );
        assert!(matches!(
            record.check(Path::new("runs/x-1"), &a, &print(5), false),
            Err(OtherDataError::Replaced { .. })
        ));
        assert!(record
            .check(Path::new("runs/x-1"), &b, &print(5), true)
            .is_ok());
    }

    #[test]
    fn an_update_logs_what_changed_and_old_runs_have_no_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = RunDir::create(dir.path(), "r").expect("run");
        assert_eq!(DataRecord::read(run.path()).expect("read"), None);
        let first = DataRecord::new(dir.path(), print(4));
        first.update(&run).expect("first");
        assert_eq!(DataRecord::read(run.path()).expect("read"), Some(first));
        DataRecord::new(run.path(), print(4))
            .update(&run)
            .expect("moved");
        let log = std::fs::read_to_string(run.path().join("changes.log")).expect("log");
        assert!(log.contains("(the same dataset, moved)"), "{log}");
    }
}
