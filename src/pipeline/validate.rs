//! Loading a RON pipeline and validating it into a [`Plan`], reporting every problem at once.
//!
//! Parsing stops at the first syntax or type error (with its line and column); everything
//! that parses is then checked as a whole, and each problem names its RON path, e.g.
//! ``stages[1].width: must be in 1..=4096, got 0``.

use std::path::{Path, PathBuf};

use super::config::Pipeline;
use super::stages::StageConfig;
pub use crate::problem::Problem;
use crate::stages::{
    AugmentConfig, DecodeConfig, Filter, PairBatchConfig, ResizeConfig, Scale, SinkConfig,
};
use crate::train::TrainConfig;

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

/// A validated pipeline, with its stages sorted into their roles.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The pipeline as written (after defaults).
    pub pipeline: Pipeline,
    /// The decoder.
    pub decode: DecodeConfig,
    /// The resizer, if any.
    pub resize: Option<ResizeConfig>,
    /// The pair batcher, if any.
    pub pair_batch: Option<PairBatchConfig>,
    /// The augmenter, if any (only with a pair batcher).
    pub augment: Option<AugmentConfig>,
    /// The last stage.
    pub end: End,
}

/// The stage a pipeline ends in.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    /// Count or save what arrives.
    Sink(SinkConfig),
    /// Train the network.
    Train(TrainConfig),
}

/// The side of LFW-a images, assumed when no `Resize` stage says otherwise.
pub const LFW_SIDE: u32 = 250;

impl Plan {
    /// The size images have after the image stages: the resize size, or LFW's 250x250 as
    /// decoded (125x125 at half scale).
    pub fn image_size(&self) -> (u32, u32) {
        let side = self.decode.scale.apply(LFW_SIDE);
        self.resize
            .as_ref()
            .map_or((side, side), |r| (r.width, r.height))
    }
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
    let (mut decode, mut resize, mut pair_batch, mut sink) = (None, None, None, None);
    let mut augment = None;
    let mut pair_batch_at = 0;
    let last = pipeline.stages.len().saturating_sub(1);
    if pipeline.stages.is_empty() {
        problems.push(Problem::new(
            "stages",
            "needs at least a Decode and a Sink stage",
        ));
    }
    for (i, stage) in pipeline.stages.iter().enumerate() {
        let path = format!("stages[{i}]");
        stage.problems(&path, &mut problems);
        let mut order = |ok: bool, rule: &str| {
            if !ok {
                problems.push(Problem::new(
                    path.clone(),
                    format!("{} {rule}", stage.kind()),
                ));
            }
        };
        match stage {
            StageConfig::Decode(c) => {
                order(i == 0, "must be the first stage");
                decode = decode.or(Some(c.clone()));
            }
            StageConfig::Resize(c) => {
                order(resize.is_none(), "may appear once");
                order(
                    decode.is_some() && pair_batch.is_none(),
                    "must come after Decode and before PairBatch",
                );
                resize = resize.or(Some(c.clone()));
            }
            StageConfig::PairBatch(c) => {
                order(pair_batch.is_none(), "may appear once");
                order(decode.is_some(), "must come after the image stages");
                if pair_batch.is_none() {
                    pair_batch_at = i;
                }
                pair_batch = pair_batch.or(Some(c.clone()));
            }
            StageConfig::Augment(c) => {
                order(augment.is_none(), "may appear once");
                order(pair_batch.is_some(), "must come after PairBatch");
                augment = augment.or(Some(c.clone()));
            }
            StageConfig::Sink(c) => {
                order(i == last, "must be the last stage");
                sink = sink.or(Some(End::Sink(c.clone())));
            }
            StageConfig::Train(c) => {
                order(i == last, "must be the last stage");
                order(pair_batch.is_some(), "needs a PairBatch stage before it");
                sink = sink.or(Some(End::Train(c.clone())));
            }
        }
    }
    if !pipeline.stages.is_empty() && decode.is_none() {
        problems.push(Problem::new("stages[0]", "the first stage must be Decode"));
    }
    if !pipeline.stages.is_empty() && sink.is_none() {
        problems.push(Problem::new(
            format!("stages[{last}]"),
            "the last stage must be a Sink",
        ));
    }
    let mines = pair_batch
        .as_ref()
        .is_some_and(|c| c.sampler.needs_training());
    if mines && !matches!(sink, Some(End::Train(_))) {
        problems.push(Problem::new(
            format!("stages[{pair_batch_at}].sampler"),
            "HardNegative mines with the model being trained: the pipeline must end in Train",
        ));
    }
    for p in pipeline.data.validation.validate() {
        problems.push(Problem::new("data.validation", p));
    }
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
    match (problems.is_empty(), decode, sink) {
        (true, Some(decode), Some(end)) => Ok(Plan {
            pipeline,
            decode,
            resize,
            pair_batch,
            augment,
            end,
        }),
        _ => Err(problems),
    }
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
    let at = |kind: &str| {
        let i = pipeline
            .stages
            .iter()
            .position(|s| s.kind() == kind)
            .unwrap_or_default();
        format!("stages[{i}]")
    };
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
