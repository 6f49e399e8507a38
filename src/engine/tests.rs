//! Engine behaviour: order, errors, panics, interrupts and bounded memory.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::data::{ImageEntry, ImageKey};

/// Emits `n` file items numbered 0..n, counting how many are in flight.
struct Numbers {
    n: u32,
    in_flight: Arc<AtomicI64>,
}

impl Source<ImageEntry> for Numbers {
    fn len_hint(&self) -> Option<u64> {
        Some(u64::from(self.n))
    }

    fn run(
        &mut self,
        _ctx: &StageContext,
        out: &mut Emitter<'_, ImageEntry>,
    ) -> Result<(), StageError> {
        for i in 0..self.n {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            out.emit(file(i))?;
        }
        Ok(())
    }
}

fn file(i: u32) -> ImageEntry {
    ImageEntry {
        key: ImageKey {
            name: "N".into(),
            number: i,
        },
        path: format!("n/{i}.jpg").into(),
    }
}

fn number(item: &ImageEntry) -> u32 {
    item.key.number
}

/// Passes items on after a delay that varies by item, failing or panicking on request.
#[derive(Clone)]
struct Jitter {
    fail_at: Option<u32>,
    panic_at: Option<u32>,
    drop_odd: bool,
}

impl Transform<ImageEntry, ImageEntry> for Jitter {
    fn process(
        &mut self,
        item: ImageEntry,
        _ctx: &StageContext,
        out: &mut Vec<ImageEntry>,
    ) -> Result<(), StageError> {
        let i = number(&item);
        std::thread::sleep(Duration::from_micros(u64::from((i * 7919) % 5) * 100));
        if Some(i) == self.fail_at {
            return Err(StageError::Read {
                path: format!("n/{i}.jpg").into(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        assert!(Some(i) != self.panic_at, "boom at {i}");
        if !(self.drop_odd && i % 2 == 1) {
            out.push(item);
        }
        Ok(())
    }
}

/// Collects item numbers, optionally slowly, tracking the in-flight count.
struct Collect {
    seen: Vec<u32>,
    delay: Duration,
    in_flight: Arc<AtomicI64>,
    max_in_flight: i64,
    stop_after: Option<usize>,
}

impl Sink<ImageEntry> for Collect {
    fn consume(&mut self, item: ImageEntry, _ctx: &StageContext) -> Result<Flow, StageError> {
        std::thread::sleep(self.delay);
        self.max_in_flight = self
            .max_in_flight
            .max(self.in_flight.fetch_sub(1, Ordering::SeqCst));
        self.seen.push(number(&item));
        Ok(if Some(self.seen.len()) == self.stop_after {
            Flow::Stop
        } else {
            Flow::Continue
        })
    }
}

/// `n` numbers through `workers` jitter workers, not yet ended, and the in-flight counter.
fn pipe(
    n: u32,
    jitter: Jitter,
    workers: usize,
    capacity: usize,
) -> (Chain<ImageEntry>, Arc<AtomicI64>) {
    let in_flight = Arc::new(AtomicI64::new(0));
    let source = Numbers {
        n,
        in_flight: Arc::clone(&in_flight),
    };
    let chain = Chain::start(SourceStage {
        name: "numbers".into(),
        capacity,
        source: Box::new(source),
    })
    .then(jitters("jitter", &jitter, workers, capacity));
    (chain, in_flight)
}

fn jitters(
    name: &str,
    jitter: &Jitter,
    workers: usize,
    capacity: usize,
) -> TransformStage<ImageEntry, ImageEntry> {
    TransformStage {
        name: name.into(),
        capacity,
        workers: (0..workers)
            .map(|_| Box::new(jitter.clone()) as Box<dyn Transform<_, _>>)
            .collect(),
    }
}

fn collect(delay: Duration, in_flight: Arc<AtomicI64>) -> Collect {
    Collect {
        seen: Vec::new(),
        delay,
        in_flight,
        max_in_flight: 0,
        stop_after: None,
    }
}

fn chain(
    n: u32,
    jitter: Jitter,
    workers: usize,
    capacity: usize,
    delay: Duration,
) -> Ended<ImageEntry, Collect> {
    let (chain, in_flight) = pipe(n, jitter, workers, capacity);
    chain.end("collect", collect(delay, in_flight))
}

const PLAIN: Jitter = Jitter {
    fail_at: None,
    panic_at: None,
    drop_odd: false,
};

#[test]
fn parallel_workers_keep_order() {
    for workers in [1, 2, 3, 4] {
        let (sink, report) = run(
            chain(200, PLAIN, workers, 4, Duration::ZERO),
            &RunOptions::default(),
        )
        .expect("run");
        assert_eq!(
            sink.seen,
            (0..200).collect::<Vec<_>>(),
            "workers = {workers}"
        );
        assert_eq!(report.stages.len(), 3);
        assert_eq!(report.stages[1].items_in, 200);
        assert_eq!(report.stages[1].workers, workers);
    }
}

#[test]
fn two_parallel_stages_in_a_row_keep_order_through_their_relay() {
    let dropping = Jitter {
        drop_odd: true,
        ..PLAIN
    };
    for (first, second) in [(3, 2), (2, 3), (2, 1), (1, 2)] {
        let (c, in_flight) = pipe(120, dropping.clone(), first, 4);
        let c = c
            .then(jitters("second", &PLAIN, second, 3))
            .end("collect", collect(Duration::ZERO, in_flight));
        let (sink, report) = run(c, &RunOptions::default()).expect("run");
        let want: Vec<u32> = (0..120).filter(|i| i % 2 == 0).collect();
        assert_eq!(sink.seen, want, "{first} then {second} workers");
        assert_eq!(report.stages[2].items_in, 60);
        assert_eq!(report.stages[1].items_out, 60);
    }
}

#[test]
fn items_a_stage_drops_keep_the_rest_in_order() {
    let jitter = Jitter {
        drop_odd: true,
        ..PLAIN
    };
    let (sink, _) = run(
        chain(50, jitter, 3, 2, Duration::ZERO),
        &RunOptions::default(),
    )
    .expect("run");
    assert_eq!(
        sink.seen,
        (0..50).filter(|i| i % 2 == 0).collect::<Vec<_>>()
    );
}

#[test]
fn a_failing_stage_stops_the_pipeline_with_its_error() {
    for workers in [1, 3] {
        let start = Instant::now();
        let jitter = Jitter {
            fail_at: Some(30),
            ..PLAIN
        };
        let err = run(
            chain(100_000, jitter, workers, 4, Duration::ZERO),
            &RunOptions::default(),
        )
        .err()
        .expect("must fail");
        // The error names the stage, its source the file, the I/O error ends the chain once.
        assert_eq!(err.to_string(), "stage `jitter`");
        let msg = crate::errors::chain(&err);
        assert_eq!(
            msg,
            "stage `jitter`: cannot read n/30.jpg: entity not found"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "stopped promptly");
    }
}

#[test]
fn a_panicking_stage_is_an_error_not_a_crash() {
    let jitter = Jitter {
        panic_at: Some(5),
        ..PLAIN
    };
    let err = run(
        chain(1000, jitter, 2, 4, Duration::ZERO),
        &RunOptions::default(),
    )
    .err()
    .expect("must fail");
    assert!(
        matches!(&err, PipelineError::Panicked { stage, message } if stage == "jitter" && message.contains("boom"))
    );
}

#[test]
fn an_interrupt_stops_the_run() {
    let flag = Arc::new(AtomicBool::new(false));
    let options = RunOptions {
        progress: None,
        interrupt: Some(Arc::clone(&flag)),
    };
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::SeqCst);
    });
    let err = run(
        chain(1_000_000, PLAIN, 2, 4, Duration::from_micros(10)),
        &options,
    )
    .err()
    .expect("interrupted");
    setter.join().expect("setter");
    assert!(matches!(err, PipelineError::Interrupted), "{err}");
}

#[test]
fn a_slow_consumer_keeps_memory_bounded() {
    let (capacity, workers) = (3, 2);
    let (sink, report) = run(
        chain(300, PLAIN, workers, capacity, Duration::from_micros(300)),
        &RunOptions::default(),
    )
    .expect("run");
    assert_eq!(sink.seen.len(), 300);
    for stage in &report.stages {
        assert!(stage.max_queued <= stage.capacity as u64, "{stage:?}");
    }
    // Items between the source and the sink: two channels, each worker's in/out slot and the
    // one item each thread holds. Anything beyond that would be an unbounded queue.
    let bound = 2 * capacity + 4 * workers + 4;
    assert!(
        sink.max_in_flight <= bound as i64,
        "{} in flight > {bound}",
        sink.max_in_flight
    );
    assert!(
        report.stages[0].send_wait_s > 0.0,
        "the source was held back"
    );
}

#[test]
fn a_sink_can_stop_the_run_early_and_it_still_succeeds() {
    let start = Instant::now();
    let mut c = chain(1_000_000, PLAIN, 2, 4, Duration::ZERO);
    c.sink.stop_after = Some(25);
    let (sink, _) = run(c, &RunOptions::default()).expect("an early stop is a success");
    assert_eq!(sink.seen, (0..25).collect::<Vec<_>>());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "upstream stopped promptly"
    );
}
