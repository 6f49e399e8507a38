//! The stages a chain is made of: a source and transform stages with their names, output
//! capacities and workers, and [`Then`], two transforms fused on one thread.

use super::context::StageContext;
use super::error::StageError;
use super::{Source, Transform};

/// The source of a chain, with its name and output capacity.
pub struct SourceStage<T> {
    /// Name shown in metrics and errors.
    pub name: String,
    /// Capacity of the output channel.
    pub capacity: usize,
    /// The source itself.
    pub source: Box<dyn Source<T>>,
}

/// A transform stage: one instance per worker.
pub struct TransformStage<I, O> {
    /// Name shown in metrics and errors.
    pub name: String,
    /// Capacity of the output channel.
    pub capacity: usize,
    /// One transform per worker thread; at least one.
    pub workers: Vec<Box<dyn Transform<I, O>>>,
}

impl<I: Send + 'static, M: Send + 'static> TransformStage<I, M> {
    /// This stage with a transform from `next` after it on each of its workers, named
    /// `name`: what a worker gives goes through its own second transform on the same thread,
    /// without a channel or a thread hop.
    pub fn fuse<O: Send + 'static>(
        self,
        name: &str,
        mut next: impl FnMut() -> Box<dyn Transform<M, O>>,
    ) -> TransformStage<I, O> {
        TransformStage {
            name: name.into(),
            capacity: self.capacity,
            workers: self
                .workers
                .into_iter()
                .map(|first| Box::new(Then::new(first, next())) as Box<dyn Transform<I, O>>)
                .collect(),
        }
    }
}

/// Two transforms on one thread: everything the first gives goes through the second, without
/// a channel or a thread hop between them.
pub struct Then<I, M, O> {
    first: Box<dyn Transform<I, M>>,
    second: Box<dyn Transform<M, O>>,
    between: Vec<M>,
}

impl<I, M, O> Then<I, M, O> {
    /// `first`, then `second` on its outputs.
    pub fn new(first: Box<dyn Transform<I, M>>, second: Box<dyn Transform<M, O>>) -> Self {
        Self {
            first,
            second,
            between: Vec::new(),
        }
    }
}

impl<I: Send, M: Send, O: Send> Transform<I, O> for Then<I, M, O> {
    fn process(&mut self, item: I, ctx: &StageContext, out: &mut Vec<O>) -> Result<(), StageError> {
        self.first.process(item, ctx, &mut self.between)?;
        for item in self.between.drain(..) {
            self.second.process(item, ctx, out)?;
        }
        Ok(())
    }
}
