//! Tests of `conv_block` against the separate ops in a row, dfdx's dropout included (to the
//! bit), and central differences.

use dfdx::prelude::*;

use super::super::gradcheck::{assert_grads_close, numeric_grad, random_vec};
use super::super::{max_pool2d, try_batch_norm2d, try_conv2d, RunningStats};
use super::*;

const INPUT: Shape4 = (3, 2, 9, 8);
const KERNEL: Shape4 = (4, 2, 3, 3);
const EPS: f64 = 1e-3;

/// The bits of each value, so that equality also tells -0 from +0.
fn bits<E: Into<f64> + Copy>(v: &[E]) -> Vec<u64> {
    v.iter().map(|&x| x.into().to_bits()).collect()
}

/// Batch norm's setting in a test: none, batch statistics or running statistics.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Norm {
    None,
    Train,
    Infer,
}

/// The inputs: `x`, `w`, `b`, `gamma`, `beta`, and the weights `r` of the loss
/// `sum(out * r)`.
struct Problem {
    x: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    gamma: Vec<f64>,
    beta: Vec<f64>,
    r: Vec<f64>,
}

fn problem(pool: bool) -> Problem {
    let g = Conv2dShape::new(INPUT, KERNEL, KERNEL.0).unwrap();
    let out = epilogue::output_shape(g.output_shape(), pool);
    Problem {
        x: random_vec(60, g.batch * g.in_sample()),
        w: random_vec(61, g.out_channels * g.taps()),
        b: random_vec(62, g.out_channels),
        gamma: random_vec(63, g.out_channels),
        beta: random_vec(64, g.out_channels),
        r: random_vec(65, out.0 * out.1 * out.2 * out.3),
    }
}

/// Non-trivial running statistics, one entry per output channel.
fn running() -> RunningStats<f64> {
    RunningStats {
        mean: vec![0.3, -0.2, 0.1, 0.0],
        var: vec![0.5, 2.0, 1.0, 0.1],
    }
}

/// Batch norm's mode for `norm`: training updates `stats` (momentum 0.9), inference reads
/// `frozen`.
fn mode_of<'a>(
    norm: Norm,
    stats: &'a mut RunningStats<f64>,
    frozen: &'a RunningStats<f64>,
) -> Option<BatchNormMode<'a, f64>> {
    match norm {
        Norm::Train => Some(BatchNormMode::Train {
            stats,
            momentum: 0.9,
        }),
        Norm::Infer => Some(BatchNormMode::Infer(frozen)),
        Norm::None => None,
    }
}

/// The seed of every test device: dropout draws its mask from the device's generator.
const SEED: u64 = 9;

/// Output, loss gradients `[dx, dw, db, dgamma, dbeta]` and the running statistics after
/// the pass, through the fused op (`fused`) or the separate ops.
fn run(
    p: &Problem,
    norm: Norm,
    (pool, dropout): (bool, Option<f64>),
    grad: InputGrad,
    fused: bool,
) -> (Vec<f64>, [Vec<f64>; 5], RunningStats<f64>) {
    let dev = Cpu::seed_from_u64(SEED);
    let x = dev.tensor_from_vec(p.x.clone(), INPUT);
    let w = dev.tensor_from_vec(p.w.clone(), KERNEL);
    let b = dev.tensor_from_vec(p.b.clone(), (KERNEL.0,));
    let gamma = dev.tensor_from_vec(p.gamma.clone(), (KERNEL.0,));
    let beta = dev.tensor_from_vec(p.beta.clone(), (KERNEL.0,));
    let mut stats = running();
    let frozen = running();
    let mode = mode_of(norm, &mut stats, &frozen);
    let y = if fused {
        let norm = mode.map(|mode| BlockNorm {
            gamma: gamma.clone(),
            beta: beta.clone(),
            mode,
            eps: EPS,
        });
        let wb = (w.clone(), b.clone());
        try_conv_block(x.leaky_trace(), wb, norm, (pool, dropout), grad).unwrap()
    } else {
        let mut y = try_conv2d(x.leaky_trace(), w.clone(), b.clone(), grad).unwrap();
        if let Some(mode) = mode {
            y = try_batch_norm2d(y, gamma.clone(), beta.clone(), mode, EPS).unwrap();
        }
        if pool {
            y = max_pool2d(y);
        }
        y = y.relu();
        if let Some(p) = dropout {
            y = y.dropout(p);
        }
        y
    };
    let values = y.as_vec();
    let out_shape = *y.shape();
    let mut grads = (y * dev.tensor_from_vec(p.r.clone(), out_shape))
        .sum::<Rank0, _>()
        .backward();
    let mut grad_of = |t: &Tensor<(usize,), f64, Cpu>| grads.get_or_alloc_mut(t).unwrap().to_vec();
    let (db, dgamma, dbeta) = (grad_of(&b), grad_of(&gamma), grad_of(&beta));
    let dx = grads.get_or_alloc_mut(&x).unwrap().to_vec();
    let dw = grads.get_or_alloc_mut(&w).unwrap().to_vec();
    (values, [dx, dw, db, dgamma, dbeta], stats)
}

/// Whether `a` and `b` agree to `tol` relative to the largest magnitude in `b`, or
/// absolutely where that is below 1 (the bias gradient under batch norm is 0 up to
/// rounding).
fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    let scale = b.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * scale)
}

/// Every combination gives the separate ops' values and running statistics to the bit, in
/// f64, and their gradients to the bit without batch norm, to rounding with it (its sums
/// run in another order); the network's f32 is checked in `f32_matches_the_separate_ops`.
/// With dropout the masks are dfdx's own: the same seed, drawn at the same point.
#[test]
fn matches_the_separate_ops() {
    for pool in [true, false] {
        let p = problem(pool);
        for (norm, dropout) in [
            (Norm::None, None),
            (Norm::Train, None),
            (Norm::Infer, None),
            (Norm::None, Some(0.3)),
            (Norm::Train, Some(0.55)),
        ] {
            for grad in [InputGrad::Compute, InputGrad::Skip] {
                let fused = run(&p, norm, (pool, dropout), grad, true);
                let separate = run(&p, norm, (pool, dropout), grad, false);
                let what = format!("pool {pool}, {norm:?}, dropout {dropout:?}, {grad:?}");
                assert_eq!(bits(&fused.0), bits(&separate.0), "values, {what}");
                for (name, (a, b)) in ["dx", "dw", "db", "dgamma", "dbeta"]
                    .iter()
                    .zip(fused.1.iter().zip(&separate.1))
                {
                    if norm == Norm::None {
                        assert_eq!(bits(a), bits(b), "{name}, {what}");
                    } else {
                        assert!(close(a, b, 1e-13), "{name}, {what}: {a:?} vs {b:?}");
                    }
                }
                assert_eq!(fused.2, separate.2, "running statistics, {what}");
            }
        }
    }
}

/// In f32 too: values and running statistics to the bit, gradients to f32's rounding.
#[test]
fn f32_matches_the_separate_ops() {
    let dev = Cpu::default();
    let p = problem(true);
    let f32s = |v: &[f64]| -> Vec<f32> { v.iter().map(|&x| x as f32).collect() };
    let x = dev.tensor_from_vec(f32s(&p.x), INPUT);
    let w = dev.tensor_from_vec(f32s(&p.w), KERNEL);
    let b = dev.tensor_from_vec(f32s(&p.b), (KERNEL.0,));
    let gamma = dev.tensor_from_vec(f32s(&p.gamma), (KERNEL.0,));
    let beta = dev.tensor_from_vec(f32s(&p.beta), (KERNEL.0,));
    let r = dev.tensor_from_vec(f32s(&p.r), (3, 4, 3, 3));
    let mut results = Vec::new();
    for fused in [true, false] {
        let mut stats = RunningStats::new(KERNEL.0);
        let mode = BatchNormMode::Train {
            stats: &mut stats,
            momentum: 0.99,
        };
        let y = if fused {
            let norm = BlockNorm {
                gamma: gamma.clone(),
                beta: beta.clone(),
                mode,
                eps: 1e-3,
            };
            let wb = (w.clone(), b.clone());
            let grad = InputGrad::Compute;
            try_conv_block(x.leaky_trace(), wb, Some(norm), (true, None), grad).unwrap()
        } else {
            let y = try_conv2d(x.leaky_trace(), w.clone(), b.clone(), InputGrad::Compute);
            let y = try_batch_norm2d(y.unwrap(), gamma.clone(), beta.clone(), mode, 1e-3);
            max_pool2d(y.unwrap()).relu()
        };
        let values = bits(&y.as_vec());
        let grads = (y * r.clone()).sum::<Rank0, _>().backward();
        let f64s = |v: Vec<f32>| -> Vec<f64> { v.into_iter().map(f64::from).collect() };
        let all = [grads.get(&x), grads.get(&w)].map(|t| f64s(t.as_vec()));
        let params = [&b, &gamma, &beta].map(|t| f64s(grads.get(t).as_vec()));
        let stats = [bits(&stats.mean), bits(&stats.var)];
        results.push((values, all, params, stats));
    }
    let (fused, separate) = (&results[0], &results[1]);
    assert!(
        fused.0 == separate.0,
        "fused and separate f32 values differ"
    );
    assert!(fused.3 == separate.3, "running statistics differ");
    let grads = |r: &(_, [Vec<f64>; 2], [Vec<f64>; 3], _)| {
        r.1.iter().chain(&r.2).cloned().collect::<Vec<_>>()
    };
    for (i, (a, b)) in grads(fused).iter().zip(&grads(separate)).enumerate() {
        assert!(close(a, b, 1e-5), "gradient {i}: {a:?} vs {b:?}");
    }
}

/// Picks one of a problem's inputs.
type Field = fn(&mut Problem) -> &mut Vec<f64>;

/// The loss `sum(conv_block(..) * r)` without a tape, for central differences (a fresh
/// device each time, so dropout draws the same mask).
fn loss(p: &Problem, norm: Norm, steps: (bool, Option<f64>)) -> f64 {
    let dev = Cpu::seed_from_u64(SEED);
    let mut stats = running();
    let frozen = running();
    let mode = mode_of(norm, &mut stats, &frozen);
    let norm = mode.map(|mode| BlockNorm {
        gamma: dev.tensor_from_vec(p.gamma.clone(), (KERNEL.0,)),
        beta: dev.tensor_from_vec(p.beta.clone(), (KERNEL.0,)),
        mode,
        eps: EPS,
    });
    let x = dev.tensor_from_vec(p.x.clone(), INPUT);
    let wb = (
        dev.tensor_from_vec(p.w.clone(), KERNEL),
        dev.tensor_from_vec(p.b.clone(), (KERNEL.0,)),
    );
    let y = try_conv_block(x, wb, norm, steps, InputGrad::Compute).unwrap();
    y.as_vec().iter().zip(&p.r).map(|(a, b)| a * b).sum()
}

#[test]
fn gradients_match_central_differences() {
    for (norm, pool, dropout) in [
        (Norm::Train, true, None),
        (Norm::None, false, None),
        (Norm::Infer, true, Some(0.4)),
    ] {
        let p = problem(pool);
        let (_, grads, _) = run(&p, norm, (pool, dropout), InputGrad::Compute, true);
        let what = format!("{norm:?}, pool {pool}, dropout {dropout:?}");
        let probes: [(&str, Field); 5] = [
            ("dx", |p| &mut p.x),
            ("dw", |p| &mut p.w),
            ("db", |p| &mut p.b),
            ("dgamma", |p| &mut p.gamma),
            ("dbeta", |p| &mut p.beta),
        ];
        for ((name, field), analytic) in probes.iter().zip(&grads) {
            let mut probe = problem(pool);
            let at = field(&mut probe).clone();
            let numeric = numeric_grad(&at, 1e-6, |v| {
                *field(&mut probe) = v.to_vec();
                loss(&probe, norm, (pool, dropout))
            });
            if norm == Norm::None && ["dgamma", "dbeta"].contains(name) {
                assert!(
                    analytic.iter().all(|&g| g == 0.0),
                    "{name} without batch norm"
                );
                continue;
            }
            assert_grads_close(&format!("{name}, {what}"), analytic, &numeric, 1e-5);
        }
    }
}

#[test]
fn a_map_too_small_to_pool_and_wrong_channels_are_errors() {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, Cpu> = dev.zeros_like(&(1, 1, 3, 5));
    let w: Tensor<Shape4, f32, Cpu> = dev.zeros_like(&(2, 1, 3, 3));
    let b: Tensor<(usize,), f32, Cpu> = dev.zeros_like(&(2,));
    let err = try_conv_block(
        x.clone(),
        (w.clone(), b.clone()),
        None,
        (true, None),
        InputGrad::Skip,
    );
    assert!(
        matches!(err, Err(OpsError::InputTooSmall { height: 1, .. })),
        "{err:?}"
    );
    let stats = RunningStats::new(3);
    let norm = BlockNorm {
        gamma: dev.ones_like(&(2,)),
        beta: dev.zeros_like(&(2,)),
        mode: BatchNormMode::Infer(&stats),
        eps: 1e-3,
    };
    let err = try_conv_block(x, (w, b), Some(norm), (false, None), InputGrad::Skip);
    assert!(
        matches!(
            err,
            Err(OpsError::ChannelMismatch {
                input: 2,
                kernel: 3,
                ..
            })
        ),
        "{err:?}"
    );
}
