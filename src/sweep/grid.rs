//! Grid files: one pipeline template with `${axis}` placeholders and the values of each axis;
//! the sweep runs every combination.
//!
//! Text substitution rather than a typed patch keeps a grid able to vary anything a pipeline
//! can say (a number, an enum variant, a whole stage) while every expansion still goes
//! through the same parser and validation as a hand-written pipeline file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::SweepError;
use crate::errors::chain;
use crate::pipeline::validate::{parse, parse_ron, plan, LoadError, Plan};

/// A grid file as written in RON: `Grid(axes: [...], pipeline: r#"Pipeline(...)"#)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename = "Grid")]
pub struct GridFile {
    /// The axes, outermost first: the first axis changes slowest.
    pub axes: Vec<Axis>,
    /// The pipeline text, with `${name}` where an axis' value goes.
    pub pipeline: String,
}

/// One axis of a grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// The placeholder name (`ratio` for `${ratio}`), also the column in the results table.
    pub name: String,
    /// The RON text substituted for the placeholder, one run per value.
    pub values: Vec<String>,
}

/// The most runs one grid may expand to; more is almost certainly a mistake.
pub const MAX_RUNS: usize = 1000;

/// One pipeline of a sweep, validated and ready to run.
#[derive(Debug, Clone)]
pub struct Experiment {
    /// A short, file-name-safe name, unique within the sweep (`exp1.1-adam`, `ratio-0.25`).
    pub id: String,
    /// The file it came from.
    pub source: PathBuf,
    /// The grid values that made it (`[]` for a plain pipeline file).
    pub values: Vec<(String, String)>,
    /// The validated pipeline.
    pub plan: Plan,
}

/// Whether RON text is a grid file rather than a pipeline: its first token is `Grid`.
pub fn is_grid(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with("//"))
        .is_some_and(|l| l.starts_with("Grid"))
}

/// Expands a grid file's text into validated experiments, reporting every problem of every
/// combination at once.
///
/// # Errors
/// [`SweepError::Load`] for a malformed grid, [`SweepError::Grid`] listing every problem.
pub fn expand(text: &str, path: &Path) -> Result<Vec<Experiment>, SweepError> {
    let grid: GridFile = parse_ron(text, path)?;
    let mut problems = axis_problems(&grid);
    if !problems.is_empty() {
        return Err(SweepError::Grid {
            path: path.to_path_buf(),
            problems,
        });
    }
    let mut experiments = Vec::new();
    for values in combinations(&grid.axes) {
        let mut text = grid.pipeline.clone();
        for (name, value) in &values {
            text = text.replace(&format!("${{{name}}}"), value);
        }
        let label = values
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let parsed = parse(&text, path).map_err(|e| match e {
            LoadError::Parse {
                line,
                column,
                source,
                ..
            } => format!(
                "[{label}] pipeline line {line}, column {column}: {}",
                chain(&source)
            ),
            other => format!("[{label}] {}", chain(&other)),
        });
        match parsed.map(plan) {
            Ok(Ok(plan)) => experiments.push(Experiment {
                id: id_of(&values),
                source: path.to_path_buf(),
                values,
                plan,
            }),
            Ok(Err(found)) => problems.extend(found.iter().map(|p| format!("[{label}] {p}"))),
            Err(message) => problems.push(message),
        }
    }
    if problems.is_empty() {
        Ok(experiments)
    } else {
        Err(SweepError::Grid {
            path: path.to_path_buf(),
            problems,
        })
    }
}

fn axis_problems(grid: &GridFile) -> Vec<String> {
    let mut problems = Vec::new();
    if grid.axes.is_empty() {
        problems.push("axes: needs at least one axis".to_string());
    }
    let mut runs: usize = 1;
    for (i, axis) in grid.axes.iter().enumerate() {
        let ok_name = !axis.name.is_empty()
            && axis
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_name {
            problems.push(format!(
                "axes[{i}].name: `{}` must be letters, digits and `_`",
                axis.name
            ));
        }
        if grid.axes[..i].iter().any(|a| a.name == axis.name) {
            problems.push(format!("axes[{i}].name: `{}` appears twice", axis.name));
        }
        if axis.values.is_empty() {
            problems.push(format!("axes[{i}].values: needs at least one value"));
        }
        if !grid.pipeline.contains(&format!("${{{}}}", axis.name)) {
            problems.push(format!(
                "axes[{i}]: the pipeline never uses `${{{}}}`",
                axis.name
            ));
        }
        runs = runs.saturating_mul(axis.values.len());
    }
    if runs > MAX_RUNS {
        problems.push(format!(
            "axes: {runs} combinations, more than the {MAX_RUNS} a sweep allows"
        ));
    }
    let mut rest = grid.pipeline.as_str();
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            problems.push("pipeline: `${` without a closing `}`".to_string());
            break;
        };
        let name = &after[..end];
        if !grid.axes.iter().any(|a| a.name == name) {
            problems.push(format!("pipeline: `${{{name}}}` is not an axis"));
        }
        rest = &after[end..];
    }
    problems
}

/// Every combination of axis values, the first axis changing slowest.
fn combinations(axes: &[Axis]) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((axis.name.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    out
}

/// A file-name-safe id from the values: `ratio-0.25_lr-1e-4`.
fn id_of(values: &[(String, String)]) -> String {
    values
        .iter()
        .map(|(n, v)| format!("{n}-{}", safe(v)))
        .collect::<Vec<_>>()
        .join("_")
}

/// Keeps letters, digits, `.`, `-` and `+`; anything else becomes `-`, runs of it collapse.
pub fn safe(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out = out.trim_matches('-').to_string();
    if out.is_empty() {
        "x".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r##"Grid(
    axes: [
        (name: "ratio", values: ["0.25", "0.5"]),
        (name: "opt", values: ["Adam(lr: 1e-4)", "Sgd(lr: 1e-2)", "RmsProp(lr: 1e-4)"]),
    ],
    pipeline: r#"Pipeline(
        stages: [
            Decode(()),
            PairBatch((sampler: Balanced(same_ratio: ${ratio}, pairs_per_epoch: 64))),
            Train(()),
        ],
        optimizer: ${opt},
    )"#,
)"##;

    #[test]
    fn a_grid_expands_to_every_combination_first_axis_slowest() {
        assert!(is_grid(&format!("// a comment\n\n{TEMPLATE}")));
        let runs = expand(TEMPLATE, Path::new("g.ron")).unwrap();
        assert_eq!(runs.len(), 6);
        let ids: Vec<&str> = runs.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids[0], "ratio-0.25_opt-Adam-lr-1e-4");
        assert_eq!(ids[3], "ratio-0.5_opt-Adam-lr-1e-4");
        assert_eq!(runs[4].values[1].1, "Sgd(lr: 1e-2)");
        let sampler = &runs[5].plan.pair_batch.as_ref().unwrap().sampler;
        assert!(
            matches!(sampler, crate::stages::Sampler::Balanced { same_ratio, .. } if *same_ratio == 0.5)
        );
    }

    #[test]
    fn every_problem_of_every_combination_is_listed() {
        let bad = TEMPLATE
            .replace("\"0.5\"", "\"1.5\"")
            .replace("\"Sgd(lr: 1e-2)\"", "\"Sgd(lr: -1.0)\"");
        let err = expand(&bad, Path::new("g.ron")).unwrap_err().to_string();
        assert!(err.contains("g.ron"), "{err}");
        assert!(err.contains("[ratio=1.5, opt=Adam(lr: 1e-4)]"), "{err}");
        assert!(err.contains("[ratio=0.25, opt=Sgd(lr: -1.0)]"), "{err}");
        assert!(err.contains("same_ratio"), "{err}");
        // 3 combinations with ratio 1.5, 2 with the bad learning rate (one counted twice).
        assert!(err.matches('[').count() >= 5, "{err}");
    }

    #[test]
    fn unknown_and_unused_placeholders_are_problems() {
        let bad = TEMPLATE
            .replace("same_ratio: ${ratio}", "same_ratio: ${ration}")
            .replace(
                "(name: \"opt\", values:",
                "(name: \"opt\", values: [], old:",
            );
        // The second edit breaks the RON schema; check the first alone.
        let err = expand(
            &TEMPLATE.replace("same_ratio: ${ratio}", "same_ratio: ${ration}"),
            Path::new("g.ron"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`${ration}` is not an axis"), "{err}");
        assert!(err.contains("never uses `${ratio}`"), "{err}");
        let err = expand(&bad, Path::new("g.ron")).unwrap_err().to_string();
        assert!(err.contains("g.ron:"), "{err}");
    }

    #[test]
    fn ids_are_file_name_safe() {
        assert_eq!(safe(" Adam(lr: 1e-4) "), "Adam-lr-1e-4");
        assert_eq!(safe("(x)"), "x");
        assert_eq!(safe("///"), "x");
    }
}
