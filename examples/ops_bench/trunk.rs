//! The whole trunk, and the dense layer after it, through dfdx's tape: what training sees,
//! including dfdx's own relu, reshape, matmul and sum and the tape's bookkeeping.

use dfdx::prelude::*;
use twinflow::model::cpu::ops::{
    dense as dense_op, max_pool2d, try_conv2d, try_conv_block, Conv2dShape, InputGrad, Shape4,
};

use crate::{best_of, flat_features, random, Settings, Timing, DENSE, SIDE, TRUNK};

/// A convolution's weights and bias.
type ConvParams = (Tensor<Shape4, f32, Cpu>, Tensor<(usize,), f32, Cpu>);

/// Parameters of the trunk and the dense layer as dfdx tensors.
struct Params {
    convs: Vec<ConvParams>,
    dense_w: Tensor<(usize, usize), f32, Cpu>,
    dense_b: Tensor<(usize,), f32, Cpu>,
}

/// Random parameters for the trunk and the dense layer.
fn params(dev: &Cpu, shapes: &[Conv2dShape]) -> Params {
    let convs = shapes
        .iter()
        .map(|g| {
            let w = random(g.out_channels * g.taps(), 5)
                .iter()
                .map(|v| v * 0.1)
                .collect();
            let w = dev.tensor_from_vec(w, (g.out_channels, g.in_channels, g.kernel, g.kernel));
            (
                w,
                dev.tensor_from_vec(random(g.out_channels, 6), (g.out_channels,)),
            )
        })
        .collect();
    let f = flat_features(shapes);
    let dense_w = dev.tensor_from_vec(random(f * DENSE, 7), (f, DENSE));
    let dense_b = dev.tensor_from_vec(random(DENSE, 8), (DENSE,));
    Params {
        convs,
        dense_w,
        dense_b,
    }
}

/// The trunk through dfdx: convolutions, relu and pooling; the first layer skips `dx`.
///
/// With `relu_after_pool` the relu runs after the pooling: the same function (relu is
/// monotone, so it commutes with max), on a quarter of the elements.
fn trunk<T: Tape<f32, Cpu> + Merge<NoneTape>>(
    x: Tensor<Shape4, f32, Cpu, T>,
    p: &Params,
    relu_after_pool: bool,
) -> Tensor<Shape4, f32, Cpu, T> {
    let mut h = x;
    for (i, (w, b)) in p.convs.iter().enumerate() {
        let input_grad = if i == 0 {
            InputGrad::Skip
        } else {
            InputGrad::Compute
        };
        h = try_conv2d(h, w.clone(), b.clone(), input_grad).expect("trunk shapes fit");
        h = match (TRUNK[i].3, relu_after_pool) {
            (true, true) => max_pool2d(h).relu(),
            (true, false) => max_pool2d(h.relu()),
            (false, _) => h.relu(),
        };
    }
    h
}

/// The trunk as the network runs it: each block (convolution, relu, pooling) one fused op.
fn fused_trunk<T: Tape<f32, Cpu> + Merge<NoneTape>>(
    x: Tensor<Shape4, f32, Cpu, T>,
    p: &Params,
) -> Tensor<Shape4, f32, Cpu, T> {
    let mut h = x;
    for (i, (w, b)) in p.convs.iter().enumerate() {
        let input_grad = if i == 0 {
            InputGrad::Skip
        } else {
            InputGrad::Compute
        };
        let wb = (w.clone(), b.clone());
        h = try_conv_block(h, wb, None, (TRUNK[i].3, None), input_grad).expect("trunk shapes fit");
    }
    h
}

/// The dense layer through dfdx's matmul (runtime shapes) and relu.
fn dense<T: Tape<f32, Cpu> + Merge<NoneTape>>(
    h: Tensor<Shape4, f32, Cpu, T>,
    p: &Params,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    let n = h.shape().0;
    let flat = h.reshape_like(&(n, p.dense_w.shape().0));
    (flat.matmul(p.dense_w.clone()) + p.dense_b.clone().broadcast_like::<_, Axis<0>>(&(n, DENSE)))
        .relu()
}

/// The dense layer as the network computes it: the fused `dense` op (gemm 0.19), and relu.
fn dense_fused<T: Tape<f32, Cpu> + Merge<NoneTape>>(
    h: Tensor<Shape4, f32, Cpu, T>,
    p: &Params,
) -> Tensor<(usize, usize), f32, Cpu, T> {
    let n = h.shape().0;
    let flat = h.reshape_like(&(n, p.dense_w.shape().0));
    dense_op(flat, p.dense_w.clone(), p.dense_b.clone()).relu()
}

/// Times the whole trunk (and the dense layer) through dfdx's tape.
pub(crate) fn trunk_table(s: &Settings, shapes: &[Conv2dShape], (fwd_k, bwd_k): (f64, f64)) {
    let dev = Cpu::default();
    let p = params(&dev, shapes);
    let x = dev.tensor_from_vec(random(s.batch * SIDE * SIDE, 9), (s.batch, 1, SIDE, SIDE));
    let conv_fwd: f64 = shapes.iter().map(|g| 2.0 * g.macs() as f64).sum();
    let conv_train = 3.0 * conv_fwd - 2.0 * shapes[0].macs() as f64;
    let dense_fwd = 2.0 * (s.batch * flat_features(shapes) * DENSE) as f64;
    let fwd = best_of(s.reps, || drop(trunk(x.clone(), &p, false)));
    let train = best_of(s.reps, || {
        drop(
            trunk(x.leaky_trace(), &p, false)
                .sum::<Rank0, _>()
                .backward(),
        );
    });
    let swapped = best_of(s.reps, || {
        drop(
            trunk(x.leaky_trace(), &p, true)
                .sum::<Rank0, _>()
                .backward(),
        );
    });
    let blocks = best_of(s.reps, || {
        drop(
            fused_trunk(x.leaky_trace(), &p)
                .sum::<Rank0, _>()
                .backward(),
        );
    });
    let full = best_of(s.reps, || {
        drop(
            dense(trunk(x.leaky_trace(), &p, false), &p)
                .sum::<Rank0, _>()
                .backward(),
        );
    });
    let fused = best_of(s.reps, || {
        drop(
            dense_fused(trunk(x.leaky_trace(), &p, false), &p)
                .sum::<Rank0, _>()
                .backward(),
        );
    });
    // The dense layer alone, on the trunk's output shape: forward, backward (all three
    // gradients) and the tape, without the trunk's noise around it.
    let flat = flat_features(shapes);
    let h = dev.tensor_from_vec(random(s.batch * flat, 10), (s.batch, flat, 1, 1));
    let alone_matmul = best_of(s.reps, || {
        drop(dense(h.leaky_trace(), &p).sum::<Rank0, _>().backward());
    });
    let alone_fused = best_of(s.reps, || {
        drop(
            dense_fused(h.leaky_trace(), &p)
                .sum::<Rank0, _>()
                .backward(),
        );
    });
    let pairs = s.batch as f64 / 2.0;
    let total = conv_train + 3.0 * dense_fwd;
    let line = |what: &str, flop: f64, t: Timing| {
        println!(
            "  {what:<26} {:>8.1} ms {:>6.1} GF/s {:>6.1} GF/s/cpu {:>6.0} pairs/s",
            t.wall * 1e3,
            flop / t.wall / 1e9,
            flop / t.cpu / 1e9,
            pairs / t.wall
        );
    };
    println!("\nthrough dfdx's tape (adds dfdx relu, reshape, sum and the tape):");
    println!(
        "  kernels alone, trunk fwd+bwd: {:.1} ms",
        (fwd_k + bwd_k) * 1e3
    );
    line("trunk forward", conv_fwd, fwd);
    line("trunk forward+backward", conv_train, train);
    line("  same, relu after pool", conv_train, swapped);
    line("  same, fused conv blocks", conv_train, blocks);
    line("+ dense 2048 (dfdx matmul)", total, full);
    line("+ dense 2048 (dense op)", total, fused);
    line("dense 2048 alone (matmul)", 3.0 * dense_fwd, alone_matmul);
    line("dense 2048 alone (op)", 3.0 * dense_fwd, alone_fused);
    println!("  ({:.1} MFLOP per training pair)", total / pairs / 1e6);
}
