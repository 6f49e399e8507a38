//! Loading a RON pipeline and validating it into a [`Plan`], reporting every problem at once.
//!
//! Parsing stops at the first syntax or type error (with its line and column); everything
//! that parses is then checked as a whole, and each problem names its RON path, e.g.
//! ``stages[1].width: must be in 1..=4096, got 0``.

use std::path::{Path, PathBuf};

use super::config::Pipeline;
pub use super::plan::{End, Plan, LFW_SIDE};
use super::stages::{Role, StageConfig};
pub use crate::problem::Problem;
use crate::stages::{DecodeConfig, Filter, PairBatchConfig, ResizeConfig, Scale};

/// Why a pipeline file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid RON for the schema.
    #[error("cannot parse {}:{line}:{column}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's error.
        #[source]
        source: ron::Error,
    },
    /// The file parses but its settings do not make a pipeline.
    #[error("{}: {} problem(s):\n  {}", path.display(), problems.len(), join(problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Reads, parses and validates a pipeline file.
///
/// # Errors
/// A [`LoadError`] naming the file, and the line or every problem.
pub fn load(path: &Path) -> Result<Plan, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.into(),
        source,
    })?;
    let pipeline = parse(&text, path)?;
    plan(pipeline).map_err(|problems| LoadError::Invalid {
        path: path.into(),
        problems,
    })
}

/// Parses RON text; `path` only names the source in errors.
///
/// # Errors
/// [`LoadError::Parse`] with the line and column.
pub fn parse(text: &str, path: &Path) -> Result<Pipeline, LoadError> {
    parse_ron(text, path)
}

/// Parses RON text as any of the crate's file schemas (pipelines, sweep grids), with
/// implicit `Some` so optional fields read naturally; `path` only names the source in errors.
///
/// # Errors
/// [`LoadError::Parse`] with the line and column.
pub fn parse_ron<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, LoadError> {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| LoadError::Parse {
            path: path.into(),
            line: e.position.line,
            column: e.position.col,
            source: e.code,
        })
}

/// Checks a parsed pipeline as a whole and sorts its stages.
///
/// # Errors
/// Every problem found.
pub fn plan(pipeline: Pipeline) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();
    if pipeline.stages.is_empty() {
        problems.push(Problem::new(
            "stages",
            "needs at least a Decode and a Sink stage",
        ));
    }
    let sorted = sort_stages(&pipeline.stages, &mut problems);
    let mut warnings = Vec::new();
    for (i, stage) in pipeline.stages.iter().enumerate() {
        stage.deprecations(&format!("stages[{i}]"), &mut warnings);
    }
    let last = pipeline.stages.len().saturating_sub(1);
    if !pipeline.stages.is_empty() && sorted.decode.is_none() {
        problems.push(Problem::new("stages[0]", "the first stage must be Decode"));
    }
    if !pipeline.stages.is_empty() && sorted.end.is_none() {
        problems.push(Problem::new(
            format!("stages[{last}]"),
            "the last stage must be a Sink",
        ));
    }
    let mines = sorted
        .pair_batch
        .as_ref()
        .is_some_and(|(_, c)| c.sampler.needs_training());
    if mines && !matches!(sorted.end, Some(End::Train(_))) {
        let at = sorted.pair_batch.as_ref().map_or(0, |(i, _)| *i);
        problems.push(Problem::new(
            format!("stages[{at}].sampler"),
            "HardNegative mines with the model being trained: the pipeline must end in Train",
        ));
    }
    for p in pipeline.data.validation.validate() {
        problems.push(Problem::new("data.validation", p));
    }
    if let Some(synth) = &pipeline.data.synth {
        for p in synth.validate() {
            problems.push(Problem::new("data.synth", p));
        }
    }
    let Sorted {
        decode,
        resize,
        pair_batch,
        batch,
        end,
    } = sorted;
    if let (Some(d), Some(r)) = (&decode, &resize) {
        scale_problems(&pipeline, d, r, &mut problems);
    }
    let decoded = decode
        .as_ref()
        .map_or(LFW_SIDE, |d| d.scale.apply(LFW_SIDE));
    let side = resize.as_ref().map_or(decoded, |r| r.width.min(r.height));
    let p = &pipeline;
    p.model.problems(side as usize, &mut problems);
    p.loss.problems(&mut problems);
    p.optimizer.problems(&mut problems);
    p.schedule.problems(&mut problems);
    let plan = match (problems.is_empty(), decode, end) {
        (true, Some(decode), Some(end)) => Plan {
            pipeline,
            decode,
            resize,
            pair_batch: pair_batch.map(|(_, c)| c),
            batch,
            warnings,
            end,
        },
        _ => return Err(problems),
    };
    // Last, once every setting is sane: whether the whole fits this machine.
    let machine = super::budget::Machine::current(plan.pipeline.device);
    super::budget::problems(&plan, machine, &mut problems);
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// The stages sorted into their roles (the first of each where only one may stand).
#[derive(Default)]
struct Sorted {
    decode: Option<DecodeConfig>,
    resize: Option<ResizeConfig>,
    pair_batch: Option<(usize, PairBatchConfig)>,
    batch: Vec<StageConfig>,
    end: Option<End>,
}

/// Sorts the stages by role, appending every problem of their settings and their order.
fn sort_stages(stages: &[StageConfig], problems: &mut Vec<Problem>) -> Sorted {
    let mut sorted = Sorted::default();
    let mut seen: Vec<&str> = Vec::new();
    let last = stages.len().saturating_sub(1);
    for (i, stage) in stages.iter().enumerate() {
        let path = format!("stages[{i}]");
        stage.problems(&path, problems);
        let mut order = |ok: bool, rule: &str| {
            if !ok {
                problems.push(Problem::new(
                    path.clone(),
                    format!("{} {rule}", stage.kind()),
                ));
            }
        };
        let once = !seen.contains(&stage.kind());
        seen.push(stage.kind());
        let (decoded, sampled) = (sorted.decode.is_some(), sorted.pair_batch.is_some());
        match stage.role() {
            Role::Decode => order(i == 0, "must be the first stage"),
            Role::Image => {
                order(once, "may appear once");
                let between = decoded && !sampled;
                order(between, "must come after Decode and before PairBatch");
            }
            Role::Sampler => {
                order(once, "may appear once");
                order(decoded, "must come after the image stages");
            }
            Role::Batch => {
                order(once, "may appear once");
                order(sampled, "must come after PairBatch");
            }
            Role::End => order(i == last, "must be the last stage"),
        }
        if matches!(stage, StageConfig::Train(_)) {
            order(sampled, "needs a PairBatch stage before it");
        }
        match stage {
            StageConfig::Decode(c) => sorted.decode = sorted.decode.take().or(Some(c.clone())),
            StageConfig::Resize(c) => sorted.resize = sorted.resize.take().or(Some(c.clone())),
            StageConfig::PairBatch(c) => {
                sorted.pair_batch = sorted.pair_batch.take().or(Some((i, c.clone())));
            }
            StageConfig::Sink(c) => sorted.end = sorted.end.take().or(Some(End::Sink(c.clone()))),
            StageConfig::Train(c) => {
                sorted.end = sorted.end.take().or(Some(End::Train(c.clone())));
            }
            batch if once => sorted.batch.push(batch.clone()),
            _ => {}
        }
    }
    sorted
}

/// Decode's `scale: Half` against the Resize after it: resizing up what was just halved, or
/// asking for a filter that would never run, are mistakes worth stopping for.
fn scale_problems(
    pipeline: &Pipeline,
    decode: &DecodeConfig,
    resize: &ResizeConfig,
    out: &mut Vec<Problem>,
) {
    if decode.scale != Scale::Half {
        return;
    }
    let half = Scale::Half.apply(LFW_SIDE);
    let at = |kind: &str| pipeline.stage_path(kind);
    if resize.crop.is_some() {
        out.push(Problem::new(
            format!("{}.crop", at("Resize")),
            "a crop box is in full-size pixels and cannot follow Decode's `scale: Half`: \
             decode at Full",
        ));
    }
    if resize.width > half || resize.height > half {
        out.push(Problem::new(
            format!("{}.scale", at("Decode")),
            format!(
                "Half decodes {LFW_SIDE}x{LFW_SIDE} LFW-a images to {half}x{half}, which {} \
                 would scale up to {}x{}: decode at Full",
                at("Resize"),
                resize.width,
                resize.height
            ),
        ));
    } else if (resize.width, resize.height) == (half, half) && resize.filter != Filter::Bilinear {
        out.push(Problem::new(
            format!("{}.filter", at("Resize")),
            format!(
                "Decode's `scale: Half` already gives {half}x{half} (a 2x2 box, what Bilinear \
                 does), so {:?} would never run: use Bilinear, or decode at Full",
                resize.filter
            ),
        ));
    }
}
