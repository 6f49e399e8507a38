//! The stage engine: one named thread per stage (or per worker), joined by bounded channels.
//!
//! A run is a [`Chain`]: a [`Source`], any number of [`Transform`] stages and a [`Sink`],
//! typed by what flows between them, so an item of the wrong kind cannot be sent.
//! Every channel is a bounded crossbeam channel whose capacity comes from the stage's
//! config, so a slow consumer stalls its producers instead of growing a queue.
//!
//! A parallel stage's inputs are dealt round-robin to its workers by the stage before it, and
//! its workers' outputs are read back in the same round-robin order by the stage after it
//! (see [`ports`]); so order is kept without a reorder buffer and memory stays bounded.
//!
//! The first error of any stage is recorded together with the stage's name and everyone is
//! told to stop: sources check the cancel flag, and every other thread sees its channel
//! close. Errors are recorded *before* a thread drops its channels, so a sink never mistakes
//! an upstream failure for the end of the stream. Panics are caught and reported as errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use context::Shared;
use threads::{spawn_sink, Spawner};

pub use chain::{Chain, Ended};
pub use context::{Emitter, StageContext};
pub use error::{PipelineError, StageError};
pub use item::{ImageItem, PairBatch, Phase, Unit};
pub use metrics::{RunReport, Skipped, StageMetrics, StageReport};
pub use stage::{SourceStage, Then, TransformStage};

mod chain;
mod context;
pub mod error;
pub mod item;
pub mod metrics;
mod ports;
mod stage;
mod threads;

/// Produces the items of a chain.
pub trait Source<T>: Send {
    /// How many units of work (see [`Unit::weight`]) will reach the sink, when known.
    fn len_hint(&self) -> Option<u64> {
        None
    }

    /// Emits every item, stopping early when [`Emitter::emit`] fails.
    ///
    /// # Errors
    /// The first problem that stops the source.
    fn run(&mut self, ctx: &StageContext, out: &mut Emitter<'_, T>) -> Result<(), StageError>;
}

/// Turns each item into zero or more items; one instance per worker thread.
pub trait Transform<I, O>: Send {
    /// Processes one item, pushing its results onto `out`.
    ///
    /// # Errors
    /// A problem that must stop the pipeline. Problems an error policy forgives are
    /// reported with [`StageContext::skip`] instead.
    fn process(&mut self, item: I, ctx: &StageContext, out: &mut Vec<O>) -> Result<(), StageError>;
}

/// What a sink wants after an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Send more.
    Continue,
    /// Enough (early stopping): stop every stage; the run still succeeds.
    Stop,
}

/// Consumes the items at the end of a chain.
pub trait Sink<T>: Send {
    /// Takes one item.
    ///
    /// # Errors
    /// A problem that must stop the pipeline.
    fn consume(&mut self, item: T, ctx: &StageContext) -> Result<Flow, StageError>;

    /// Called once after the last item, only when no stage failed.
    ///
    /// # Errors
    /// A problem finishing the output.
    fn finish(&mut self, _ctx: &StageContext) -> Result<(), StageError> {
        Ok(())
    }
}

/// How to run a chain.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show a progress bar with this message.
    pub progress: Option<String>,
    /// Set from outside (Ctrl-C) to stop the run; it then fails with `Interrupted`.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// Runs a chain to the end and gives back its sink and a report.
///
/// # Errors
/// The first stage error (naming the stage), a caught panic, or `Interrupted`.
pub fn run<T: Unit, S: Sink<T>>(
    chain: Ended<T, S>,
    options: &RunOptions,
) -> Result<(S, RunReport), PipelineError> {
    let start = Instant::now();
    let bar = options
        .progress
        .as_ref()
        .map(|msg| progress_bar(msg, chain.chain.len_hint));
    let shared = Arc::new(Shared {
        interrupt: options.interrupt.clone(),
        bar: bar.clone(),
        ..Shared::default()
    });
    let Ended {
        chain,
        sink_name,
        sink,
    } = chain;
    let mut places = chain.places;
    places.push(chain::Place {
        name: sink_name.clone(),
        workers: 1,
        capacity: 0,
    });
    let contexts = contexts_for(&places, &shared);
    let upstream = chain.upstream;
    let sink = std::thread::scope(|scope| -> Result<Option<S>, PipelineError> {
        let mut spawner = Spawner::new(scope);
        let consumer = upstream.spawn(&mut spawner, &contexts, 1)?;
        let sink_ctx = Arc::clone(contexts.last().expect("a chain has a sink"));
        let handle = spawn_sink(&mut spawner, sink, &sink_name, consumer, sink_ctx)?;
        while !(spawner.all_finished() && handle.is_finished()) {
            if let Some(bar) = &bar {
                // Counted from the start of the bar's section (see `progress_section`).
                let done = shared.progress.load(Ordering::Relaxed);
                let base = shared.progress_base.load(Ordering::Relaxed);
                bar.set_position(done.saturating_sub(base));
            }
            if shared.interrupted() {
                shared.cancel.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        spawner.join_all(&shared);
        Ok(handle.join().ok().flatten())
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let sink = outcome(&shared, sink, &sink_name)?;
    Ok((sink, report(&shared, &places, &contexts, start)))
}

/// One context per stage, in chain order.
fn contexts_for(places: &[chain::Place], shared: &Arc<Shared>) -> Vec<Arc<StageContext>> {
    places
        .iter()
        .map(|place| {
            Arc::new(StageContext {
                name: place.name.clone(),
                metrics: Arc::default(),
                shared: Arc::clone(shared),
            })
        })
        .collect()
}

/// The sink back from a finished run, or why the run failed: the first stage error, an
/// interrupt, or a sink that was lost to a panic.
fn outcome<S>(shared: &Shared, sink: Option<S>, sink_name: &str) -> Result<S, PipelineError> {
    let error = shared
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(error) = error {
        return Err(error);
    }
    if shared.interrupted() {
        return Err(PipelineError::Interrupted);
    }
    sink.ok_or_else(|| PipelineError::Panicked {
        stage: sink_name.to_string(),
        message: "sink lost".into(),
    })
}

/// Every stage's metrics and every skipped item of a finished run.
fn report(
    shared: &Shared,
    places: &[chain::Place],
    contexts: &[Arc<StageContext>],
    start: Instant,
) -> RunReport {
    let stages = places
        .iter()
        .zip(contexts)
        .map(|(place, ctx)| {
            ctx.metrics
                .report(&place.name, place.workers, place.capacity)
        })
        .collect();
    let skipped = std::mem::take(
        &mut *shared
            .skipped
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    RunReport {
        elapsed_s: start.elapsed().as_secs_f64(),
        stages,
        skipped,
    }
}

fn progress_bar(message: &str, total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec} eta {eta}";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}

#[cfg(test)]
mod tests;
