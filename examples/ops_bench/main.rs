//! Benchmark of the custom conv and pooling ops on the seed's best Siamese trunk.
//!
//! The trunk (Koch et al. 2015 style, 125x125 grayscale input): conv 1->8 k10, relu, pool,
//! conv 8->16 k7, relu, pool, conv 16->32 k4, relu, pool, conv 32->64 k4, relu, then a dense
//! layer of 2048 units on the flattened 64x8x8 output. It times every layer's forward and
//! backward kernels at a batch of 256 images (128 pairs), compares the convolutions with the
//! direct-loop reference, then times the whole trunk through dfdx's tape.
//!
//! Run: `cargo run --release --example ops_bench [-- BATCH [REPS [NAIVE_BATCH]]]`
//! (defaults 256, 3, 8); add `--features mimalloc` to use mimalloc as the global allocator.

mod trunk;

use std::time::Instant;

use twinflow::model::cpu::ops::{kernels, reference, Conv2dShape, Shape4};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One convolution of the trunk: `(in, out, kernel, pooled afterwards)`.
const TRUNK: [(usize, usize, usize, bool); 4] = [
    (1, 8, 10, true),
    (8, 16, 7, true),
    (16, 32, 4, true),
    (32, 64, 4, false),
];
const SIDE: usize = 125;
const DENSE: usize = 2048;
/// The seed's documented parameter count: trunk, dense 2048 and the 2048->1 distance head.
const DOCUMENTED_PARAMS: usize = 8_440_857;

/// Command-line settings.
struct Settings {
    batch: usize,
    reps: usize,
    naive_batch: usize,
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args().nth(i).map_or(default, |a| {
            a.parse().expect("arguments are positive integers")
        })
    };
    let s = Settings {
        batch: arg(1, 256),
        reps: arg(2, 3).max(1),
        naive_batch: arg(3, 8),
    };
    let shapes = trunk_shapes(s.batch);
    check_parameter_count(&shapes);
    let allocator = if cfg!(feature = "mimalloc") {
        "mimalloc"
    } else {
        "system"
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "batch {} images, best of {} runs, {} rayon threads, allocator {allocator}, cpu {}, \
         load average {}",
        s.batch,
        s.reps,
        rayon::current_num_threads(),
        cpu_features(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    );
    println!("GF/s = GFLOP per wall second; GF/s/cpu = per CPU second (per busy core)");
    println!(
        "{:<6} | {:>7} {:>6} {:>8} {:>6} {:>5} | {:>7} {:>6} {:>8} {:>6} {:>5}",
        "layer",
        "fwd ms",
        "GF/s",
        "GF/s/cpu",
        "naive",
        "x",
        "bwd ms",
        "GF/s",
        "GF/s/cpu",
        "naive",
        "x"
    );
    let layers = layer_table(&s, &shapes);
    trunk::trunk_table(&s, &shapes, layers);
}

/// The convolution geometries of the trunk at `batch`.
fn trunk_shapes(batch: usize) -> Vec<Conv2dShape> {
    let mut side = SIDE;
    let mut shapes = Vec::new();
    for (cin, cout, k, pool) in TRUNK {
        let g = Conv2dShape::new((batch, cin, side, side), (cout, cin, k, k), cout)
            .expect("the trunk's shapes fit");
        side = if pool {
            g.out_height() / 2
        } else {
            g.out_height()
        };
        shapes.push(g);
    }
    shapes
}

/// Features the dense layer sees: the last convolution's flattened output.
fn flat_features(shapes: &[Conv2dShape]) -> usize {
    let last = shapes.last().expect("non-empty trunk");
    last.out_sample()
}

/// Prints the model's parameter count and checks it against the seed's documented one.
fn check_parameter_count(shapes: &[Conv2dShape]) {
    let conv: usize = shapes.iter().map(|g| g.out_channels * (g.taps() + 1)).sum();
    let dense = flat_features(shapes) * DENSE + DENSE;
    let head = DENSE + 1;
    let total = conv + dense + head;
    println!(
        "parameters: conv {conv} + dense {dense} + head {head} = {total} (documented {DOCUMENTED_PARAMS})"
    );
    assert_eq!(
        total, DOCUMENTED_PARAMS,
        "trunk shapes disagree with the seed"
    );
}

/// The x86 vector extensions present (the kernels use AVX2+FMA where they are).
fn cpu_features() -> String {
    #[cfg(target_arch = "x86_64")]
    let has = [
        ("avx512f", is_x86_feature_detected!("avx512f")),
        ("avx2", is_x86_feature_detected!("avx2")),
        ("fma", is_x86_feature_detected!("fma")),
    ];
    #[cfg(not(target_arch = "x86_64"))]
    let has = [("non-x86", true)];
    has.iter()
        .filter(|h| h.1)
        .map(|h| h.0)
        .collect::<Vec<_>>()
        .join("+")
}

/// Seconds of CPU (user and system, all threads) this process has used.
fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` only writes the `rusage` struct it is given, which is plain data
    // and valid when zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A timing: the best wall time and the best CPU time of several runs, in seconds.
#[derive(Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

/// Best wall and CPU times of `reps` runs of `f`, after one warm-up run. Other processes
/// share the cores, so the CPU time (what the work itself costs) is reported beside the wall
/// time.
fn best_of(reps: usize, mut f: impl FnMut()) -> Timing {
    f();
    let mut best = Timing {
        wall: f64::INFINITY,
        cpu: f64::INFINITY,
    };
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        f();
        best.wall = best.wall.min(t.elapsed().as_secs_f64());
        best.cpu = best.cpu.min(cpu_seconds() - c);
    }
    best
}

/// `n` deterministic pseudo-random values in `[-0.5, 0.5)` (an LCG; quality is irrelevant).
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Times the kernels layer by layer; returns the summed forward and backward wall seconds
/// of the convolutions and poolings.
fn layer_table(s: &Settings, shapes: &[Conv2dShape]) -> (f64, f64) {
    let mut x = random(s.batch * SIDE * SIDE, 1);
    let (mut fwd_total, mut bwd_total) = (0.0, 0.0);
    for (i, g) in shapes.iter().enumerate() {
        let w: Vec<f32> = random(g.out_channels * g.taps(), 2)
            .iter()
            .map(|v| v * 0.1)
            .collect();
        let b = random(g.out_channels, 3);
        let (fwd, bwd) = conv_row(s, i, g, &x, &w, &b);
        fwd_total += fwd.wall;
        bwd_total += bwd.wall;
        let mut y = kernels::conv2d_forward(g, &x, &w, &b);
        y.iter_mut().for_each(|v| *v = v.max(0.0));
        x = if TRUNK[i].3 {
            let (pooled, fwd, bwd) = pool_row(s, i, g.output_shape(), &y);
            fwd_total += fwd.wall;
            bwd_total += bwd.wall;
            pooled
        } else {
            y
        };
    }
    println!(
        "{:<6} | {:>7.1} {:>29} | {:>7.1}",
        "sum",
        fwd_total * 1e3,
        "",
        bwd_total * 1e3
    );
    (fwd_total, bwd_total)
}

/// One half of a table row: time, GFLOP/s by wall and CPU time, the naive GFLOP/s and the
/// speed-up over it (wall time against the single-threaded naive loop).
fn row_half(flop: f64, t: Timing, naive: Option<f64>) -> String {
    let (naive_rate, ratio) = naive.map_or(("-".into(), "-".into()), |n| {
        (
            format!("{:.2}", flop / n / 1e9),
            format!("{:.0}", n / t.wall),
        )
    });
    format!(
        "{:>7.1} {:>6.1} {:>8.1} {:>6} {:>5}",
        t.wall * 1e3,
        flop / t.wall / 1e9,
        flop / t.cpu / 1e9,
        naive_rate,
        ratio
    )
}

/// Prints one convolution's row; returns its forward and backward timings. The first layer's
/// backward skips the input gradient, as in training.
fn conv_row(
    s: &Settings,
    i: usize,
    g: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> (Timing, Timing) {
    let with_dx = i > 0;
    let fwd_flop = 2.0 * g.macs() as f64;
    let bwd_flop = fwd_flop * if with_dx { 2.0 } else { 1.0 };
    let gy = random(g.batch * g.out_sample(), 4);
    let mut gx = vec![0.0f32; x.len()];
    let fwd = best_of(s.reps, || drop(kernels::conv2d_forward(g, x, w, b)));
    let bwd = best_of(s.reps, || {
        let gx = with_dx.then_some(gx.as_mut_slice());
        drop(kernels::conv2d_backward(g, x, w, &gy, gx));
    });
    let (naive_fwd, naive_bwd) = naive_conv(s, g, x, w, b, &gy);
    println!(
        "conv{:<2} | {} | {}",
        i + 1,
        row_half(fwd_flop, fwd, naive_fwd),
        row_half(bwd_flop, bwd, naive_bwd)
    );
    (fwd, bwd)
}

/// Wall seconds the direct-loop reference would take for the full batch, measured on
/// `naive_batch` samples and scaled; `None` when disabled with a naive batch of 0.
fn naive_conv(
    s: &Settings,
    g: &Conv2dShape,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    gy: &[f32],
) -> (Option<f64>, Option<f64>) {
    let nb = s.naive_batch.min(g.batch);
    if nb == 0 {
        return (None, None);
    }
    let small = Conv2dShape { batch: nb, ..*g };
    let (xs, gys) = (&x[..nb * g.in_sample()], &gy[..nb * g.out_sample()]);
    let scale = g.batch as f64 / nb as f64;
    let fwd = best_of(1, || drop(reference::conv2d_forward(&small, xs, w, b)));
    // The reference always computes dx; for the first layer that overstates its cost, so
    // that layer's ratio is an upper bound.
    let bwd = best_of(1, || drop(reference::conv2d_backward(&small, xs, w, gys)));
    (Some(fwd.wall * scale), Some(bwd.wall * scale))
}

/// Prints one pooling's row (memory throughput instead of FLOP/s); returns the pooled
/// output and the forward and backward timings.
fn pool_row(s: &Settings, i: usize, shape: Shape4, y: &[f32]) -> (Vec<f32>, Timing, Timing) {
    let (pooled, winners) = kernels::max_pool2d_forward(shape, y);
    let mut gx = vec![0.0f32; y.len()];
    let fwd = best_of(s.reps, || drop(kernels::max_pool2d_forward(shape, y)));
    let bwd = best_of(s.reps, || {
        kernels::max_pool2d_backward(shape, &winners, &pooled, &mut gx)
    });
    let bytes = (y.len() * 4 + pooled.len() * 5) as f64;
    let half = |t: Timing| format!("{:>7.1} {:>5.1}GB/s", t.wall * 1e3, bytes / t.wall / 1e9);
    println!(
        "pool{:<2} | {} | {:>18} {}",
        i + 1,
        half(fwd),
        "",
        half(bwd)
    );
    (pooled, fwd, bwd)
}
