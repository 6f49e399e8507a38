//! The engine's threads: spawning each stage's thread (or worker threads), and the loops they
//! run. Every thread records its error or panic in the run before its channels drop, so a
//! sink never mistakes an upstream failure for the end of the stream.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{Builder, Scope, ScopedJoinHandle};
use std::time::Instant;

use super::context::{Shared, StageContext};
use super::error::{PipelineError, StageError};
use super::item::Unit;
use super::ports::{Consumer, Inlet, Producer, WorkerMsg};
use super::stage::TransformStage;
use super::{Flow, Sink, Transform};

/// Spawns named scoped threads whose errors and panics are recorded before their channels drop.
pub(super) struct Spawner<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    handles: Vec<ScopedJoinHandle<'scope, ()>>,
}

impl<'scope, 'env> Spawner<'scope, 'env> {
    /// A spawner of threads in `scope`.
    pub(super) fn new(scope: &'scope Scope<'scope, 'env>) -> Self {
        Self {
            scope,
            handles: Vec::new(),
        }
    }

    /// Spawns `body` on a thread named `thread`, recording its error or panic in the run.
    pub(super) fn spawn<C, F>(
        &mut self,
        thread: &str,
        ctx: Arc<StageContext>,
        channels: C,
        body: F,
    ) -> Result<(), PipelineError>
    where
        C: Send + 'scope,
        F: FnOnce(&StageContext, &mut C) -> Result<(), StageError> + Send + 'scope,
    {
        let mut channels = channels;
        let handle = Builder::new()
            .name(thread.to_string())
            .spawn_scoped(self.scope, move || {
                // The channels drop only after `guarded` recorded any error (see the module doc).
                guarded(&ctx, || body(&ctx, &mut channels)).unwrap_or(())
            })
            .map_err(|source| PipelineError::Spawn {
                stage: thread.to_string(),
                source,
            })?;
        self.handles.push(handle);
        Ok(())
    }

    /// True when every thread spawned so far has ended.
    pub(super) fn all_finished(&self) -> bool {
        self.handles.iter().all(ScopedJoinHandle::is_finished)
    }

    /// Joins every thread, recording a thread that died outside `guarded`.
    pub(super) fn join_all(&mut self, shared: &Shared) {
        for handle in self.handles.drain(..) {
            if handle.join().is_err() {
                shared.fail(PipelineError::Panicked {
                    stage: "engine".into(),
                    message: "thread died".into(),
                });
            }
        }
    }
}

/// Runs `body`, recording its error or panic in the run before returning.
fn guarded<T>(ctx: &StageContext, body: impl FnOnce() -> Result<T, StageError>) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            ctx.fail(error);
            None
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            ctx.shared.fail(PipelineError::Panicked {
                stage: ctx.name.clone(),
                message,
            });
            None
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// An engine bug: a link's ends do not fit the stage's thread count.
pub(super) fn mismatched_link(stage: &str) -> PipelineError {
    PipelineError::Panicked {
        stage: stage.to_string(),
        message: "engine: a link does not match the stage's workers".into(),
    }
}

/// Spawns a transform stage: one thread, or one per worker.
pub(super) fn spawn_transform<'scope, I: Send + 'static, O: Send + 'static>(
    spawner: &mut Spawner<'scope, '_>,
    stage: TransformStage<I, O>,
    consumer: Consumer<I>,
    producer: Producer<O>,
    ctx: &Arc<StageContext>,
) -> Result<(), PipelineError> {
    match (consumer, producer) {
        (Consumer::Single(inlet), Producer::Single(outlet)) => {
            // A single-threaded stage's link has one end each, so one worker at most.
            if let Some(mut worker) = stage.workers.into_iter().next() {
                spawner.spawn(
                    &stage.name,
                    Arc::clone(ctx),
                    (inlet, outlet),
                    move |ctx, (inlet, outlet)| {
                        transform_loop(
                            worker.as_mut(),
                            || inlet.recv(),
                            ctx,
                            |item, _| outlet.send(item, ctx),
                            || Ok(()),
                        )
                    },
                )?;
            }
            Ok(())
        }
        (Consumer::Workers(rxs), Producer::Workers(outlets)) => {
            for (i, ((mut worker, rx), outlet)) in
                stage.workers.into_iter().zip(rxs).zip(outlets).enumerate()
            {
                spawner.spawn(
                    &format!("{}-{i}", stage.name),
                    Arc::clone(ctx),
                    (rx, outlet),
                    move |ctx, (rx, outlet)| {
                        transform_loop(
                            worker.as_mut(),
                            || rx.recv().ok(),
                            ctx,
                            |item, last| {
                                let msg = if last {
                                    WorkerMsg::Last(item)
                                } else {
                                    WorkerMsg::Item(item)
                                };
                                outlet.send(msg, ctx)
                            },
                            || outlet.send(WorkerMsg::Done, ctx),
                        )
                    },
                )?;
            }
            Ok(())
        }
        _ => Err(mismatched_link(&stage.name)),
    }
}

/// The loop of one transform worker: `recv` gives the next input, `emit` sends each output,
/// saying whether it is the input's last, and `end_of_input` tells the reader of a parallel
/// worker's outputs that an input had no output.
fn transform_loop<I, O>(
    worker: &mut dyn Transform<I, O>,
    mut recv: impl FnMut() -> Option<I>,
    ctx: &StageContext,
    mut emit: impl FnMut(O, bool) -> Result<(), StageError>,
    mut end_of_input: impl FnMut() -> Result<(), StageError>,
) -> Result<(), StageError> {
    let mut out = Vec::new();
    loop {
        let t = Instant::now();
        let Some(item) = recv() else { return Ok(()) };
        ctx.metrics.add_recv_wait(t);
        ctx.metrics.item_in();
        if ctx.is_cancelled() {
            return Err(StageError::Cancelled);
        }
        let t = Instant::now();
        worker.process(item, ctx, &mut out)?;
        ctx.metrics.add_busy(t);
        let count = out.len();
        for (i, item) in out.drain(..).enumerate() {
            emit(item, i + 1 == count)?;
        }
        if count == 0 {
            end_of_input()?;
        }
    }
}

/// Spawns the sink; its handle gives the sink back when the run succeeded.
pub(super) fn spawn_sink<'scope, T: Unit, S: Sink<T> + 'scope>(
    spawner: &mut Spawner<'scope, '_>,
    mut sink: S,
    name: &str,
    consumer: Consumer<T>,
    ctx: Arc<StageContext>,
) -> Result<ScopedJoinHandle<'scope, Option<S>>, PipelineError> {
    let Consumer::Single(mut inlet) = consumer else {
        return Err(mismatched_link(name));
    };
    Builder::new()
        .name(name.to_string())
        .spawn_scoped(spawner.scope, move || {
            let ok = guarded(&ctx, || sink_loop(&mut sink, &mut inlet, &ctx));
            drop(inlet);
            ok.map(|()| sink)
        })
        .map_err(|source| PipelineError::Spawn {
            stage: name.to_string(),
            source,
        })
}

fn sink_loop<T: Unit, S: Sink<T>>(
    sink: &mut S,
    inlet: &mut Inlet<T>,
    ctx: &StageContext,
) -> Result<(), StageError> {
    loop {
        let t = Instant::now();
        let Some(item) = inlet.recv() else { break };
        ctx.metrics.add_recv_wait(t);
        ctx.metrics.item_in();
        // Stop at once, not after the items already queued: a training sink would
        // otherwise go on for several batches (epochs, for small ones) after a Ctrl-C.
        if ctx.is_cancelled() {
            return Err(StageError::Cancelled);
        }
        let weight = item.weight();
        let t = Instant::now();
        let flow = sink.consume(item, ctx)?;
        ctx.metrics.add_busy(t);
        ctx.shared.progress.fetch_add(weight, Ordering::Relaxed);
        if flow == Flow::Stop {
            // Upstream stages see the cancel flag or a closed channel and end quietly;
            // no error is recorded, so the run succeeds.
            ctx.shared.cancel.store(true, Ordering::SeqCst);
            return sink.finish(ctx);
        }
    }
    if ctx.is_cancelled() {
        return Err(StageError::Cancelled);
    }
    sink.finish(ctx)
}
