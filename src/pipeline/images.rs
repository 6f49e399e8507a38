//! The image chain: files -> Decode -> [Resize] -> a sink (the cache writer, a memory
//! store, or the pipeline's own sink), and the settings every chain of a run shares.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::validate::Plan;
use crate::data::ImageEntry;
use crate::engine::metrics::RunReport;
use crate::engine::{
    run as run_chain, Chain, PipelineError, RunOptions, Sink, SourceStage, Then, Transform,
    TransformStage,
};
use crate::model::Device;
use crate::stages::source::FileSource;

/// What a run needs besides its plan.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// The LFW-a folder.
    pub data_root: PathBuf,
    /// Show progress bars.
    pub progress: bool,
    /// Set by Ctrl-C to stop the run.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Name for a new run folder (usually the pipeline file's stem).
    pub name: String,
    /// Continue the training run in this folder instead of starting a new one.
    pub resume: Option<PathBuf>,
    /// Train on this backend instead of the pipeline's `device`.
    pub device: Option<Device>,
}

/// The chain files -> Decode -> [Resize] -> `sink`.
///
/// The resize runs inside the decode workers, each resizing what it just decoded: on two
/// cores the hand-offs of a separate stage (a channel and a thread wake-up per image) cost
/// more than the resize itself, and half-scale decoding leaves it nothing to do.
pub(super) fn image_chain<S: Sink>(
    plan: &Plan,
    entries: Vec<ImageEntry>,
    sink_name: &str,
    sink: S,
) -> Chain<S> {
    let mut workers = plan.decode.build();
    if let Some(resize) = &plan.resize {
        let resizers = resize.build_one_per(workers.len());
        workers = workers
            .into_iter()
            .zip(resizers)
            .map(|(decode, resize)| Box::new(Then::new(decode, resize)) as Box<dyn Transform>)
            .collect();
    }
    let transforms = vec![TransformStage {
        name: if plan.resize.is_some() {
            "decode+resize"
        } else {
            "decode"
        }
        .into(),
        capacity: plan.decode.capacity,
        workers,
    }];
    let source = SourceStage {
        name: "files".into(),
        capacity: 64,
        source: Box::new(FileSource::new(entries)),
    };
    Chain {
        source,
        transforms,
        sink_name: sink_name.into(),
        sink,
    }
}

pub(super) fn options(settings: &RunSettings, message: &str) -> RunOptions {
    RunOptions {
        progress: settings.progress.then(|| message.to_string()),
        interrupt: settings.interrupt.clone(),
    }
}

/// Runs only the image chain of a plan into `sink` (used by the cache builder).
///
/// # Errors
/// The first stage error.
pub fn run_images<S: Sink>(
    plan: &Plan,
    settings: &RunSettings,
    entries: Vec<ImageEntry>,
    sink_name: &str,
    sink: S,
) -> Result<(S, RunReport), PipelineError> {
    run_chain(
        image_chain(plan, entries, sink_name, sink),
        &options(settings, "images"),
    )
}
