//! What a resume may change in a run's `pipeline.ron`.
//!
//! A run records the pipeline it trained with (`pipeline.trained.ron`). On `--resume`, the
//! run's `pipeline.ron` may differ from it only where an edit extends or steers the run:
//! `schedule.epochs`, `schedule.patience`, `schedule.monitor` and `device`. Any other edit
//! would silently train a different experiment under the old one's name, so it is refused,
//! naming each changed field, unless `--allow-changes` is given. Accepted edits are logged
//! in `changes.log` and become the new record.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::config::Pipeline;
use super::validate::{parse_ron, LoadError};

use crate::train::rundir::{RunDir, RunDirError, TRAINED_PIPELINE as RECORD};

/// The fields a resume may change without `--allow-changes`, as paths into the pipeline.
const STEERING: [&[&str]; 4] = [
    &["schedule", "epochs"],
    &["schedule", "patience"],
    &["schedule", "monitor"],
    &["device"],
];

/// A resumed run's pipeline was changed beyond steering.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Fields other than the steering ones differ from the record.
    #[error(
        "{} was edited since the run trained: {}; a resume may change only schedule.epochs, \
         schedule.patience, schedule.monitor and device (pass --allow-changes to resume anyway)",
        file.display(),
        changes.join(", ")
    )]
    Refused {
        /// The run's `pipeline.ron`.
        file: PathBuf,
        /// Each change, `path: old -> new`.
        changes: Vec<String>,
    },
    /// The record or the log could not be written.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The record or the pipeline could not be read.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The record is not a pipeline.
    #[error("the run's record of its pipeline is unusable")]
    Record {
        /// The parser's error, naming the file, line and column.
        #[source]
        source: Box<LoadError>,
    },
}

/// Checks `current` (the run's `pipeline.ron`, as loaded) against the run's record, then
/// records it and logs what changed. Runs made before records existed pass unchecked.
///
/// # Errors
/// [`EditError::Refused`] for edits beyond steering without `allow`; I/O failures.
pub fn check_resume(dir: &RunDir, current: &Pipeline, allow: bool) -> Result<(), EditError> {
    let run = dir.path();
    let record = run.join(RECORD);
    let io = |path: &Path, action| {
        let path = path.to_path_buf();
        move |source| EditError::Io {
            path,
            action,
            source,
        }
    };
    let text = match std::fs::read_to_string(&record) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&record, "read")(e)),
    };
    let before: Pipeline = parse_ron(&text, &record).map_err(|source| EditError::Record {
        source: Box::new(source),
    })?;
    let mut changes = Vec::new();
    diff(
        &json(&before),
        &json(current),
        &mut Vec::new(),
        &mut changes,
    );
    if changes.is_empty() {
        return Ok(());
    }
    let beyond: Vec<String> = changes
        .iter()
        .filter(|(path, _)| !STEERING.iter().any(|s| path.iter().eq(s.iter())))
        .map(|(_, change)| change.clone())
        .collect();
    if !beyond.is_empty() && !allow {
        return Err(EditError::Refused {
            file: run.join("pipeline.ron"),
            changes: beyond,
        });
    }
    let now = std::fs::read_to_string(run.join("pipeline.ron"))
        .map_err(io(&run.join("pipeline.ron"), "read"))?;
    dir.write(RECORD, &now)?;
    for (_, change) in &changes {
        dir.append("changes.log", &format!("on resume: {change}"))?;
    }
    Ok(())
}

/// A pipeline as a JSON tree, for a field-by-field comparison.
fn json(p: &Pipeline) -> Value {
    serde_json::to_value(p).unwrap_or(Value::Null)
}

/// Collects `(path, "path: old -> new")` for every leaf where `a` and `b` differ.
fn diff(a: &Value, b: &Value, at: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                at.push(k.clone());
                let null = Value::Null;
                diff(
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    at,
                    out,
                );
                at.pop();
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                at.push(i.to_string());
                diff(u, v, at, out);
                at.pop();
            }
        }
        _ if a != b => out.push((at.clone(), format!("{}: {a} -> {b}", at.join(".")))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_each_changed_leaf_by_its_path() {
        let a = serde_json::json!({"schedule": {"epochs": 3, "patience": null}, "model": {"conv": [{"filters": 4}]}});
        let b = serde_json::json!({"schedule": {"epochs": 5, "patience": null}, "model": {"conv": [{"filters": 8}]}});
        let mut out = Vec::new();
        diff(&a, &b, &mut Vec::new(), &mut out);
        let texts: Vec<_> = out.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            texts,
            ["model.conv.0.filters: 4 -> 8", "schedule.epochs: 3 -> 5"]
        );
        assert!(STEERING.iter().any(|s| out[1].0.iter().eq(s.iter())));
    }
}
