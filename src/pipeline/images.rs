//! The image chain: files -> Decode -> [Resize] -> a sink (the cache writer, a memory
//! store, or the pipeline's own sink), and the settings every chain of a run shares.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::error::RunError;
use super::validate::Plan;
use crate::data::ImageEntry;
use crate::engine::metrics::RunReport;
use crate::engine::{run as run_chain, Chain, Ended, ImageItem, RunOptions, Sink, SourceStage};
use crate::model::Device;
use crate::stages::resize::SizeGate;
use crate::stages::source::FileSource;
use crate::stages::{Build, BuildContext, BuildError};

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
    /// On resume, accept edits of the run's pipeline beyond steering (`--allow-changes`).
    pub allow_changes: bool,
}

/// The chain files -> Decode -> [Resize] -> `sink`.
///
/// The resize runs inside the decode workers, each resizing what it just decoded: on two
/// cores the hand-offs of a separate stage (a channel and a thread wake-up per image) cost
/// more than the resize itself, and half-scale decoding leaves it nothing to do.
pub(super) fn image_chain<S: Sink<ImageItem>>(
    plan: &Plan,
    entries: Vec<ImageEntry>,
    sink_name: &str,
    sink: S,
) -> Result<Ended<ImageItem, S>, BuildError> {
    let ctx = BuildContext::default();
    let mut decode = plan.decode.build(&ctx)?;
    if let Some(resize) = &plan.resize {
        // An image the crop does not fit is bad input under Decode's on_error policy.
        let resizer = resize.build(&ctx)?.with_on_error(plan.decode.on_error);
        decode = decode.fuse("decode+resize", || Box::new(resizer.clone()));
    } else if let Some((w, h)) = super::preflight::common_size(plan, &entries) {
        // Without a Resize, an image of another size is bad input under on_error.
        let gate = SizeGate::new(w, h, plan.decode.on_error);
        decode = decode.fuse("decode", || Box::new(gate.clone()));
    }
    let source = SourceStage {
        name: "files".into(),
        capacity: 64,
        source: Box::new(FileSource::new(entries)),
    };
    Ok(Chain::start(source).then(decode).end(sink_name, sink))
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
/// A stage that cannot be built, and the first stage error.
pub fn run_images<S: Sink<ImageItem>>(
    plan: &Plan,
    settings: &RunSettings,
    entries: Vec<ImageEntry>,
    sink_name: &str,
    sink: S,
) -> Result<(S, RunReport), RunError> {
    let chain = image_chain(plan, entries, sink_name, sink)?;
    Ok(run_chain(chain, &options(settings, "images"))?)
}
