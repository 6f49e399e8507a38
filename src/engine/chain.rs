//! Typed chains: a source, transform stages and a sink, linked so that each stage takes
//! exactly what the stage before it gives. [`Chain::start`] starts at a source of `T`,
//! [`Chain::then`] adds a stage that takes `T`, and [`Chain::end`] ends the chain in a
//! sink of whatever the last stage gives: a chain whose items do not fit does not compile.
//!
//! Inside, each stage is kept as an [`Upstream`] of the stage after it: something that,
//! when the run starts, spawns its own threads (and those before it) and hands over the
//! consuming end of its output channel, sized for the next stage's worker count.

use std::sync::Arc;

use super::context::{Emitter, StageContext};
use super::error::PipelineError;
use super::ports::{link, Consumer, Producer};
use super::stage::{SourceStage, TransformStage};
use super::threads::{mismatched_link, spawn_transform, Spawner};
use super::Sink;

/// A stage's place in the run: name, threads and output capacity (0 for the sink).
#[derive(Debug, Clone)]
pub(super) struct Place {
    pub(super) name: String,
    pub(super) workers: usize,
    pub(super) capacity: usize,
}

/// Spawns a stage and everything before it, giving the consuming end of its output.
pub(super) trait Upstream<T>: Send {
    /// Spawns the threads; `contexts[k]` is stage `k`'s, and the output link is made for a
    /// next stage of `to` threads.
    fn spawn<'scope>(
        self: Box<Self>,
        spawner: &mut Spawner<'scope, '_>,
        contexts: &[Arc<StageContext>],
        to: usize,
    ) -> Result<Consumer<T>, PipelineError>;
}

/// The first stage.
struct FromSource<T> {
    stage: SourceStage<T>,
}

impl<T: Send + 'static> Upstream<T> for FromSource<T> {
    fn spawn<'scope>(
        self: Box<Self>,
        spawner: &mut Spawner<'scope, '_>,
        contexts: &[Arc<StageContext>],
        to: usize,
    ) -> Result<Consumer<T>, PipelineError> {
        let SourceStage {
            name,
            capacity,
            mut source,
        } = self.stage;
        let (producer, consumer, _) = link(1, to, capacity);
        let Producer::Single(outlet) = producer else {
            return Err(mismatched_link(&name));
        };
        let ctx = Arc::clone(&contexts[0]);
        spawner.spawn(&name, ctx, outlet, move |ctx, outlet| {
            source.run(ctx, &mut Emitter { outlet, ctx })
        })?;
        Ok(consumer)
    }
}

/// A transform stage after `upstream`, stage number `index` of the run.
struct Through<I, O> {
    upstream: Box<dyn Upstream<I>>,
    stage: TransformStage<I, O>,
    index: usize,
}

impl<I: Send + 'static, O: Send + 'static> Upstream<O> for Through<I, O> {
    fn spawn<'scope>(
        self: Box<Self>,
        spawner: &mut Spawner<'scope, '_>,
        contexts: &[Arc<StageContext>],
        to: usize,
    ) -> Result<Consumer<O>, PipelineError> {
        let workers = self.stage.workers.len();
        let input = self.upstream.spawn(spawner, contexts, workers)?;
        let (producer, output, relay) = link(workers, to, self.stage.capacity);
        let ctx = &contexts[self.index];
        if let Some(mut relay) = relay {
            let name = format!("{}-relay", self.stage.name);
            spawner.spawn(&name, Arc::clone(ctx), (), move |_, ()| {
                while let Some(item) = relay.inlet.recv() {
                    relay.outlet.forward(item)?;
                }
                Ok(())
            })?;
        }
        spawn_transform(spawner, self.stage, input, producer, ctx)?;
        Ok(output)
    }
}

/// A chain whose last stage gives items of type `T`, not yet ended by a sink.
pub struct Chain<T> {
    pub(super) places: Vec<Place>,
    pub(super) len_hint: Option<u64>,
    pub(super) upstream: Box<dyn Upstream<T>>,
}

impl<T: Send + 'static> Chain<T> {
    /// A chain that starts at `source`.
    pub fn start(source: SourceStage<T>) -> Self {
        Self {
            places: vec![Place {
                name: source.name.clone(),
                workers: 1,
                capacity: source.capacity,
            }],
            len_hint: source.source.len_hint(),
            upstream: Box::new(FromSource { stage: source }),
        }
    }

    /// The chain followed by `stage`.
    pub fn then<O: Send + 'static>(mut self, stage: TransformStage<T, O>) -> Chain<O> {
        let index = self.places.len();
        self.places.push(Place {
            name: stage.name.clone(),
            workers: stage.workers.len(),
            capacity: stage.capacity,
        });
        Chain {
            places: self.places,
            len_hint: self.len_hint,
            upstream: Box::new(Through {
                upstream: self.upstream,
                stage,
                index,
            }),
        }
    }

    /// The chain followed by each of `stages`, in order.
    pub fn then_all(self, stages: Vec<TransformStage<T, T>>) -> Chain<T> {
        stages.into_iter().fold(self, Chain::then)
    }

    /// The chain ended by `sink`, named `name`: ready to [`super::run`].
    pub fn end<S: Sink<T>>(self, name: &str, sink: S) -> Ended<T, S> {
        Ended {
            chain: self,
            sink_name: name.into(),
            sink,
        }
    }
}

/// A chain ended by its sink.
pub struct Ended<T, S> {
    pub(super) chain: Chain<T>,
    pub(super) sink_name: String,
    pub(super) sink: S,
}
