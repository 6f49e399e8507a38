//! Tests of `batch_norm2d` against its definition and central differences.

use dfdx::prelude::*;

use super::super::gradcheck::{assert_all_close, assert_grads_close, numeric_grad, random_vec};
use super::*;

const SHAPE: Shape4 = (3, 2, 3, 4);
const EPS: f64 = 1e-3;

/// `batch_norm2d` on f64 inputs without a tape: the output values.
fn run(x: &[f64], gamma: &[f64], beta: &[f64], mode: BatchNormMode<'_, f64>) -> Vec<f64> {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(x.to_vec(), SHAPE);
    let gamma = dev.tensor_from_vec(gamma.to_vec(), (SHAPE.1,));
    let beta = dev.tensor_from_vec(beta.to_vec(), (SHAPE.1,));
    try_batch_norm2d(x, gamma, beta, mode, EPS)
        .unwrap()
        .as_vec()
}

/// Gradients `(dx, dgamma, dbeta)` of `sum(batch_norm2d(..) * r)` through dfdx's tape.
fn tape_grads(x: &[f64], gamma: &[f64], beta: &[f64], r: &[f64], train: bool) -> [Vec<f64>; 3] {
    let dev = Cpu::default();
    let xt = dev.tensor_from_vec(x.to_vec(), SHAPE);
    let gt = dev.tensor_from_vec(gamma.to_vec(), (SHAPE.1,));
    let bt = dev.tensor_from_vec(beta.to_vec(), (SHAPE.1,));
    let mut stats = running();
    let mode = if train {
        BatchNormMode::Train {
            stats: &mut stats,
            momentum: 0.9,
        }
    } else {
        BatchNormMode::Infer(&stats)
    };
    let y = try_batch_norm2d(xt.leaky_trace(), gt.clone(), bt.clone(), mode, EPS).unwrap();
    let grads = (y * dev.tensor_from_vec(r.to_vec(), SHAPE))
        .sum::<Rank0, _>()
        .backward();
    [
        grads.get(&xt).as_vec(),
        grads.get(&gt).as_vec(),
        grads.get(&bt).as_vec(),
    ]
}

/// Non-trivial running statistics for inference-mode tests.
fn running() -> RunningStats<f64> {
    RunningStats {
        mean: vec![0.3, -0.2],
        var: vec![0.5, 2.0],
    }
}

fn inputs() -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = SHAPE.0 * SHAPE.1 * SHAPE.2 * SHAPE.3;
    (
        random_vec(40, n),
        vec![1.5, -0.7],
        vec![0.2, 0.4],
        random_vec(41, n),
    )
}

#[test]
fn training_normalises_with_batch_stats_and_moves_running_stats() {
    let (x, gamma, beta, _) = inputs();
    let mut stats = RunningStats::new(2);
    let y = run(
        &x,
        &gamma,
        &beta,
        BatchNormMode::Train {
            stats: &mut stats,
            momentum: 0.9,
        },
    );
    let plane = SHAPE.2 * SHAPE.3;
    for c in 0..2 {
        let vals: Vec<f64> = (0..SHAPE.0)
            .flat_map(|n| x[(n * 2 + c) * plane..][..plane].to_vec())
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!((stats.mean[c] - 0.1 * mean).abs() < 1e-12);
        assert!((stats.var[c] - (0.9 + 0.1 * var)).abs() < 1e-12);
        for n in 0..SHAPE.0 {
            let at = (n * 2 + c) * plane;
            let want: Vec<f64> = x[at..at + plane]
                .iter()
                .map(|v| gamma[c] * (v - mean) / (var + EPS).sqrt() + beta[c])
                .collect();
            assert_all_close("y", &y[at..at + plane], &want, 1e-12);
        }
    }
}

#[test]
fn inference_uses_running_stats() {
    let (x, gamma, beta, _) = inputs();
    let stats = running();
    let y = run(&x, &gamma, &beta, BatchNormMode::Infer(&stats));
    let plane = SHAPE.2 * SHAPE.3;
    let want: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i / plane % 2;
            gamma[c] * (v - stats.mean[c]) / (stats.var[c] + EPS).sqrt() + beta[c]
        })
        .collect();
    assert_all_close("y", &y, &want, 1e-12);
}

#[test]
fn gradients_match_central_differences() {
    let (x, gamma, beta, r) = inputs();
    for train in [true, false] {
        let loss = |x: &[f64], g: &[f64], b: &[f64]| -> f64 {
            let mut stats = running();
            let mode = if train {
                BatchNormMode::Train {
                    stats: &mut stats,
                    momentum: 0.9,
                }
            } else {
                BatchNormMode::Infer(&stats)
            };
            run(x, g, b, mode).iter().zip(&r).map(|(y, r)| y * r).sum()
        };
        let [dx, dg, db] = tape_grads(&x, &gamma, &beta, &r, train);
        let what = if train { "train" } else { "infer" };
        let num = numeric_grad(&x, 1e-6, |x| loss(x, &gamma, &beta));
        assert_grads_close(&format!("{what} dx"), &dx, &num, 1e-6);
        let num = numeric_grad(&gamma, 1e-6, |g| loss(&x, g, &beta));
        assert_grads_close(&format!("{what} dgamma"), &dg, &num, 1e-6);
        let num = numeric_grad(&beta, 1e-6, |b| loss(&x, &gamma, b));
        assert_grads_close(&format!("{what} dbeta"), &db, &num, 1e-6);
    }
}

#[test]
fn channel_mismatch_is_an_error() {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, Cpu> = dev.zeros_like(&(1, 3, 2, 2));
    let gamma: Tensor<(usize,), f32, Cpu> = dev.ones_like(&(3,));
    let beta: Tensor<(usize,), f32, Cpu> = dev.zeros_like(&(3,));
    let stats = RunningStats::new(2);
    let err = try_batch_norm2d(x, gamma, beta, BatchNormMode::Infer(&stats), 1e-3).unwrap_err();
    assert!(
        matches!(
            err,
            OpsError::ChannelMismatch {
                input: 3,
                kernel: 2,
                ..
            }
        ),
        "{err}"
    );
}

/// The lane sums on every path equal the portable loop's to the bit, each term, with a
/// ragged tail.
#[test]
fn lane_sums_match_on_every_path() {
    let a: Vec<f32> = random_vec(61, 1000).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = random_vec(62, 1000).iter().map(|&v| v as f32).collect();
    for term in [Term::Value, Term::SquaredDeviation(0.1), Term::Product(&b)] {
        let want = lane_sum(Isa::Scalar, &a[..997], term);
        for isa in Isa::available() {
            let got = lane_sum(isa, &a[..997], term);
            assert_eq!(got.to_bits(), want.to_bits(), "{isa:?}");
        }
    }
}
