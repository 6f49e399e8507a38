//! What a finished run keeps on disk. A run folder holds, besides its small files, the best,
//! last and averaged weights and the optimizer's moments (Adam's two per weight): the last
//! three only serve `--resume`, to extend the run. `--keep best` drops them once the run has
//! finished, for sweeps of many runs that will only be compared and evaluated.

use super::rundir::{io, RunDir, RunDirError};

/// The marker a run kept as best only leaves: its presence refuses a resume, by name.
pub const KEPT_BEST: &str = "kept-best.txt";

/// The files only a resume reads.
const RESUME_ONLY: [&str; 3] = [
    "last.safetensors",
    "optimizer.safetensors",
    "average.safetensors",
];

impl RunDir {
    /// Removes what only a resume needs (last weights, optimizer state, weight average),
    /// keeping the best weights, metrics, plots and summary: `eval`, `verify`, `oneshot` and
    /// `embed` still work, `--resume` no longer does. Returns the bytes freed.
    ///
    /// The marker is written first, so a kill midway leaves a run that refuses a resume
    /// rather than one that resumes from half its files.
    ///
    /// # Errors
    /// I/O failures, naming the file.
    pub fn keep_best(&self) -> Result<u64, RunDirError> {
        let marker = self.path().join(KEPT_BEST);
        std::fs::write(
            &marker,
            "This run was finished with `--keep best`: its last weights and optimizer state \
             were removed, so it cannot be resumed. Its best weights still evaluate.\n",
        )
        .map_err(io(&marker, "write"))?;
        let mut freed = 0;
        for name in RESUME_ONLY {
            let path = self.path().join(name);
            if let Ok(meta) = std::fs::metadata(&path) {
                std::fs::remove_file(&path).map_err(io(&path, "remove"))?;
                freed += meta.len();
            }
        }
        Ok(freed)
    }

    /// Fails when the run was kept as best only (`--keep best`): it has nothing to resume
    /// from.
    ///
    /// # Errors
    /// [`RunDirError::KeptBestOnly`].
    pub fn check_resumable(&self) -> Result<(), RunDirError> {
        if self.path().join(KEPT_BEST).exists() {
            return Err(RunDirError::KeptBestOnly {
                path: self.path().to_path_buf(),
            });
        }
        Ok(())
    }

    /// The bytes of every file in the folder.
    pub fn disk_usage(&self) -> u64 {
        std::fs::read_dir(self.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeping_the_best_frees_the_resume_files_and_refuses_a_resume() {
        let dir = tempfile::tempdir().expect("dir");
        let run = RunDir::create(dir.path(), "r").expect("run");
        for (name, size) in [
            ("best.safetensors", 10),
            ("last.safetensors", 20),
            ("optimizer.safetensors", 40),
            ("summary.json", 3),
        ] {
            std::fs::write(run.path().join(name), vec![0u8; size]).expect("write");
        }
        assert!(run.check_resumable().is_ok());
        assert_eq!(run.keep_best().expect("kept"), 60);
        assert!(run.path().join("best.safetensors").exists());
        assert!(!run.path().join("optimizer.safetensors").exists());
        let err = run.check_resumable().expect_err("kept best only");
        assert!(err.to_string().contains("--keep best"), "{err}");
        assert!(run.path().join(KEPT_BEST).exists());
    }
}
