//! Convolution kernels on plain slices: patch panels times packed weights.
//!
//! The batch is cut into one contiguous group of samples per rayon thread. Within a group,
//! output positions are taken 16 at a time (across sample boundaries, see `im2col`):
//! - forward: the positions' patches fill a `[tap][16]` panel, multiplied by the weights
//!   packed 6 output channels at a time, then written to NCHW with the bias added;
//! - input gradient: the positions' output gradients form an `[out][16]` panel, multiplied by
//!   the transposed weights packed 6 taps at a time, and the patch gradients are added back;
//! - weight gradient: over chunks of 16 panels, dot products of every output-gradient row
//!   with every patch row, 4x2 at a time in registers.

use rayon::prelude::*;

use super::super::im2col::{add_patch_panel, copy_run, fill_patch_panel, panel_runs, tap_offsets};
use super::super::microkernel::{
    panel_dots, rows_times_panel, rows_times_strided, DOT_A, DOT_B, LANES, ROWS,
};
use super::super::{samples_per_group, Real};
use super::Conv2dShape;

/// Packs `rows x inner` values (`at(row, t)`) as blocks of [`ROWS`] rows, each `[t][ROWS]`,
/// zero-padding the last block.
fn pack_rows<E: Real>(rows: usize, inner: usize, at: impl Fn(usize, usize) -> E) -> Vec<E> {
    let mut packed = vec![E::default(); rows.div_ceil(ROWS) * ROWS * inner];
    for (blk, dst) in packed.chunks_exact_mut(ROWS * inner).enumerate() {
        for (t, d) in dst.chunks_exact_mut(ROWS).enumerate() {
            for (r, v) in d.iter_mut().enumerate() {
                if blk * ROWS + r < rows {
                    *v = at(blk * ROWS + r, t);
                }
            }
        }
    }
    packed
}

/// Panics unless `x` and `w` have the lengths `g` implies.
fn check_lengths<E>(g: &Conv2dShape, x: &[E], w: &[E]) {
    assert_eq!(x.len(), g.batch * g.in_sample(), "conv2d: input length");
    assert_eq!(w.len(), g.out_channels * g.taps(), "conv2d: weight length");
}

/// Forward pass: returns the `(batch, out, oh, ow)` output of `x` convolved with `w` plus `b`.
///
/// # Panics
/// If a slice's length does not match `g`.
pub fn forward<E: Real>(g: &Conv2dShape, x: &[E], w: &[E], b: &[E]) -> Vec<E> {
    check_lengths(g, x, w);
    assert_eq!(b.len(), g.out_channels, "conv2d: bias length");
    let mut y = vec![E::default(); g.batch * g.out_sample()];
    let taps = tap_offsets(g);
    let packed = pack_rows(g.out_channels, g.taps(), |o, t| w[o * g.taps() + t]);
    let group = samples_per_group(g.batch);
    y.par_chunks_mut(group * g.out_sample())
        .zip(x.par_chunks(group * g.in_sample()))
        .for_each(|(yg, xg)| forward_group(g, xg, &packed, &taps, b, yg));
    y
}

/// Forward pass over one thread's group of samples.
fn forward_group<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    packed: &[E],
    taps: &[usize],
    b: &[E],
    y: &mut [E],
) {
    let (positions, p) = (y.len() / g.out_sample() * g.pixels(), g.pixels());
    let mut panel = vec![E::default(); g.taps() * LANES];
    let mut out = vec![E::default(); packed.len() / g.taps() * LANES];
    for q0 in (0..positions).step_by(LANES) {
        let len = LANES.min(positions - q0);
        let (input, output) = panel_runs(g, q0, len);
        // A panel inside one output row reads its patches in place, saving the im2col copy.
        match input.whole() {
            Some(base) => rows_times_strided(packed, x, base, taps, &mut out),
            None => {
                fill_patch_panel(x, taps, &input, len, &mut panel);
                rows_times_panel(packed, &panel, &mut out);
            }
        }
        for (o, (row, &bias)) in out.chunks_exact(LANES).zip(b).enumerate() {
            for r in output.iter() {
                let dst = &mut y[r.src + o * p..][..r.len];
                for (d, &v) in dst.iter_mut().zip(&row[r.col..r.col + r.len]) {
                    *d = v + bias;
                }
            }
        }
    }
}

/// Backward pass: returns `(dw, db)` for output gradient `gy`, and adds the input gradient
/// onto `gx` when given.
///
/// # Panics
/// If a slice's length does not match `g`.
pub fn backward<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    w: &[E],
    gy: &[E],
    gx: Option<&mut [E]>,
) -> (Vec<E>, Vec<E>) {
    check_lengths(g, x, w);
    assert_eq!(
        gy.len(),
        g.batch * g.out_sample(),
        "conv2d: output gradient length"
    );
    let group = samples_per_group(g.batch);
    let (xs, ys) = (group * g.in_sample(), group * g.out_sample());
    let taps = tap_offsets(g);
    let parts: Vec<Vec<E>> = match gx {
        Some(gx) => {
            assert_eq!(gx.len(), x.len(), "conv2d: input gradient length");
            let wt = pack_rows(g.taps(), g.out_channels, |t, o| w[o * g.taps() + t]);
            gx.par_chunks_mut(xs)
                .zip(x.par_chunks(xs).zip(gy.par_chunks(ys)))
                .map(|(gxg, (xg, gyg))| backward_group(g, &taps, xg, gyg, Some((&wt, gxg))))
                .collect()
        }
        None => x
            .par_chunks(xs)
            .zip(gy.par_chunks(ys))
            .map(|(xg, gyg)| backward_group(g, &taps, xg, gyg, None))
            .collect(),
    };
    // Each part is the group's padded `[out][tap]` weight gradient.
    let taps_pad = g.taps().next_multiple_of(DOT_B);
    let mut dw = vec![E::default(); g.out_channels * g.taps()];
    for part in parts {
        for (d, p) in dw
            .chunks_exact_mut(g.taps())
            .zip(part.chunks_exact(taps_pad))
        {
            d.iter_mut().zip(p).for_each(|(a, &v)| *a += v);
        }
    }
    (dw, bias_grad(g, gy))
}

/// Panels per backward chunk: its patch panels (up to 16 x 512 taps x 16 positions, 512 KiB)
/// stay in a Zen 3 core's L2 cache while the weight gradient reduces over them.
const CHUNK_PANELS: usize = 16;

/// One group's backward pass: returns its padded `[out][tap]` weight gradient, and adds its
/// input gradient onto `gx` when given (with the transposed packed weights).
fn backward_group<E: Real>(
    g: &Conv2dShape,
    taps: &[usize],
    x: &[E],
    gy: &[E],
    mut gx: Option<(&[E], &mut [E])>,
) -> Vec<E> {
    let (outs, p) = (g.out_channels, g.pixels());
    let (outs_pad, taps_pad) = (
        outs.next_multiple_of(DOT_A),
        g.taps().next_multiple_of(DOT_B),
    );
    let positions = gy.len() / g.out_sample() * p;
    // Padding rows are never written, so they stay zero and add nothing.
    let mut patches = vec![E::default(); CHUNK_PANELS * taps_pad * LANES];
    let mut grads = vec![E::default(); CHUNK_PANELS * outs_pad * LANES];
    let mut dpatch = vec![E::default(); g.taps().next_multiple_of(ROWS) * LANES];
    let mut dw = vec![E::default(); outs_pad * taps_pad];
    for c0 in (0..positions).step_by(CHUNK_PANELS * LANES) {
        let panels = (positions - c0).div_ceil(LANES).min(CHUNK_PANELS);
        for pn in 0..panels {
            let q0 = c0 + pn * LANES;
            let len = LANES.min(positions - q0);
            let (input, output) = panel_runs(g, q0, len);
            let pp = &mut patches[pn * taps_pad * LANES..][..g.taps() * LANES];
            fill_patch_panel(x, taps, &input, len, pp);
            let gp = &mut grads[pn * outs_pad * LANES..][..outs * LANES];
            for (o, row) in gp.chunks_exact_mut(LANES).enumerate() {
                for r in output.iter() {
                    copy_run(
                        &mut row[r.col..r.col + r.len],
                        &gy[r.src + o * p..][..r.len],
                    );
                }
                row[len..].fill(E::default());
            }
            if let Some((wt, gx)) = gx.as_mut() {
                rows_times_panel(wt, gp, &mut dpatch);
                add_patch_panel(&dpatch, taps, &input, gx);
            }
        }
        let grads = &grads[..panels * outs_pad * LANES];
        panel_dots(
            grads,
            outs_pad,
            &patches[..panels * taps_pad * LANES],
            taps_pad,
            &mut dw,
        );
    }
    dw
}

/// The bias gradient: each output channel's gradient summed over samples and positions.
fn bias_grad<E: Real>(g: &Conv2dShape, gy: &[E]) -> Vec<E> {
    let p = g.pixels();
    (0..g.out_channels)
        .map(|o| {
            gy.chunks_exact(g.out_sample())
                .flat_map(|s| &s[o * p..(o + 1) * p])
                .fold(E::default(), |acc, &v| acc + v)
        })
        .collect()
}
