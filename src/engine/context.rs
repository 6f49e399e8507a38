//! What the threads of one run share (the cancel flag, the first error, skipped items,
//! progress), and what a stage's code sees of it: its [`StageContext`] and, for a source,
//! the [`Emitter`] it sends with.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use indicatif::ProgressBar;

use super::error::{PipelineError, StageError};
use super::metrics::{Skipped, StageMetrics};
use super::ports::Outlet;

/// State shared by every thread of one run.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) cancel: AtomicBool,
    pub(super) interrupt: Option<Arc<AtomicBool>>,
    pub(super) first_error: Mutex<Option<PipelineError>>,
    pub(super) skipped: Mutex<Vec<Skipped>>,
    pub(super) progress: AtomicU64,
    /// Where the bar's current section began, in units of `progress`.
    pub(super) progress_base: AtomicU64,
    /// The run's progress bar, when it shows progress.
    pub(super) bar: Option<ProgressBar>,
}

impl Shared {
    pub(super) fn fail(&self, error: PipelineError) {
        let mut slot = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(error);
        }
        self.cancel.store(true, Ordering::SeqCst);
    }

    pub(super) fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|i| i.load(Ordering::Relaxed))
    }
}

/// What a stage's code sees of the run: its name, its metrics, cancellation and skips.
pub struct StageContext {
    pub(super) name: String,
    pub(super) metrics: Arc<StageMetrics>,
    pub(super) shared: Arc<Shared>,
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

    /// Restarts the progress bar as a section of the run: it counts from 0 to `len` units
    /// from now on, under `message`, with its own elapsed time and ETA (a training run's
    /// bar covers one epoch, so its ETA is the epoch's, not that of epochs early stopping
    /// may never run). Does nothing when the run shows no progress.
    pub fn progress_section(&self, message: String, len: u64) {
        let Some(bar) = &self.shared.bar else { return };
        let base = self.shared.progress.load(Ordering::Relaxed);
        self.shared.progress_base.store(base, Ordering::Relaxed);
        bar.set_length(len);
        bar.set_position(0);
        bar.set_message(message);
        bar.reset_elapsed();
        bar.reset_eta();
    }

    /// Prints `line` on stderr above the progress bar, when the run shows progress (not
    /// under `-q`); the bar is redrawn below it.
    pub fn note(&self, line: &str) {
        if let Some(bar) = &self.shared.bar {
            // `suspend`, not `println`: that prints nothing when stderr is not a terminal.
            bar.suspend(|| eprintln!("{line}"));
        }
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

    pub(super) fn fail(&self, error: StageError) {
        if !matches!(error, StageError::Cancelled) {
            self.shared.fail(PipelineError::Stage {
                stage: self.name.clone(),
                source: error,
            });
        }
    }
}

/// The sending end a [`super::Source`] writes to.
pub struct Emitter<'a, T> {
    pub(super) outlet: &'a mut Outlet<T>,
    pub(super) ctx: &'a StageContext,
}

impl<T> Emitter<'_, T> {
    /// Sends one item downstream, blocking while the channel is full.
    ///
    /// # Errors
    /// [`StageError::Cancelled`] when the run is stopping or nobody listens any more.
    pub fn emit(&mut self, item: T) -> Result<(), StageError> {
        if self.ctx.is_cancelled() {
            return Err(StageError::Cancelled);
        }
        self.outlet.send(item, self.ctx)
    }
}
