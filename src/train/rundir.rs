//! A run's folder under `runs/`: the resolved pipeline, per-epoch metrics, the best and the
//! last checkpoints, and the loop state that `--resume` continues from.

use std::path::{Path, PathBuf};

use super::checkpoint::{self, Tensors};

use super::state::LoopState;
use crate::model::backend::OptimizerState;

/// Why a run folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// File I/O failed.
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
    /// A checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// The TensorBoard event file could not be written.
    #[error(transparent)]
    TensorBoard(#[from] super::tensorboard::TensorBoardError),
    /// A weight file holds another epoch than `state.json` says: the folder was changed
    /// by hand or by something other than twinflow.
    #[error(
        "{} holds the weights after {found} epoch(s), but state.json says {state}: the run folder is inconsistent",
        path.display()
    )]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The epochs it holds.
        found: usize,
        /// The epochs `state.json` names for it.
        state: usize,
    },
    /// Another process holds the folder's lock: it is training in it now.
    #[error("another twinflow process is training in {} (its lock is held); wait for it, or stop it", path.display())]
    Busy {
        /// The run folder.
        path: PathBuf,
    },
    /// The run was finished with `--keep best`: what a resume reads is gone.
    #[error(
        "{} was finished with --keep best: its last weights and optimizer state were removed, \
         so it cannot be resumed (its best weights still evaluate); start a new run to train \
         further",
        path.display()
    )]
    KeptBestOnly {
        /// The run folder.
        path: PathBuf,
    },
    /// A JSON file is damaged, or the state could not be serialised.
    #[error("cannot {action} {}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What was being done: "parse" or "serialise".
        action: &'static str,
        /// The parser's or serialiser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The record of the pipeline a run trained with, beside its `pipeline.ron`: what a resume
/// compares edits against (`pipeline::edits`).
pub const TRAINED_PIPELINE: &str = "pipeline.trained.ron";

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

/// Wraps an I/O error with the file and what was being done.
pub(super) fn io<'a>(
    path: &'a Path,
    action: &'static str,
) -> impl FnOnce(std::io::Error) -> RunDirError + 'a {
    move |source| RunDirError::Io {
        path: path.into(),
        action,
        source,
    }
}

impl RunDir {
    /// Creates `root/<stem>-<n>` with the first free `n`.
    ///
    /// # Errors
    /// When the folder cannot be created.
    pub fn create(root: &Path, stem: &str) -> Result<Self, RunDirError> {
        std::fs::create_dir_all(root).map_err(io(root, "create"))?;
        for n in 1.. {
            let path = root.join(format!("{stem}-{n}"));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&path, "create")(e)),
            }
        }
        unreachable!("the loop returns")
    }

    /// An existing run folder.
    ///
    /// # Errors
    /// When it is not a folder.
    pub fn open(path: &Path) -> Result<Self, RunDirError> {
        std::fs::read_dir(path).map_err(io(path, "open run folder"))?;
        Ok(Self { path: path.into() })
    }

    /// Takes the folder's lock (`.lock` in it) for as long as the returned file lives, so
    /// that two processes never train in one folder at once. The OS drops the lock when
    /// the process ends, however it ends.
    ///
    /// # Errors
    /// [`RunDirError::Busy`] when another process holds it; I/O failures.
    pub fn lock(&self) -> Result<std::fs::File, RunDirError> {
        let path = self.path.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path, "open"))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(RunDirError::Busy {
                path: self.path.clone(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path, "lock")(e)),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The resolved pipeline.
    pub fn pipeline(&self) -> PathBuf {
        self.path.join("pipeline.ron")
    }

    /// The best weights so far (by `schedule.monitor`).
    pub fn best_weights(&self) -> PathBuf {
        self.path.join("best.safetensors")
    }

    /// The final evaluation.
    pub fn summary(&self) -> PathBuf {
        self.path.join("summary.json")
    }

    /// Writes a file into the run folder.
    ///
    /// # Errors
    /// I/O failures.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, RunDirError> {
        let path = self.path.join(name);
        std::fs::write(&path, text).map_err(io(&path, "write"))?;
        Ok(path)
    }

    /// Appends `line` and a newline to `name` in the folder, creating it if needed.
    ///
    /// # Errors
    /// I/O failures, naming the file.
    pub fn append(&self, name: &str, line: &str) -> Result<(), RunDirError> {
        use std::io::Write;
        let path = self.path.join(name);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path, "open"))?;
        writeln!(file, "{line}").map_err(io(&path, "write"))
    }

    /// Rewrites `metrics.csv` from the loop state's history (atomically: a crash leaves the
    /// old file or the new one), and brings the TensorBoard event file up to it
    /// ([`super::tensorboard::write_epochs`]).
    ///
    /// # Errors
    /// I/O failures.
    pub fn write_metrics(&self, state: &LoopState) -> Result<(), RunDirError> {
        let mut csv = String::from("epoch,train_loss,train_acc,val_loss,val_acc,val_auc,val_precision,val_recall,lr,seconds,pairs_per_s,same_ratio_min,same_ratio_max,val_acc_best_threshold\n");
        for m in &state.history {
            csv.push_str(&format!(
                "{},{:.6},{:.4},{:.6},{:.4},{},{:.4},{:.4},{:.3e},{:.1},{:.1},{:.4},{:.4},{}\n",
                m.epoch,
                m.train_loss,
                m.train.accuracy,
                m.val_loss,
                m.val.accuracy,
                m.val.auc.map_or(String::new(), |a| format!("{a:.4}")),
                m.val.precision,
                m.val.recall,
                m.lr,
                m.seconds,
                m.pairs_per_s,
                m.same_ratio.0,
                m.same_ratio.1,
                // Last, so the columns before keep their positions for existing readers.
                m.val_best_threshold_accuracy
                    .map_or(String::new(), |a| format!("{a:.4}"))
            ));
        }
        let path = self.path.join("metrics.csv");
        let tmp = path.with_extension("csv.tmp");
        std::fs::write(&tmp, csv).map_err(io(&tmp, "write"))?;
        std::fs::rename(&tmp, &path).map_err(io(&path, "rename onto"))?;
        super::tensorboard::write_epochs(&self.path, &state.history)?;
        Ok(())
    }

    /// Reads the weight average a checkpoint holds: the tensors and the training step; `None` when the
    /// run has no average yet (it was trained without one so far).
    ///
    /// # Errors
    /// A damaged file.
    pub fn load_average(&self) -> Result<Option<(Tensors, u64)>, RunDirError> {
        let path = self.average_weights();
        if !path.exists() {
            return Ok(None);
        }
        let (tensors, meta) = checkpoint::read_with_metadata(&path)?;
        let steps = meta.get("steps").and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(Some((tensors, steps)))
    }

    /// The weight average's file (`schedule.average`).
    pub fn average_weights(&self) -> PathBuf {
        self.path.join("average.safetensors")
    }

    /// Reads a committed checkpoint: last weights, optimizer tensors and metadata, state
    /// (after [`RunDir::recover`]).
    ///
    /// # Errors
    /// Missing or damaged files.
    pub fn load_progress(&self) -> Result<(Tensors, OptimizerState, LoopState), RunDirError> {
        let params = checkpoint::read(&self.path.join("last.safetensors"))?;
        let path = self.path.join("optimizer.safetensors");
        let (tensors, meta) = checkpoint::read_with_metadata(&path)?;
        let step = meta.get("step").and_then(|s| s.parse().ok()).unwrap_or(0);
        let optimizer = OptimizerState { step, tensors };
        Ok((params, optimizer, self.load_state()?))
    }

    /// Reads the loop state alone (epochs done, best epoch, per-epoch metrics).
    ///
    /// # Errors
    /// A missing or damaged `state.json`.
    pub fn load_state(&self) -> Result<LoopState, RunDirError> {
        let path = self.path.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path, "read"))?;
        serde_json::from_str(&text).map_err(|source| RunDirError::Json {
            path,
            action: "parse",
            source,
        })
    }
}
