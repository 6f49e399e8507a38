//! What the threads of one run share (the cancel flag, the first error, skipped items,
//! progress), and what a stage's code sees of it: its [`StageContext`] and, for a source,
//! the [`Emitter`] it sends with.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
