//! Per-stage counters: items in and out, time busy and time blocked on each channel.
//!
//! Counters are atomics shared by a stage's workers so that recording costs a few
//! nanoseconds per item; a [`StageReport`] is the plain snapshot printed or saved as JSON.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Live counters of one stage.
#[derive(Debug, Default)]
pub struct StageMetrics {
    items_in: AtomicU64,
    items_out: AtomicU64,
    skipped: AtomicU64,
    busy_ns: AtomicU64,
    recv_wait_ns: AtomicU64,
    send_wait_ns: AtomicU64,
    max_queued: AtomicU64,
}

impl StageMetrics {
    /// Counts one item received.
    pub fn item_in(&self) {
        self.items_in.fetch_add(1, Relaxed);
    }

    /// Counts one item sent on.
    pub fn item_out(&self) {
        self.items_out.fetch_add(1, Relaxed);
    }

    /// Counts one item dropped by the stage's error policy.
    pub fn item_skipped(&self) {
        self.skipped.fetch_add(1, Relaxed);
    }

    /// Items received so far.
    pub fn items_in(&self) -> u64 {
        self.items_in.load(Relaxed)
    }

    /// Items skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Relaxed)
    }

    /// Adds time spent working.
    pub fn add_busy(&self, since: Instant) {
        self.busy_ns.fetch_add(nanos(since), Relaxed);
    }

    /// Adds time spent waiting for input.
    pub fn add_recv_wait(&self, since: Instant) {
        self.recv_wait_ns.fetch_add(nanos(since), Relaxed);
    }

    /// Adds time spent waiting for room downstream, and notes how full the channel is.
    pub fn add_send_wait(&self, since: Instant, queued: usize) {
        self.send_wait_ns.fetch_add(nanos(since), Relaxed);
        self.max_queued.fetch_max(queued as u64, Relaxed);
    }

    /// A snapshot for reports.
    pub fn report(&self, name: &str, workers: usize, capacity: usize) -> StageReport {
        let secs = |a: &AtomicU64| Duration::from_nanos(a.load(Relaxed)).as_secs_f64();
        StageReport {
            stage: name.to_string(),
            workers,
            capacity,
            items_in: self.items_in.load(Relaxed),
            items_out: self.items_out.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            busy_s: secs(&self.busy_ns),
            recv_wait_s: secs(&self.recv_wait_ns),
            send_wait_s: secs(&self.send_wait_ns),
            max_queued: self.max_queued.load(Relaxed),
        }
    }
}

fn nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What one stage did during a run. Times are summed over the stage's workers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageReport {
    /// The stage's name.
    pub stage: String,
    /// Worker threads.
    pub workers: usize,
    /// Capacity of the stage's output channel.
    pub capacity: usize,
    /// Items received.
    pub items_in: u64,
    /// Items sent on.
    pub items_out: u64,
    /// Items dropped by the error policy.
    pub skipped: u64,
    /// Seconds spent working.
    pub busy_s: f64,
    /// Seconds blocked waiting for input.
    pub recv_wait_s: f64,
    /// Seconds blocked waiting for room downstream.
    pub send_wait_s: f64,
    /// The fullest the output channel was seen right after a send.
    pub max_queued: u64,
}

/// What a whole run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Wall-clock seconds.
    pub elapsed_s: f64,
    /// One entry per stage, source first.
    pub stages: Vec<StageReport>,
    /// Items skipped by an error policy, with why.
    pub skipped: Vec<Skipped>,
}

/// An item a stage dropped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The stage that dropped it.
    pub stage: String,
    /// The item (usually its file).
    pub item: String,
    /// Why: the error with its causes, as [`crate::errors::chain`] writes it.
    pub reason: String,
}

/// The line under [`RunReport::table`] that says what its terse column names mean, so the
/// table reads without the README (the README has the longer version).
pub const TABLE_KEY: &str = "key: wkr worker threads; in/out/skipped items received, sent on, \
     dropped by on_error; busy/recv/send s seconds working, waiting for input, waiting for \
     room downstream (summed over workers); queue fullest output channel seen/its capacity";

impl RunReport {
    /// A fixed-width table with one row per stage, the [`TABLE_KEY`] line under it and the
    /// wall-clock time.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<14} {:>3} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>6}",
            "stage", "wkr", "in", "out", "skipped", "busy s", "recv s", "send s", "queue"
        );
        for s in &self.stages {
            let _ = writeln!(
                out,
                "{:<14} {:>3} {:>9} {:>9} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>3}/{:<3}",
                s.stage,
                s.workers,
                s.items_in,
                s.items_out,
                s.skipped,
                s.busy_s,
                s.recv_wait_s,
                s.send_wait_s,
                s.max_queued,
                s.capacity
            );
        }
        let _ = writeln!(out, "{TABLE_KEY}");
        let _ = write!(out, "elapsed {:.2} s", self.elapsed_s);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_in_the_report() {
        let m = StageMetrics::default();
        m.item_in();
        m.item_in();
        m.item_out();
        m.item_skipped();
        m.add_send_wait(Instant::now(), 3);
        m.add_send_wait(Instant::now(), 1);
        let r = m.report("decode", 2, 8);
        assert_eq!(
            (r.items_in, r.items_out, r.skipped, r.max_queued),
            (2, 1, 1, 3)
        );
        let report = RunReport {
            elapsed_s: 1.0,
            stages: vec![r],
            skipped: vec![],
        };
        let table = report.table();
        assert!(table.contains("decode"));
        // Every column name is explained in the key right under the rows.
        let key = table.lines().nth(2).unwrap();
        assert_eq!(key, TABLE_KEY);
        for column in ["wkr", "in/out/skipped", "busy/recv/send s", "queue"] {
            assert!(key.contains(column), "{column} not in the key");
        }
    }
}
