//! A validated pipeline: its stages sorted into their roles, and what it says of the
//! network it trains. [`super::validate`] makes one; the runner, the memory estimate
//! ([`super::budget`]) and the commands read it.

use super::config::Pipeline;
use super::stages::StageConfig;
use crate::engine::{PairBatch, TransformStage};
use crate::model::NetSpec;
use crate::problem::Problem;
use crate::stages::{
    BuildContext, BuildError, DecodeConfig, PairBatchConfig, ResizeConfig, SinkConfig,
};
use crate::train::TrainConfig;

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
    /// The batch stages after the pair batcher (`Augment`), in order.
    pub batch: Vec<StageConfig>,
    /// Deprecated settings the file uses: read, ignored, and worth a warning.
    pub warnings: Vec<Problem>,
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
    /// Builds the batch stages, in order.
    ///
    /// # Errors
    /// A stage's build error.
    pub fn batch_stages(
        &self,
        ctx: &BuildContext<'_>,
    ) -> Result<Vec<TransformStage<PairBatch, PairBatch>>, BuildError> {
        self.batch
            .iter()
            .filter_map(|stage| stage.build_batch_stage(ctx))
            .collect()
    }

    /// The network the pipeline trains, on images of [`Plan::image_size`].
    pub fn net_spec(&self) -> NetSpec {
        let p = &self.pipeline;
        let (width, height) = self.image_size();
        NetSpec {
            model: p.model.clone(),
            loss: p.loss,
            distance: p.distance,
            optimizer: p.optimizer,
            input: (height as usize, width as usize),
            seed: p.seed,
        }
    }

    /// The size images have after the image stages: the resize size, or LFW's 250x250 as
    /// decoded (125x125 at half scale).
    pub fn image_size(&self) -> (u32, u32) {
        let side = self.decode.scale.apply(LFW_SIDE);
        self.resize
            .as_ref()
            .map_or((side, side), |r| (r.width, r.height))
    }
}
