//! An epoch's checkpoint as one atomic step, and its recovery after a crash.
//!
//! A checkpoint is several files (best, average and last weights, optimizer state, loop
//! state, metrics). Written one after another in place, a kill between two paired new
//! weights with an old optimizer and epoch count, and the resumed run trained an epoch
//! twice. Now:
//!
//! 1. every weight file is written beside its name as `NAME.next.safetensors`, tagged with
//!    the epochs it holds (`epochs_done` in its metadata), and synced to disk;
//! 2. `state.json` is replaced atomically (temp file, sync, rename): **the commit point**;
//! 3. each `.next` file is renamed onto its name, `metrics.csv` is rewritten and the
//!    TensorBoard event file brought up to the history (`super::tensorboard`).
//!
//! [`RunDir::recover`], before a resume reads anything, finishes step 3 for `.next` files
//! of the committed epoch (roll forward), deletes those of an epoch never committed (roll
//! back) and stray temp files, then refuses a set whose tags disagree with `state.json`.
//!
//! `TWINFLOW_FAULT=EPOCHS:POINT` aborts the process at point `POINT` (1, 2, ...) of the
//! commit of the checkpoint holding `EPOCHS` epochs: the integration tests kill a run at
//! every point of the sequence and check that it resumes exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::checkpoint::{self, Tensors};
use super::rundir::{io, RunDir, RunDirError};
use super::state::LoopState;
use crate::model::backend::OptimizerState;

/// The metadata key of the epochs a weight file holds.
const EPOCHS_KEY: &str = "epochs_done";
/// The environment variable of the fault-injection point.
pub const FAULT_VAR: &str = "TWINFLOW_FAULT";

/// One epoch's checkpoint, committed by [`RunDir::commit`].
pub struct Checkpoint<'a> {
    /// The best weights, when this epoch improved on the best.
    pub best: Option<&'a Tensors>,
    /// The weight average and its step count, when the schedule keeps one.
    pub average: Option<(&'a Tensors, u64)>,
    /// The last weights.
    pub last: &'a Tensors,
    /// The optimizer's state.
    pub optimizer: &'a OptimizerState,
    /// The loop state after this epoch.
    pub state: &'a LoopState,
}

/// One weight file to stage: its stem, its tensors (`None`: not written this epoch) and a
/// metadata entry beside the epoch tag.
type Staged<'a> = (
    &'static str,
    Option<&'a Tensors>,
    Option<(&'static str, String)>,
);

/// The weight files of a checkpoint, by name stem.
const WEIGHT_FILES: [&str; 4] = ["best", "average", "last", "optimizer"];

/// Where the `.next` copy of weight file `stem` goes.
fn next_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.next.safetensors"))
}

/// The weight file `stem`.
fn final_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.safetensors"))
}

/// Counts the points of one commit and aborts at the one `TWINFLOW_FAULT` names.
struct Faults {
    target: Option<usize>,
    point: usize,
}

impl Faults {
    fn new(epochs: usize) -> Self {
        let target = std::env::var(FAULT_VAR).ok().and_then(|v| {
            let (e, p) = v.split_once(':')?;
            (e.trim().parse::<usize>().ok()? == epochs).then(|| p.trim().parse().ok())?
        });
        Self { target, point: 0 }
    }

    /// Passes one point of the sequence.
    fn pass(&mut self) {
        self.point += 1;
        if self.target == Some(self.point) {
            eprintln!(
                "{FAULT_VAR}: aborting at point {} of a checkpoint",
                self.point
            );
            std::process::abort();
        }
    }
}

/// Syncs a folder, so that renames in it survive a crash.
fn sync_dir(dir: &Path) -> Result<(), RunDirError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir, "sync"))
}

impl RunDir {
    /// Writes `ck` as one atomic step (see the module's note).
    ///
    /// # Errors
    /// I/O and serialisation failures; the last committed checkpoint stays usable.
    pub fn commit(&self, ck: &Checkpoint<'_>) -> Result<(), RunDirError> {
        let dir = self.path();
        let epochs = ck.state.epochs_done;
        let mut faults = Faults::new(epochs);
        let tag = |extra: Option<(&str, String)>| {
            let mut meta = HashMap::from([(EPOCHS_KEY.to_string(), epochs.to_string())]);
            meta.extend(extra.map(|(k, v)| (k.to_string(), v)));
            meta
        };
        let files: [Staged<'_>; 4] = [
            ("best", ck.best, None),
            (
                "average",
                ck.average.map(|a| a.0),
                ck.average.map(|a| ("steps", a.1.to_string())),
            ),
            ("last", Some(ck.last), None),
            (
                "optimizer",
                Some(&ck.optimizer.tensors),
                Some(("step", ck.optimizer.step.to_string())),
            ),
        ];
        let mut staged = Vec::new();
        for (stem, tensors, extra) in files {
            if let Some(tensors) = tensors {
                checkpoint::write(&next_path(dir, stem), tensors, Some(tag(extra)))?;
                staged.push(stem);
                faults.pass();
            }
        }
        sync_dir(dir)?;
        self.write_state(ck.state)?;
        faults.pass();
        for stem in staged {
            let (next, to) = (next_path(dir, stem), final_path(dir, stem));
            std::fs::rename(&next, &to).map_err(io(&to, "rename onto"))?;
            faults.pass();
        }
        sync_dir(dir)?;
        self.write_metrics(ck.state)?;
        faults.pass();
        Ok(())
    }

    /// Replaces `state.json` atomically: the commit point of a checkpoint.
    fn write_state(&self, state: &LoopState) -> Result<(), RunDirError> {
        let path = self.path().join("state.json");
        let json = serde_json::to_string_pretty(state).map_err(|source| RunDirError::Json {
            path: path.clone(),
            action: "serialise",
            source,
        })?;
        let tmp = path.with_extension("json.tmp");
        checkpoint::write_synced(&tmp, json.as_bytes()).map_err(io(&tmp, "write"))?;
        std::fs::rename(&tmp, &path).map_err(io(&path, "rename onto"))?;
        sync_dir(self.path())
    }

    /// Brings the folder to its last committed checkpoint after a crash (see the module's
    /// note), and checks that its weight files belong to it. Returns false when no epoch
    /// was ever committed (no `state.json`): the staged files are then removed.
    ///
    /// # Errors
    /// I/O failures, an unreadable `state.json`, or [`RunDirError::Inconsistent`].
    pub fn recover(&self) -> Result<bool, RunDirError> {
        let dir = self.path();
        self.remove_temp_files()?;
        if !dir.join("state.json").exists() {
            for stem in WEIGHT_FILES {
                let next = next_path(dir, stem);
                if next.exists() {
                    std::fs::remove_file(&next).map_err(io(&next, "remove"))?;
                }
            }
            return Ok(false);
        }
        let state = self.load_state()?;
        for stem in WEIGHT_FILES {
            let next = next_path(dir, stem);
            if !next.exists() {
                continue;
            }
            // Only the tag is needed: the header alone, not the tensors.
            let committed = checkpoint::read_metadata(&next)
                .ok()
                .and_then(|meta| epochs_of(&meta))
                == Some(state.epochs_done);
            if committed {
                let to = final_path(dir, stem);
                std::fs::rename(&next, &to).map_err(io(&to, "rename onto"))?;
            } else {
                std::fs::remove_file(&next).map_err(io(&next, "remove"))?;
            }
        }
        sync_dir(dir)?;
        for (stem, want) in [
            ("last", Some(state.epochs_done)),
            ("optimizer", Some(state.epochs_done)),
            // The best epoch's number is the count of epochs its weights had seen.
            ("best", state.best.map(|(_, epoch)| epoch)),
        ] {
            let path = final_path(dir, stem);
            if !path.exists() {
                continue;
            }
            // The tag alone: the tensors are read (and checked) once, when loaded.
            let meta = checkpoint::read_metadata(&path)?;
            // Files from before this format carry no tag and are taken as they are.
            if let (Some(found), Some(want)) = (epochs_of(&meta), want) {
                if found != want {
                    return Err(RunDirError::Inconsistent {
                        path,
                        found,
                        state: want,
                    });
                }
            }
        }
        self.write_metrics(&state)?;
        Ok(true)
    }

    /// Removes temp files a crash left behind (`*.tmp`).
    fn remove_temp_files(&self) -> Result<(), RunDirError> {
        let dir = self.path();
        for entry in std::fs::read_dir(dir).map_err(io(dir, "list"))? {
            let path = entry.map_err(io(dir, "list"))?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                std::fs::remove_file(&path).map_err(io(&path, "remove"))?;
            }
        }
        Ok(())
    }
}

/// The epochs a weight file's metadata says it holds.
fn epochs_of(meta: &HashMap<String, String>) -> Option<usize> {
    meta.get(EPOCHS_KEY).and_then(|v| v.parse().ok())
}
