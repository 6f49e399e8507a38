//! Convolution kernels on plain slices: im2col plus GEMM, batched over chunks of samples.
//!
//! The batch is cut into one contiguous group per rayon thread; each group walks its samples
//! in chunks sized so the GEMM's long side (`samples * pixels`) is a few thousand, which keeps
//! late layers with tiny feature maps (8x8) efficient, and reuses one scratch set per group.
//!
//! GEMM shapes, with `q` ranging over a chunk's `samples * pixels` output positions:
//! - forward: `Y[q, o] = sum_kk col[kk, q] * W[o, kk]`, then scatter to NCHW adding the bias;
//! - weights: `dW[o, kk] += sum_q col[kk, q] * dY[o, q]` (reduction over the whole chunk);
//! - input: `dcol[kk, q] = sum_o W[o, kk] * dY[o, q]`, then col2im adds it onto `dx`.

use rayon::prelude::*;

use super::super::im2col::{col2im_add, im2col};
use super::super::linalg::{matmul, MatMut, MatRef};
use super::super::{gemm_parallelism, samples_per_group, Real};
use super::Conv2dShape;

/// GEMM rows wanted per chunk; measured with `examples/ops_bench.rs`.
const TARGET_CHUNK_POSITIONS: usize = 4096;

/// Samples per chunk for a group of `group` samples.
fn chunk_samples(g: &Conv2dShape, group: usize) -> usize {
    TARGET_CHUNK_POSITIONS
        .div_ceil(g.pixels())
        .clamp(1, group.max(1))
}

/// Forward pass: returns the `(batch, out, oh, ow)` output of `x` convolved with `w` plus `b`.
pub(crate) fn forward<E: Real>(g: &Conv2dShape, x: &[E], w: &[E], b: &[E]) -> Vec<E> {
    let mut y = vec![E::default(); g.batch * g.out_sample()];
    let group = samples_per_group(g.batch);
    let par = gemm_parallelism(g.batch.div_ceil(group));
    y.par_chunks_mut(group * g.out_sample())
        .zip(x.par_chunks(group * g.in_sample()))
        .for_each(|(yg, xg)| forward_group(g, xg, w, b, yg, par));
    y
}

/// Forward pass over one thread's group of samples.
fn forward_group<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    w: &[E],
    b: &[E],
    y: &mut [E],
    par: gemm::Parallelism,
) {
    let (n, p, taps, outs) = (
        y.len() / g.out_sample(),
        g.pixels(),
        g.taps(),
        g.out_channels,
    );
    let chunk = chunk_samples(g, n);
    let mut col = vec![E::default(); taps * chunk * p];
    let mut tmp = vec![E::default(); outs * chunk * p];
    for s0 in (0..n).step_by(chunk) {
        let s = chunk.min(n - s0);
        let sp = s * p;
        let col = &mut col[..taps * sp];
        im2col(g, &x[s0 * g.in_sample()..(s0 + s) * g.in_sample()], s, col);
        let tmp = &mut tmp[..outs * sp];
        matmul(
            MatMut {
                data: tmp,
                rows: sp,
                cols: outs,
                rs: 1,
                cs: sp,
            },
            MatRef {
                data: col,
                rows: sp,
                cols: taps,
                rs: 1,
                cs: sp,
            },
            MatRef {
                data: w,
                rows: taps,
                cols: outs,
                rs: 1,
                cs: taps,
            },
            false,
            par,
        );
        // `tmp` is (out, sample, pixel); NCHW wants (sample, out, pixel).
        for si in 0..s {
            let ys = &mut y[(s0 + si) * g.out_sample()..][..g.out_sample()];
            for (o, yo) in ys.chunks_exact_mut(p).enumerate() {
                let src = &tmp[o * sp + si * p..][..p];
                for (d, &v) in yo.iter_mut().zip(src) {
                    *d = v + b[o];
                }
            }
        }
    }
}

/// Backward pass: returns `(dw, db)` for output gradient `gy`, and adds the input gradient
/// onto `gx` when given.
pub(crate) fn backward<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    w: &[E],
    gy: &[E],
    gx: Option<&mut [E]>,
) -> (Vec<E>, Vec<E>) {
    let group = samples_per_group(g.batch);
    let par = gemm_parallelism(g.batch.div_ceil(group));
    let (xs, ys) = (group * g.in_sample(), group * g.out_sample());
    let parts: Vec<(Vec<E>, Vec<E>)> = match gx {
        Some(gx) => gx
            .par_chunks_mut(xs)
            .zip(x.par_chunks(xs).zip(gy.par_chunks(ys)))
            .map(|(gxg, (xg, gyg))| backward_group(g, xg, w, gyg, Some(gxg), par))
            .collect(),
        None => x
            .par_chunks(xs)
            .zip(gy.par_chunks(ys))
            .map(|(xg, gyg)| backward_group(g, xg, w, gyg, None, par))
            .collect(),
    };
    let mut dw = vec![E::default(); g.out_channels * g.taps()];
    let mut db = vec![E::default(); g.out_channels];
    for (pdw, pdb) in parts {
        dw.iter_mut().zip(&pdw).for_each(|(a, &v)| *a += v);
        db.iter_mut().zip(&pdb).for_each(|(a, &v)| *a += v);
    }
    (dw, db)
}

/// Backward pass over one thread's group: its partial `(dw, db)`, and its slice of `gx`.
fn backward_group<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    w: &[E],
    gy: &[E],
    mut gx: Option<&mut [E]>,
    par: gemm::Parallelism,
) -> (Vec<E>, Vec<E>) {
    let (n, p, taps, outs) = (
        gy.len() / g.out_sample(),
        g.pixels(),
        g.taps(),
        g.out_channels,
    );
    let chunk = chunk_samples(g, n);
    let mut col = vec![E::default(); taps * chunk * p];
    let mut gyt = vec![E::default(); outs * chunk * p];
    let mut dw = vec![E::default(); outs * taps];
    let mut db = vec![E::default(); outs];
    for s0 in (0..n).step_by(chunk) {
        let s = chunk.min(n - s0);
        let sp = s * p;
        let gyt = &mut gyt[..outs * sp];
        gather_output_grad(
            g,
            &gy[s0 * g.out_sample()..(s0 + s) * g.out_sample()],
            gyt,
            &mut db,
        );
        let col = &mut col[..taps * sp];
        im2col(g, &x[s0 * g.in_sample()..(s0 + s) * g.in_sample()], s, col);
        matmul(
            MatMut {
                data: &mut dw,
                rows: taps,
                cols: outs,
                rs: 1,
                cs: taps,
            },
            MatRef {
                data: col,
                rows: taps,
                cols: sp,
                rs: sp,
                cs: 1,
            },
            MatRef {
                data: gyt,
                rows: sp,
                cols: outs,
                rs: 1,
                cs: sp,
            },
            true,
            par,
        );
        if let Some(gx) = gx.as_deref_mut() {
            // The column buffer is free again: reuse it for the patch gradients.
            matmul(
                MatMut {
                    data: col,
                    rows: sp,
                    cols: taps,
                    rs: 1,
                    cs: sp,
                },
                MatRef {
                    data: gyt,
                    rows: sp,
                    cols: outs,
                    rs: 1,
                    cs: sp,
                },
                MatRef {
                    data: w,
                    rows: outs,
                    cols: taps,
                    rs: taps,
                    cs: 1,
                },
                false,
                par,
            );
            col2im_add(
                g,
                col,
                s,
                &mut gx[s0 * g.in_sample()..(s0 + s) * g.in_sample()],
            );
        }
    }
    (dw, db)
}

/// Copies a chunk's NCHW output gradient into `(out, sample, pixel)` order (the GEMM layout)
/// and adds its per-channel sums onto the bias gradient `db`.
fn gather_output_grad<E: Real>(g: &Conv2dShape, gy: &[E], gyt: &mut [E], db: &mut [E]) {
    let (p, s) = (g.pixels(), gy.len() / g.out_sample());
    for (si, gys) in gy.chunks_exact(g.out_sample()).enumerate() {
        for (o, src) in gys.chunks_exact(p).enumerate() {
            gyt[o * s * p + si * p..][..p].copy_from_slice(src);
            db[o] += src.iter().fold(E::default(), |acc, &v| acc + v);
        }
    }
}
