//! The two ends of the link between consecutive stages.
//!
//! A parallel stage keeps order by dealing its inputs round-robin to its workers and reading
//! their outputs back in the same round-robin order. The dealing is done by the stage before
//! it and the reading by the stage after it, on their own threads: a separate dealer and
//! collector thread would add two channel hand-offs and thread wake-ups per item, which on
//! two cores cost more than a 2x image resize. Only between two parallel stages does a relay
//! thread do both.

use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::StageContext;
use crate::engine::error::StageError;

/// Message from a parallel worker to the reader of its outputs: an output, the last output
/// of an input (one message for the usual one-in, one-out stage), or the end of an input
/// that had no output.
pub(super) enum WorkerMsg<T> {
    Item(T),
    Last(T),
    Done,
}

/// Where a single-threaded stage sends its items: one channel, or the next stage's workers
/// in turn.
pub(super) enum Outlet<T> {
    One(Sender<T>),
    Deal { txs: Vec<Sender<T>>, next: usize },
}

impl<T> Outlet<T> {
    /// The channel the next item goes to.
    fn next_tx(&mut self) -> &Sender<T> {
        match self {
            Outlet::One(tx) => tx,
            Outlet::Deal { txs, next } => {
                let i = *next;
                *next = (i + 1) % txs.len();
                &txs[i]
            }
        }
    }

    /// Sends one item, recording the wait and the queue length in the stage's metrics.
    pub(super) fn send(&mut self, item: T, ctx: &StageContext) -> Result<(), StageError> {
        let tx = self.next_tx();
        let t = Instant::now();
        tx.send(item).map_err(|_| StageError::Cancelled)?;
        ctx.metrics.add_send_wait(t, tx.len());
        ctx.metrics.item_out();
        Ok(())
    }

    /// Sends one item without touching metrics (a relay's items are its stage's already).
    pub(super) fn forward(&mut self, item: T) -> Result<(), StageError> {
        self.next_tx().send(item).map_err(|_| StageError::Cancelled)
    }
}

/// A parallel worker's own output channel, read by the next stage's [`Inlet::Merge`].
pub(super) struct WorkerOutlet<T>(pub(super) Sender<WorkerMsg<T>>);

impl<T> WorkerOutlet<T> {
    /// Sends one message, recording the wait and queue length like [`Outlet::send`].
    pub(super) fn send(&self, msg: WorkerMsg<T>, ctx: &StageContext) -> Result<(), StageError> {
        let is_item = !matches!(msg, WorkerMsg::Done);
        let t = Instant::now();
        self.0.send(msg).map_err(|_| StageError::Cancelled)?;
        ctx.metrics.add_send_wait(t, self.0.len());
        if is_item {
            ctx.metrics.item_out();
        }
        Ok(())
    }
}

/// Where a single-threaded stage takes its items from: one channel, or the previous stage's
/// workers in turn.
pub(super) enum Inlet<T> {
    One(Receiver<T>),
    Merge {
        rxs: Vec<Receiver<WorkerMsg<T>>>,
        next: usize,
    },
}

impl<T> Inlet<T> {
    /// The next item in order, or `None` at the end (or when the producer stopped).
    pub(super) fn recv(&mut self) -> Option<T> {
        match self {
            Inlet::One(rx) => rx.recv().ok(),
            Inlet::Merge { rxs, next } => loop {
                match rxs[*next].recv() {
                    Ok(WorkerMsg::Item(item)) => return Some(item),
                    Ok(WorkerMsg::Last(item)) => {
                        *next = (*next + 1) % rxs.len();
                        return Some(item);
                    }
                    Ok(WorkerMsg::Done) => *next = (*next + 1) % rxs.len(),
                    // Workers end in turn after their last input, so the first closed
                    // channel in reading order is the end of the stream.
                    Err(_) => return None,
                }
            },
        }
    }
}

/// The producing end of a link: a single thread's outlet, or one outlet per worker.
pub(super) enum Producer<T> {
    Single(Outlet<T>),
    Workers(Vec<WorkerOutlet<T>>),
}

/// The consuming end of a link: a single thread's inlet, or one receiver per worker.
pub(super) enum Consumer<T> {
    Single(Inlet<T>),
    Workers(Vec<Receiver<T>>),
}

/// A relay between two parallel stages: it merges the first's outputs and deals them to
/// the second's workers.
pub(super) struct Relay<T> {
    pub(super) inlet: Inlet<T>,
    pub(super) outlet: Outlet<T>,
}

/// Connects a stage of `from` threads to one of `to` threads through at most `capacity`
/// queued items (split over the per-worker channels, at least one each).
pub(super) fn link<T>(
    from: usize,
    to: usize,
    capacity: usize,
) -> (Producer<T>, Consumer<T>, Option<Relay<T>>) {
    let per = |n: usize| (capacity / n).max(1);
    let deal = |n: usize| {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(per(n))).unzip();
        (Outlet::Deal { txs, next: 0 }, rxs)
    };
    let merge = |n: usize| {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| bounded(per(n))).unzip();
        let outlets = txs.into_iter().map(WorkerOutlet).collect();
        (outlets, Inlet::Merge { rxs, next: 0 })
    };
    match (from > 1, to > 1) {
        (false, false) => {
            let (tx, rx) = bounded(capacity.max(1));
            (
                Producer::Single(Outlet::One(tx)),
                Consumer::Single(Inlet::One(rx)),
                None,
            )
        }
        (false, true) => {
            let (outlet, rxs) = deal(to);
            (Producer::Single(outlet), Consumer::Workers(rxs), None)
        }
        (true, false) => {
            let (outlets, inlet) = merge(from);
            (Producer::Workers(outlets), Consumer::Single(inlet), None)
        }
        (true, true) => {
            let (outlets, inlet) = merge(from);
            let (outlet, rxs) = deal(to);
            let relay = Relay { inlet, outlet };
            (
                Producer::Workers(outlets),
                Consumer::Workers(rxs),
                Some(relay),
            )
        }
    }
}
