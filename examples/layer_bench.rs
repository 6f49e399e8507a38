//! Times each convolution of `best.ron`'s trunk on its own: the forward pass, the weight
//! gradient alone, and the input gradient (the backward pass with it, less the weight
//! gradient), as GFLOP per wall second on the kernels' instruction-set path.
//!
//! The trunk at 64x64 input: conv 1->32 k5, pool, 32->64 k3, pool, 64->128 k3, pool,
//! 128->128 k3. Best of 7 runs after one warm-up.
//!
//! Run: `cargo run --release --example layer_bench [-- IMAGES]` (default 64, two per pair);
//! `LAYER=N` times layer N only.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use twinflow::model::cpu::ops::{kernels, Conv2dShape};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `(in, out, kernel, input side)` of each convolution.
const TRUNK: [(usize, usize, usize, usize); 4] = [
    (1, 32, 5, 64),
    (32, 64, 3, 30),
    (64, 128, 3, 14),
    (128, 128, 3, 6),
];

/// `n` values uniform in `[-0.5, 0.5)`, the same for the same seed.
fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-0.5..0.5)).collect()
}

/// The best wall time of 7 runs of `f`, after one warm-up run.
fn best(mut f: impl FnMut()) -> f64 {
    f();
    (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let images: usize = std::env::args()
        .nth(1)
        .map_or(64, |a| a.parse().expect("IMAGES is a positive integer"));
    let only: Option<usize> = std::env::var("LAYER").ok().and_then(|v| v.parse().ok());
    println!("{images} images; ms and GFLOP/s (wall) per layer, best of 7");
    for (i, &(cin, cout, k, side)) in TRUNK.iter().enumerate() {
        if only.is_some_and(|l| l != i + 1) {
            continue;
        }
        let g = Conv2dShape::new((images, cin, side, side), (cout, cin, k, k), cout)
            .expect("the trunk's shapes fit");
        let x = random(images * g.in_sample(), 1);
        let w = random(cout * g.taps(), 2);
        let b = random(cout, 3);
        let gy = random(images * g.out_sample(), 4);
        let mut gx = vec![0f32; x.len()];
        let flops = 2.0 * g.macs() as f64;
        let fwd = best(|| drop(kernels::conv2d_forward(&g, &x, &w, &b)));
        let wgrad = best(|| drop(kernels::conv2d_backward(&g, &x, &w, &gy, None)));
        let both = best(|| drop(kernels::conv2d_backward(&g, &x, &w, &gy, Some(&mut gx))));
        let igrad = (both - wgrad).max(1e-9);
        let rate = |s: f64| flops / s / 1e9;
        println!(
            "conv{} forward {:6.2} ms {:4.0} | weight grad {:6.2} ms {:4.0} | input grad {:6.2} ms {:4.0}",
            i + 1,
            fwd * 1e3,
            rate(fwd),
            wgrad * 1e3,
            rate(wgrad),
            igrad * 1e3,
            rate(igrad)
        );
    }
}
