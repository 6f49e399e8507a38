//! Convolution kernels on plain slices: patch panels times packed weights.
//!
//! The batch is cut into contiguous groups of samples, a few per rayon thread. Within a
//! group, output positions are taken 16 at a time (a panel, across sample boundaries, see
//! `im2col`); a panel's patches and output gradients are read in place where its positions
//! are consecutive (one output row, one sample) and copied otherwise:
//! - forward: the patches `[tap][16]` times the weights packed 6 output channels at a time,
//!   written to NCHW with the bias added;
//! - input gradient: the output gradients `[out][16]` times the transposed weights packed 6
//!   taps at a time, added straight onto `dx` run by run (col2im fused);
//! - weight gradient, over chunks of 16 panels: with 12+ output channels, 6 taps gathered
//!   from the input times 16 output channels of the transposed gradients; with fewer, dot
//!   products of gradient rows with patch rows, 4x2 at a time.

use rayon::prelude::*;

use super::super::im2col::{copy_run, fill_patch_panel, panel_runs, tap_offsets, Runs};
use super::super::isa::Isa;
use super::super::microkernel::{
    gathered_times_add, panel_dots, rows_times, rows_times_scatter_add, Gathered, PanelRows,
    RowTable, LANES, ROWS,
};
use super::super::{add_assign, samples_per_group, Real};
use super::{lanes, lanes_grad, per_group, rows, Conv2dShape};

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
    // Read on the calling thread: the workers take the caller's path.
    let isa = Isa::current();
    if rows::applies(isa, g) {
        return rows::forward(isa, g, x, w, b);
    }
    if lanes::applies(isa, g) {
        return lanes::forward(isa, g, x, w, b);
    }
    let taps = RowTable::new(tap_offsets(g));
    let packed = rows::pack::<E, ROWS>(g.out_channels, g.taps(), |o, t| w[o * g.taps() + t]);
    per_group(g, x, |xg, yg| {
        forward_group(isa, g, xg, &packed, &taps, b, yg)
    })
}

/// Forward pass over one thread's group of samples.
fn forward_group<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    packed: &[E],
    taps: &RowTable,
    b: &[E],
    y: &mut [E],
) {
    let (positions, p) = (y.len() / g.out_sample() * g.pixels(), g.pixels());
    let lane_offsets = RowTable::strided(g.taps(), LANES);
    let mut panel = vec![E::default(); g.taps() * LANES];
    let mut out = vec![E::default(); packed.len() / g.taps() * LANES];
    for q0 in (0..positions).step_by(LANES) {
        let len = LANES.min(positions - q0);
        let (input, output) = panel_runs(g, q0, len);
        // A panel inside one output row reads its patches in place, saving the im2col copy.
        let rows = match input.whole() {
            Some(base) => PanelRows::new(x, base, taps),
            None => {
                fill_patch_panel(x, taps.as_slice(), &input, len, &mut panel);
                PanelRows::new(&panel, 0, &lane_offsets)
            }
        };
        rows_times(isa, packed, rows, &mut out);
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
    let isa = Isa::current();
    if rows::applies(isa, g) {
        if let Some(gx) = gx {
            assert_eq!(gx.len(), x.len(), "conv2d: input gradient length");
            rows::input_grad(isa, g, w, gy, gx);
        }
        return rows::weight_grad(isa, g, x, gy);
    }
    if lanes::applies(isa, g) {
        if let Some(gx) = gx {
            assert_eq!(gx.len(), x.len(), "conv2d: input gradient length");
            lanes::input_grad(isa, g, w, gy, gx);
        }
        return lanes_grad::weight_grad(isa, g, x, gy);
    }
    let group = samples_per_group(g.batch);
    let (xs, ys) = (group * g.in_sample(), group * g.out_sample());
    let taps = RowTable::new(tap_offsets(g));
    let parts: Vec<(Vec<E>, Vec<E>)> = match gx {
        Some(gx) => {
            assert_eq!(gx.len(), x.len(), "conv2d: input gradient length");
            let wt = rows::pack::<E, ROWS>(g.taps(), g.out_channels, |t, o| w[o * g.taps() + t]);
            gx.par_chunks_mut(xs)
                .zip(x.par_chunks(xs).zip(gy.par_chunks(ys)))
                .map(|(gxg, (xg, gyg))| backward_group(isa, g, &taps, xg, gyg, Some((&wt, gxg))))
                .collect()
        }
        None => x
            .par_chunks(xs)
            .zip(gy.par_chunks(ys))
            .map(|(xg, gyg)| backward_group(isa, g, &taps, xg, gyg, None))
            .collect(),
    };
    sum_parts(g, parts)
}

/// The sum of the thread groups' `(dw, db)`, added in group order (the same bits every run),
/// element by element in whatever layout the parts share (`g`'s lengths where there are none).
pub(super) fn sum_parts<E: Real>(
    g: &Conv2dShape,
    parts: Vec<(Vec<E>, Vec<E>)>,
) -> (Vec<E>, Vec<E>) {
    let (w_len, b_len) = parts
        .first()
        .map_or((g.out_channels * g.taps(), g.out_channels), |p| {
            (p.0.len(), p.1.len())
        });
    let mut dw = vec![E::default(); w_len];
    let mut db = vec![E::default(); b_len];
    for (pdw, pdb) in parts {
        add_assign(&mut dw, &pdw);
        add_assign(&mut db, &pdb);
    }
    (dw, db)
}

/// Panels per backward chunk: its copied patch panels (at most 16 x 512 taps x 16
/// positions, 512 KiB) stay in a Zen 3 core's L2 cache while the weight gradient reduces
/// over them.
const CHUNK_PANELS: usize = 16;

/// Row offsets and scratch buffers of one group's backward pass.
struct Scratch<E> {
    /// `o * pixels`: output-gradient rows read in place.
    gy_offsets: RowTable,
    /// `o * LANES`: output-gradient rows of a copied panel.
    grad_offsets: RowTable,
    /// `t * LANES`: patch rows of a copied panel.
    patch_offsets: RowTable,
    /// Copied patch panels of a chunk, `[panel][tap][LANES]`.
    patches: Vec<E>,
    /// Copied output-gradient panels of a chunk, `[panel][out][LANES]`.
    grads: Vec<E>,
}

impl<E: Real> Scratch<E> {
    fn new(g: &Conv2dShape) -> Self {
        let (outs, taps) = (g.out_channels, g.taps());
        Self {
            gy_offsets: RowTable::strided(outs, g.pixels()),
            grad_offsets: RowTable::strided(outs, LANES),
            patch_offsets: RowTable::strided(taps, LANES),
            patches: vec![E::default(); CHUNK_PANELS * taps * LANES],
            grads: vec![E::default(); CHUNK_PANELS * outs * LANES],
        }
    }
}

/// One group's backward pass: returns its `(dw, db)`, and adds its input gradient onto `gx`
/// when given (with the transposed packed weights). Panels whose positions are consecutive
/// in the input or output are read there in place; the others are copied first.
fn backward_group<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    taps: &RowTable,
    x: &[E],
    gy: &[E],
    mut gx: Option<(&[E], &mut [E])>,
) -> (Vec<E>, Vec<E>) {
    let positions = gy.len() / g.out_sample() * g.pixels();
    let mut sc = Scratch::new(g);
    let mut dw = vec![E::default(); g.out_channels * g.taps()];
    let mut db_lanes = vec![[E::default(); LANES]; g.out_channels];
    for c0 in (0..positions).step_by(CHUNK_PANELS * LANES) {
        let runs = copy_chunk(g, taps, x, gy, c0, positions, &mut sc);
        let (grad_rows, patch_rows) = chunk_rows(g, taps, x, gy, &runs, &sc);
        for ((input, _), rows) in runs.iter().zip(&grad_rows) {
            for (o, lanes) in db_lanes.iter_mut().enumerate() {
                lanes
                    .iter_mut()
                    .zip(rows.row(o))
                    .for_each(|(a, &v)| *a += v);
            }
            if let Some((wt, gx)) = gx.as_mut() {
                rows_times_scatter_add(isa, wt, *rows, gx, input, taps.as_slice());
            }
        }
        match patch_rows {
            Some(patch_rows) => panel_dots(isa, &grad_rows, &patch_rows, &mut dw),
            None => weight_grad_gathered(isa, g, taps, x, &runs, &grad_rows, &mut dw),
        }
    }
    let db = db_lanes
        .iter()
        .map(|l| l.iter().fold(E::default(), |a, &v| a + v))
        .collect();
    (dw, db)
}

/// Where the rows of each panel of a chunk live: in place in `gy` and `x` where the panel's
/// runs allow, else in the chunk's copies made by [`copy_chunk`]. Patch rows are only made
/// (and copied) for the dot-tile weight gradient; the gathered one reads `x` itself.
fn chunk_rows<'a, E: Real>(
    g: &Conv2dShape,
    taps: &'a RowTable,
    x: &'a [E],
    gy: &'a [E],
    runs: &[(Runs, Runs)],
    sc: &'a Scratch<E>,
) -> (Vec<PanelRows<'a, E>>, Option<Vec<PanelRows<'a, E>>>) {
    let grads = runs
        .iter()
        .enumerate()
        .map(|(pn, (_, output))| match output.whole() {
            Some(base) => PanelRows::new(gy, base, &sc.gy_offsets),
            None => PanelRows::new(&sc.grads, pn * g.out_channels * LANES, &sc.grad_offsets),
        });
    let patches = runs
        .iter()
        .enumerate()
        .map(|(pn, (input, _))| match input.whole() {
            Some(base) => PanelRows::new(x, base, taps),
            None => PanelRows::new(&sc.patches, pn * g.taps() * LANES, &sc.patch_offsets),
        });
    let dots = g.out_channels < GATHERED_MIN_OUTS;
    (grads.collect(), dots.then(|| patches.collect()))
}

/// Output channels from which the weight gradient uses [`weight_grad_gathered`]: it fills
/// 16 lanes with output channels, so with fewer than 12 it wastes more than it gains over the
/// dot tiles.
const GATHERED_MIN_OUTS: usize = 12;

/// Adds a chunk's weight gradient onto `dw` with the 6x16 tile: 6 taps (gathered in place
/// from `x`) times 16 output channels (from the chunk's output gradients, transposed to
/// `[position][out]`), reducing over the chunk's positions.
fn weight_grad_gathered<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    taps: &RowTable,
    x: &[E],
    runs: &[(Runs, Runs)],
    grad_rows: &[PanelRows<'_, E>],
    dw: &mut [E],
) {
    let (outs, n_taps) = (g.out_channels, g.taps());
    let outs_pad = outs.next_multiple_of(LANES);
    let mut pos = Vec::with_capacity(runs.len() * LANES);
    let mut gt = Vec::with_capacity(runs.len() * LANES * outs_pad);
    for ((input, _), rows) in runs.iter().zip(grad_rows) {
        for r in input.iter() {
            for l in r.col..r.col + r.len {
                pos.push(r.src + l - r.col);
                gt.extend((0..outs_pad).map(|o| {
                    if o < outs {
                        rows.row(o)[l]
                    } else {
                        E::default()
                    }
                }));
            }
        }
    }
    let (pos, gt_rows) = (
        RowTable::new(pos),
        RowTable::strided(gt.len() / outs_pad, outs_pad),
    );
    let tap = |t: usize| taps.as_slice()[t.min(n_taps - 1)];
    for o0 in (0..outs).step_by(LANES) {
        for t0 in (0..n_taps).step_by(ROWS) {
            let a = Gathered::new(x, &pos, std::array::from_fn(|r| tap(t0 + r)));
            let b = PanelRows::new(&gt, o0, &gt_rows);
            gathered_times_add(isa, a, b, dw, (t0, o0), (n_taps, outs));
        }
    }
}

/// Computes the runs of the chunk of panels starting at position `c0`, and copies the
/// patches and output gradients of the panels that cannot be read in place.
fn copy_chunk<E: Real>(
    g: &Conv2dShape,
    taps: &RowTable,
    x: &[E],
    gy: &[E],
    c0: usize,
    positions: usize,
    sc: &mut Scratch<E>,
) -> Vec<(Runs, Runs)> {
    let (outs, p) = (g.out_channels, g.pixels());
    let panels = (positions - c0).div_ceil(LANES).min(CHUNK_PANELS);
    (0..panels)
        .map(|pn| {
            let q0 = c0 + pn * LANES;
            let len = LANES.min(positions - q0);
            let (input, output) = panel_runs(g, q0, len);
            if input.whole().is_none() && g.out_channels < GATHERED_MIN_OUTS {
                let dst = &mut sc.patches[pn * g.taps() * LANES..][..g.taps() * LANES];
                fill_patch_panel(x, taps.as_slice(), &input, len, dst);
            }
            if output.whole().is_none() {
                let dst = &mut sc.grads[pn * outs * LANES..][..outs * LANES];
                for (o, row) in dst.chunks_exact_mut(LANES).enumerate() {
                    for r in output.iter() {
                        copy_run(
                            &mut row[r.col..r.col + r.len],
                            &gy[r.src + o * p..][..r.len],
                        );
                    }
                    row[len..].fill(E::default());
                }
            }
            (input, output)
        })
        .collect()
}
