//! The stage engine: one named thread per stage (or per worker), joined by bounded channels.
//!
//! A run is a [`Chain`]: a [`Source`], any number of [`Transform`] stages and a [`Sink`].
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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use ports::{link, Consumer, Outlet, Producer};
use threads::{mismatched_link, spawn_sink, spawn_transform, Spawner};

pub use error::{PipelineError, StageError};
pub use item::{ImageItem, Item, PairBatch, Phase};
pub use metrics::{RunReport, Skipped, StageMetrics, StageReport};

pub mod error;
pub mod item;
pub mod metrics;
mod ports;
mod threads;

/// Produces the items of a chain.
pub trait Source: Send {
    /// How many units of work (see [`Item::weight`]) will reach the sink, when known.
    fn len_hint(&self) -> Option<u64> {
        None
    }

    /// Emits every item, stopping early when [`Emitter::emit`] fails.
    ///
    /// # Errors
    /// The first problem that stops the source.
    fn run(&mut self, ctx: &StageContext, out: &mut Emitter<'_>) -> Result<(), StageError>;
}

/// Turns each item into zero or more items; one instance per worker thread.
pub trait Transform: Send {
    /// Processes one item, pushing its results onto `out`.
    ///
    /// # Errors
    /// A problem that must stop the pipeline. Problems an error policy forgives are
    /// reported with [`StageContext::skip`] instead.
    fn process(
        &mut self,
        item: Item,
        ctx: &StageContext,
        out: &mut Vec<Item>,
    ) -> Result<(), StageError>;
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
pub trait Sink: Send {
    /// Takes one item.
    ///
    /// # Errors
    /// A problem that must stop the pipeline.
    fn consume(&mut self, item: Item, ctx: &StageContext) -> Result<Flow, StageError>;

    /// Called once after the last item, only when no stage failed.
    ///
    /// # Errors
    /// A problem finishing the output.
    fn finish(&mut self, _ctx: &StageContext) -> Result<(), StageError> {
        Ok(())
    }
}

/// The source of a chain, with its name and output capacity.
pub struct SourceStage {
    /// Name shown in metrics and errors.
    pub name: String,
    /// Capacity of the output channel.
    pub capacity: usize,
    /// The source itself.
    pub source: Box<dyn Source>,
}

/// Two transforms on one thread: everything the first gives goes through the second, without
/// a channel or a thread hop between them.
pub struct Then {
    first: Box<dyn Transform>,
    second: Box<dyn Transform>,
    between: Vec<Item>,
}

impl Then {
    /// `first`, then `second` on its outputs.
    pub fn new(first: Box<dyn Transform>, second: Box<dyn Transform>) -> Self {
        Self {
            first,
            second,
            between: Vec::new(),
        }
    }
}

impl Transform for Then {
    fn process(
        &mut self,
        item: Item,
        ctx: &StageContext,
        out: &mut Vec<Item>,
    ) -> Result<(), StageError> {
        self.first.process(item, ctx, &mut self.between)?;
        for item in self.between.drain(..) {
            self.second.process(item, ctx, out)?;
        }
        Ok(())
    }
}

/// A transform stage: one instance per worker.
pub struct TransformStage {
    /// Name shown in metrics and errors.
    pub name: String,
    /// Capacity of the output channel.
    pub capacity: usize,
    /// One transform per worker thread; at least one.
    pub workers: Vec<Box<dyn Transform>>,
}

/// A runnable chain of stages.
pub struct Chain<S> {
    /// Where items come from.
    pub source: SourceStage,
    /// What happens to them on the way.
    pub transforms: Vec<TransformStage>,
    /// Name of the sink stage.
    pub sink_name: String,
    /// Where they end.
    pub sink: S,
}

/// How to run a chain.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show a progress bar with this message.
    pub progress: Option<String>,
    /// Set from outside (Ctrl-C) to stop the run; it then fails with `Interrupted`.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// State shared by every thread of one run.
#[derive(Default)]
struct Shared {
    cancel: AtomicBool,
    interrupt: Option<Arc<AtomicBool>>,
    first_error: Mutex<Option<PipelineError>>,
    skipped: Mutex<Vec<Skipped>>,
    progress: AtomicU64,
}

impl Shared {
    fn fail(&self, error: PipelineError) {
        let mut slot = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(error);
        }
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
    }
}

/// What a stage's code sees of the run: its name, its metrics, cancellation and skips.
pub struct StageContext {
    name: String,
    metrics: Arc<StageMetrics>,
    shared: Arc<Shared>,
}

impl StageContext {
    /// A context outside any run, to call a stage's methods directly in tests.
    #[cfg(test)]
    pub(crate) fn detached(name: &str) -> StageContext {
        StageContext {
            name: name.into(),
            metrics: Arc::default(),
            shared: Arc::default(),
        }
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stage's counters.
    pub fn metrics(&self) -> &StageMetrics {
        &self.metrics
    }

    /// True once any stage failed or the user interrupted: stop soon.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancel.load(Ordering::Relaxed) || self.shared.interrupted()
    }

    /// Records an item dropped by an error policy; the run goes on.
    pub fn skip(&self, item: impl std::fmt::Display, reason: impl std::fmt::Display) {
        self.metrics.item_skipped();
        self.shared.progress.fetch_add(1, Ordering::Relaxed);
        let skipped = Skipped {
            stage: self.name.clone(),
            item: item.to_string(),
            reason: reason.to_string(),
        };
        self.shared
            .skipped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(skipped);
    }

    fn fail(&self, error: StageError) {
        if !matches!(error, StageError::Cancelled) {
            self.shared.fail(PipelineError::Stage {
                stage: self.name.clone(),
                source: error,
            });
        }
    }
}

/// The sending end a [`Source`] writes to.
pub struct Emitter<'a> {
    outlet: &'a mut Outlet,
    ctx: &'a StageContext,
}

impl Emitter<'_> {
    /// Sends one item downstream, blocking while the channel is full.
    ///
    /// # Errors
    /// [`StageError::Cancelled`] when the run is stopping or nobody listens any more.
    pub fn emit(&mut self, item: Item) -> Result<(), StageError> {
        if self.ctx.is_cancelled() {
            return Err(StageError::Cancelled);
        }
        self.outlet.send(item, self.ctx)
    }
}

/// Runs a chain to the end and gives back its sink and a report.
///
/// # Errors
/// The first stage error (naming the stage), a caught panic, or `Interrupted`.
pub fn run<S: Sink>(
    chain: Chain<S>,
    options: &RunOptions,
) -> Result<(S, RunReport), PipelineError> {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        interrupt: options.interrupt.clone(),
        ..Shared::default()
    });
    let total = chain.source.source.len_hint();
    let mut layout = vec![(chain.source.name.clone(), 1, chain.source.capacity)];
    layout.extend(
        chain
            .transforms
            .iter()
            .map(|t| (t.name.clone(), t.workers.len(), t.capacity)),
    );
    layout.push((chain.sink_name.clone(), 1, 0));
    let contexts: Vec<Arc<StageContext>> = layout
        .iter()
        .map(|(name, _, _)| {
            let metrics = Arc::new(StageMetrics::default());
            Arc::new(StageContext {
                name: name.clone(),
                metrics,
                shared: Arc::clone(&shared),
            })
        })
        .collect();
    let bar = options
        .progress
        .as_ref()
        .map(|msg| progress_bar(msg, total));

    let sink = std::thread::scope(|scope| -> Result<Option<S>, PipelineError> {
        let mut spawner = Spawner::new(scope);
        // Link k joins stage k (0 = the source) to stage k + 1 (the last is the sink).
        let mut producers = Vec::new();
        let mut consumers = Vec::new();
        for (k, pair) in layout.windows(2).enumerate() {
            let ((name, from, capacity), (_, to, _)) = (&pair[0], &pair[1]);
            let (producer, consumer, relay) = link(*from, *to, *capacity);
            if let Some(mut relay) = relay {
                let ctx = Arc::clone(&contexts[k]);
                spawner.spawn(&format!("{name}-relay"), ctx, (), move |_, ()| {
                    while let Some(item) = relay.inlet.recv() {
                        relay.outlet.forward(item)?;
                    }
                    Ok(())
                })?;
            }
            producers.push(producer);
            consumers.push(consumer);
        }
        let mut producers = producers.into_iter();
        let mut consumers = consumers.into_iter();
        let Some(Producer::Single(outlet)) = producers.next() else {
            return Err(mismatched_link(&chain.source.name));
        };
        let mut source = chain.source.source;
        let ctx = Arc::clone(&contexts[0]);
        spawner.spawn(&ctx.name.clone(), ctx, outlet, move |ctx, outlet| {
            source.run(ctx, &mut Emitter { outlet, ctx })
        })?;
        for ((i, stage), (consumer, producer)) in chain
            .transforms
            .into_iter()
            .enumerate()
            .zip(consumers.by_ref().zip(producers))
        {
            spawn_transform(&mut spawner, stage, consumer, producer, &contexts[i + 1])?;
        }
        let Some(Consumer::Single(inlet)) = consumers.next() else {
            return Err(mismatched_link(&chain.sink_name));
        };
        let sink_ctx = Arc::clone(contexts.last().expect("layout has a sink"));
        let handle = spawn_sink(&mut spawner, chain.sink, &chain.sink_name, inlet, sink_ctx)?;
        while !(spawner.all_finished() && handle.is_finished()) {
            if let Some(bar) = &bar {
                bar.set_position(shared.progress.load(Ordering::Relaxed));
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
    let sink = sink.ok_or_else(|| PipelineError::Panicked {
        stage: chain.sink_name.clone(),
        message: "sink lost".into(),
    })?;
    let stages = layout
        .iter()
        .zip(&contexts)
        .map(|((name, workers, capacity), ctx)| ctx.metrics.report(name, *workers, *capacity))
        .collect();
    let skipped = std::mem::take(
        &mut *shared
            .skipped
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok((
        sink,
        RunReport {
            elapsed_s: start.elapsed().as_secs_f64(),
            stages,
            skipped,
        },
    ))
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
