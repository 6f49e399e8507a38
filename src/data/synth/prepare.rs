//! Making a pipeline's synthetic dataset on first use, so a fresh clone runs with nothing
//! downloaded: [`prepare`] generates it where the pipeline's data folder should be, reuses
//! it when it is already there with the same options, and replaces it when its options
//! changed.

use std::fs;
use std::path::{Path, PathBuf};

use super::{generate, remove_previous, SynthOptions, SynthSummary, MARKER};
use crate::data::DataError;

/// What [`prepare`] found or did.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// The folder already held a synthetic dataset made with these options.
    Reused,
    /// The folder holds a dataset that was not generated (no marker): it is used as it is,
    /// e.g. LFW-a passed with `--data` to a pipeline that carries synthetic settings.
    NotSynthetic,
    /// There was no dataset: one was generated.
    Generated(SynthSummary),
    /// The folder held a synthetic dataset made with other options: it was replaced.
    Replaced {
        /// The options the old dataset was made with.
        previous: Box<SynthOptions>,
        /// What was generated instead.
        summary: SynthSummary,
    },
}

/// Makes sure `root` holds the dataset `opts` describe.
///
/// A missing or empty folder gets a new dataset; a missing one is generated beside it and
/// renamed into place, so a run killed mid-way leaves no half dataset that a later run could
/// mistake for a whole one. A folder whose [`MARKER`] records these options is reused, and
/// one whose marker records other options is regenerated in place (the marker proves it was
/// generated, so nothing else is lost; the old marker goes first, so an interrupted
/// regeneration is never taken for a finished one). Any other folder is someone's dataset,
/// LFW-a say, and is used as it is.
///
/// # Errors
/// [`DataError::SynthOptions`] for unusable options, [`DataError::SynthMarker`] for a
/// marker that is not valid RON, [`DataError::ReadDir`] when `root` cannot be listed, and
/// [`DataError::WriteFile`] or [`DataError::EncodeImage`] when writing fails.
pub fn prepare(root: &Path, opts: &SynthOptions) -> Result<Prepared, DataError> {
    let problems = opts.validate();
    if !problems.is_empty() {
        return Err(DataError::SynthOptions { problems });
    }
    let marker = root.join(MARKER);
    if marker.is_file() {
        let previous = read_marker(&marker)?;
        if previous == *opts && root.join("lfw2").is_dir() {
            return Ok(Prepared::Reused);
        }
        remove_previous(root)?;
        fs::remove_file(&marker).map_err(|source| DataError::WriteFile {
            path: marker.clone(),
            source,
        })?;
        let summary = generate(root, opts)?;
        return Ok(Prepared::Replaced {
            previous: Box::new(previous),
            summary,
        });
    }
    if !is_missing_or_empty(root)? {
        return Ok(Prepared::NotSynthetic);
    }
    generate_into(root, opts).map(Prepared::Generated)
}

/// True when `dir` does not exist or holds nothing.
fn is_missing_or_empty(dir: &Path) -> Result<bool, DataError> {
    if !dir.exists() {
        return Ok(true);
    }
    let mut entries = fs::read_dir(dir).map_err(|source| DataError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(entries.next().is_none())
}

/// Reads the options a [`MARKER`] file records.
///
/// # Errors
/// [`DataError::ReadFile`] when it cannot be read, [`DataError::SynthMarker`] when it does
/// not hold [`SynthOptions`].
pub fn read_marker(path: &Path) -> Result<SynthOptions, DataError> {
    let text = fs::read_to_string(path).map_err(|source| DataError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    ron::from_str(&text).map_err(|source| DataError::SynthMarker {
        path: path.to_path_buf(),
        source,
    })
}

/// Generates into `root`: in place when the folder exists, else in a temporary sibling
/// renamed to `root` once whole.
fn generate_into(root: &Path, opts: &SynthOptions) -> Result<SynthSummary, DataError> {
    if root.exists() {
        return generate(root, opts);
    }
    let parent = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::WriteFile { path, source }
    };
    fs::create_dir_all(&parent).map_err(write_err(&parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".synth-")
        .tempdir_in(&parent)
        .map_err(write_err(&parent))?;
    let summary = generate(staging.path(), opts)?;
    let staged = staging.keep();
    fs::rename(&staged, root).map_err(write_err(root))?;
    Ok(moved(summary, &staged, root))
}

/// `summary` with every path under `from` moved under `to`, as after renaming the folder.
fn moved(summary: SynthSummary, from: &Path, to: &Path) -> SynthSummary {
    let rebase = |path: PathBuf| match path.strip_prefix(from) {
        Ok(rest) => to.join(rest),
        Err(_) => path,
    };
    SynthSummary {
        root: to.to_path_buf(),
        images_dir: rebase(summary.images_dir),
        train_pairs: rebase(summary.train_pairs),
        test_pairs: rebase(summary.test_pairs),
        corrupt: summary.corrupt.into_iter().map(rebase).collect(),
        ..summary
    }
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;

    /// The smallest dataset the generator makes, quick to write.
    fn tiny(seed: u64) -> SynthOptions {
        SynthOptions {
            seed,
            identities: 8,
            size: 32,
            ..SynthOptions::default()
        }
    }

    #[test]
    fn a_missing_folder_is_generated_then_reused() {
        let dir = TempDir::new().expect("temp dir");
        let root = dir.path().join("data/demo");
        let Prepared::Generated(summary) = prepare(&root, &tiny(1)).expect("prepare") else {
            panic!("expected a new dataset");
        };
        assert_eq!(summary.root, root);
        assert!(summary.test_pairs.is_file() && summary.images_dir.is_dir());
        assert_eq!(read_marker(&root.join(MARKER)).expect("marker"), tiny(1));
        // Nothing of the staging folder is left beside the dataset.
        let beside: Vec<_> = fs::read_dir(dir.path().join("data"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(beside, ["demo"]);
        assert_eq!(prepare(&root, &tiny(1)).expect("again"), Prepared::Reused);
    }

    #[test]
    fn other_options_regenerate_and_an_empty_folder_is_filled() {
        let dir = TempDir::new().expect("temp dir");
        prepare(dir.path(), &tiny(1)).expect("an empty folder is filled");
        let before = fs::read(dir.path().join("pairsDevTest.txt")).expect("pairs");
        let Prepared::Replaced { previous, .. } = prepare(dir.path(), &tiny(2)).expect("prepare")
        else {
            panic!("expected the dataset to be replaced");
        };
        assert_eq!(*previous, tiny(1));
        assert_ne!(
            fs::read(dir.path().join("pairsDevTest.txt")).expect("pairs"),
            before
        );
        assert_eq!(
            read_marker(&dir.path().join(MARKER)).expect("marker"),
            tiny(2)
        );
    }

    #[test]
    fn another_dataset_is_left_alone_and_bad_input_is_explained() {
        let dir = TempDir::new().expect("temp dir");
        // The seed study's flat layout has no lfw2/, and it is still someone's dataset.
        fs::create_dir(dir.path().join("train")).expect("mkdir");
        assert_eq!(
            prepare(dir.path(), &tiny(1)).expect("prepare"),
            Prepared::NotSynthetic
        );
        assert!(!dir.path().join("lfw2").exists());

        fs::write(dir.path().join(MARKER), "not options").expect("write");
        let err = prepare(dir.path(), &tiny(1)).expect_err("bad marker");
        assert!(matches!(err, DataError::SynthMarker { .. }), "{err}");

        let bad = SynthOptions {
            identities: 2,
            ..tiny(1)
        };
        let err = prepare(&dir.path().join("new"), &bad).expect_err("bad options");
        assert!(err.to_string().contains("identities"), "{err}");
    }
}
