//! `Sink`: the end of a pipeline that does not train: counts what arrives, or saves it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Build, BuildContext, BuildError};
use crate::engine::{Flow, ImageItem, PairBatch, Phase, Sink, StageContext, StageError};
use crate::problem::Problem;

/// Settings of the `Sink` stage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SinkConfig {
    /// Count images, batches and pairs, and the same/different ratio per batch.
    #[default]
    Count,
    /// Save every image that arrives as `<dir>/<Name>_NNNN.png`.
    SaveImages {
        /// Output folder, created if missing.
        dir: PathBuf,
    },
}

impl SinkConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        if let SinkConfig::SaveImages { dir } = self {
            if dir.as_os_str().is_empty() {
                out.push(Problem::new(format!("{path}.dir"), "must not be empty"));
            }
        }
    }
}

impl Build<&BuildContext<'_>> for SinkConfig {
    type Runtime = OutputSink;

    fn build(&self, _ctx: &BuildContext<'_>) -> Result<OutputSink, BuildError> {
        Ok(OutputSink {
            config: self.clone(),
            counts: Counts::default(),
        })
    }
}

/// What reached a sink.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Images received.
    pub images: u64,
    /// Train batches received.
    pub train_batches: u64,
    /// Validation batches received.
    pub validation_batches: u64,
    /// Pairs over all batches.
    pub pairs: u64,
    /// Same pairs over all batches.
    pub same_pairs: u64,
    /// Lowest same-pair fraction of any train batch.
    pub min_same_ratio: Option<f64>,
    /// Highest same-pair fraction of any train batch.
    pub max_same_ratio: Option<f64>,
}

/// The runtime sink.
#[derive(Debug)]
pub struct OutputSink {
    config: SinkConfig,
    /// What arrived so far.
    pub counts: Counts,
}

impl Sink<ImageItem> for OutputSink {
    fn consume(&mut self, img: ImageItem, _ctx: &StageContext) -> Result<Flow, StageError> {
        self.counts.images += 1;
        if let SinkConfig::SaveImages { dir } = &self.config {
            let path = dir.join(format!("{}.png", img.key));
            let write = |e: Box<dyn std::error::Error + Send + Sync>| StageError::Write {
                path: path.clone(),
                source: e,
            };
            std::fs::create_dir_all(dir).map_err(|e| write(e.into()))?;
            let buf = image::GrayImage::from_raw(img.width, img.height, img.pixels);
            buf.ok_or_else(|| write("pixel count does not match the size".into()))?
                .save(&path)
                .map_err(|e| write(e.into()))?;
        }
        Ok(Flow::Continue)
    }
}

impl Sink<PairBatch> for OutputSink {
    fn consume(&mut self, b: PairBatch, _ctx: &StageContext) -> Result<Flow, StageError> {
        let c = &mut self.counts;
        let same = b.same_count() as u64;
        c.pairs += b.len() as u64;
        c.same_pairs += same;
        if b.phase == Phase::Train {
            c.train_batches += 1;
            let ratio = same as f64 / b.len().max(1) as f64;
            c.min_same_ratio = Some(c.min_same_ratio.map_or(ratio, |m| m.min(ratio)));
            c.max_same_ratio = Some(c.max_same_ratio.map_or(ratio, |m| m.max(ratio)));
        } else {
            c.validation_batches += 1;
        }
        Ok(Flow::Continue)
    }
}
