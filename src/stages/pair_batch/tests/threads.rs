//! `HardNegative` on the real engine, against a stand-in trainer thread: the batches do not
//! depend on thread timing or channel sizes, and a trainer that fails, stops early or is
//! interrupted never leaves the sampler waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::engine::{run, Chain, RunOptions, SourceStage};
use crate::engine::{Flow, PairBatch, Phase, PipelineError, Sink, StageContext};

/// What the stand-in trainer does at a given train step.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Then {
    Fail,
    Panic,
    Stop,
}

/// Learns nothing, but publishes refreshes as the trainer does, from embeddings that
/// depend on every batch seen so far (as weights do): a batch drawn differently would
/// change every later one.
struct FakeTrainerSink {
    trainer: FakeTrainer,
    per_epoch: usize,
    total: usize,
    digest: u64,
    seen: Vec<Vec<(u32, u32)>>,
    slow: bool,
    publish: bool,
    at: Option<(usize, Then)>,
}

impl FakeTrainerSink {
    fn new(source: &PairBatchSource, fixture: &Fixture) -> Self {
        Self {
            trainer: FakeTrainer::new(source, &fixture.store, true),
            per_epoch: source.train_batches_per_epoch(),
            total: source.train_batches_per_epoch() * source.epochs(),
            digest: 0,
            seen: Vec::new(),
            slow: false,
            publish: true,
            at: None,
        }
    }
}

impl Sink<PairBatch> for FakeTrainerSink {
    fn consume(&mut self, batch: PairBatch, _ctx: &StageContext) -> Result<Flow, StageError> {
        if batch.phase != Phase::Train {
            return Ok(Flow::Continue);
        }
        let step = batch.epoch * self.per_epoch + batch.index + 1;
        for &(a, b) in &batch.rows {
            self.digest = self.digest.wrapping_mul(1_000_003) ^ u64::from(a << 16 | b);
        }
        self.seen.push(batch.rows);
        match self.at {
            Some((s, Then::Fail)) if s == step => {
                return Err(StageError::Train {
                    source: "trainer failed".into(),
                })
            }
            Some((s, Then::Panic)) if s == step => panic!("trainer panicked"),
            Some((s, Then::Stop)) if s == step => return Ok(Flow::Stop),
            _ => {}
        }
        if self.slow && step % 2 == 1 {
            std::thread::sleep(Duration::from_millis(3));
        }
        let due = self.trainer.board.refresh_after(step);
        if let Some(refresh) = due.filter(|_| self.publish && step < self.total) {
            let board = &self.trainer.board;
            let images = board.pool(refresh);
            let store = &self.trainer.store;
            let embeddings = images
                .iter()
                .map(|i| embedding(&store.key(i.row as usize).name, i.row, self.digest as usize))
                .collect();
            let comparator = Comparator::NegativeDistance {
                distance: Distance::Euclidean,
            };
            let snapshot = Snapshot::new(refresh, images, embeddings, comparator).expect("fits");
            board.publish(snapshot);
        }
        Ok(Flow::Continue)
    }
}

impl Drop for FakeTrainerSink {
    fn drop(&mut self) {
        // As the real trainer's refresher does.
        self.trainer.board.close();
    }
}

type Outcome = Result<Vec<Vec<(u32, u32)>>, PipelineError>;

/// Runs the sampler into the stand-in trainer on the engine, failing the test instead of
/// hanging if the run does not end.
fn run_mining(
    capacity: usize,
    options: RunOptions,
    setup: impl FnOnce(&mut FakeTrainerSink) + Send + 'static,
) -> Outcome {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let fixture = Fixture::new(&[2, 3, 4, 2, 3, 5], &[2]);
        let source = fixture.source(hard(MiningMode::SemiHard, 2, 8), 8, 11);
        let mut sink = FakeTrainerSink::new(&source, &fixture);
        setup(&mut sink);
        let chain = Chain::start(SourceStage {
            name: "pair-batch".into(),
            capacity,
            source: Box::new(source),
        })
        .end("train", sink);
        let outcome = run(chain, &options).map(|(mut sink, _)| std::mem::take(&mut sink.seen));
        let _ = tx.send(outcome);
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the run ended instead of deadlocking")
}

#[test]
fn batches_do_not_depend_on_thread_timing_or_channel_sizes() {
    let quick = run_mining(1, RunOptions::default(), |_| {}).expect("runs");
    // 40 pairs in batches of 8 for 3 epochs.
    assert_eq!(quick.len(), 15);
    let slow = run_mining(4, RunOptions::default(), |s| s.slow = true).expect("runs");
    assert_eq!(quick, slow);
    let roomy = run_mining(64, RunOptions::default(), |_| {}).expect("runs");
    assert_eq!(quick, roomy);
}

#[test]
fn a_failing_or_panicking_trainer_ends_the_run_with_its_error() {
    // Refresh 0 is due after step 2; the trainer dies at step 2 while the sampler waits
    // for it (the channel holds one batch).
    let err =
        run_mining(1, RunOptions::default(), |s| s.at = Some((2, Then::Fail))).expect_err("fails");
    assert!(
        matches!(&err, PipelineError::Stage { stage, source: StageError::Train { .. } } if stage == "train"),
        "{err}"
    );
    let err = run_mining(1, RunOptions::default(), |s| s.at = Some((2, Then::Panic)))
        .expect_err("panics");
    assert!(matches!(err, PipelineError::Panicked { .. }), "{err}");
}

#[test]
fn early_stopping_while_the_sampler_waits_ends_the_run_cleanly() {
    let seen = run_mining(1, RunOptions::default(), |s| s.at = Some((2, Then::Stop)))
        .expect("a clean stop");
    assert_eq!(seen.len(), 2);
}

#[test]
fn ctrl_c_wakes_a_sampler_waiting_for_a_refresh_that_never_comes() {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        flag.store(true, Ordering::SeqCst);
    });
    let options = RunOptions {
        progress: None,
        interrupt: Some(interrupt),
    };
    let err = run_mining(1, options, |s| s.publish = false).expect_err("interrupted");
    assert!(matches!(err, PipelineError::Interrupted), "{err}");
}
