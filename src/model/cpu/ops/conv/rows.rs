//! Row-segment convolution: each vector register holds [`LANES`] consecutive positions of one
//! output row, whose patches are consecutive in the input too, so every operand is read in
//! place: no patch panels, no copies, no scatter.
//!
//! A row of width `ow >= LANES` is cut into `ceil(ow / LANES)` segments; the last one is
//! shifted left to end at the row's end (it overlaps its neighbour), so no load reaches past
//! the row's last patch. Its overlapping lanes are computed twice, in the same order, and
//! either written twice with the same bits (forward) or dropped (sums).
//!
//! - forward: `R` output channels x `C` segments per tile, over all taps
//!   ([`seg_row`](super::super::segkernel::seg_row)), bias added as the tile is stored;
//! - input gradient: the full convolution of the output gradient (zero-padded by `k - 1`
//!   per side, one sample at a time) with the flipped, transposed kernel, by the same tile,
//!   added onto `dx`; the padding costs `(h / oh)^2 - 1` extra FLOPs (24% for 58 -> 52) but
//!   every multiply-add sums over `outs * k * k` terms instead of `outs`;
//! - weight gradient: lane-wise sums of `gy * x` over a chunk of segments for `R` output
//!   channels x `C` taps ([`seg_dots`](super::super::segkernel::seg_dots)), kept in memory
//!   between chunks and summed across lanes once.
//!
//! Tile shapes per path, chosen so accumulators, loaded rows and the broadcast fit the
//! vector registers without spills (checked in the disassembly): AVX-512 `8 x 3` forward
//! (24 accumulators + 3 rows + 1 broadcast of 32 registers) and `4 x 6` weight gradient
//! (24 + 4 + 1); AVX2 and portable `4 x 1` and `2 x 2` (each segment two 256-bit halves,
//! of 16 registers).

use rayon::prelude::*;

use super::super::im2col::tap_offsets;
use super::super::isa::Isa;
use super::super::operands::LANES;
use super::super::segkernel::{seg_dots, seg_row};
use super::super::segments::{SegPairs, SegRow};
use super::super::{samples_per_group, Real};
use super::{group_grads, per_group, Conv2dShape};

/// Whether the row-segment path takes convolution `g` on path `isa`: AVX-512 (on AVX2 its
/// narrower tiles measured no faster forward and slower backward than the panel tiles) and
/// output rows that fill a segment.
pub(super) fn applies(isa: Isa, g: &Conv2dShape) -> bool {
    isa == Isa::Avx512 && g.out_width() >= LANES
}

/// Each segment of a row of width `ow >= LANES`: its first column and the lanes it shares
/// with the segment before (non-zero only for the last).
fn row_segments(ow: usize) -> Vec<(usize, usize)> {
    (0..ow.div_ceil(LANES))
        .map(|j| {
            let want = j * LANES;
            let oj = want.min(ow - LANES);
            (oj, want - oj)
        })
        .collect()
}

/// Packs `rows x inner` values (`at(row, t)`) as blocks of `R` rows, each `[t][R]`,
/// zero-padding the last block (the panel tiles' `ROWS` and the row-segment tiles' `R`).
pub(super) fn pack<E: Real, const R: usize>(
    rows: usize,
    inner: usize,
    at: impl Fn(usize, usize) -> E,
) -> Vec<E> {
    let mut packed = vec![E::default(); rows.div_ceil(R) * R * inner];
    for (blk, dst) in packed.chunks_exact_mut(R * inner).enumerate() {
        for (t, d) in dst.chunks_exact_mut(R).enumerate() {
            for (r, v) in d.iter_mut().enumerate() {
                if blk * R + r < rows {
                    *v = at(blk * R + r, t);
                }
            }
        }
    }
    packed
}

/// Forward pass: the `(batch, out, oh, ow)` output of `x` convolved with `w` plus `b`.
pub(super) fn forward<E: Real>(isa: Isa, g: &Conv2dShape, x: &[E], w: &[E], b: &[E]) -> Vec<E> {
    match isa {
        Isa::Avx512 => forward_in::<E, 8, 3>(isa, g, x, w, b),
        _ => forward_in::<E, 4, 1>(isa, g, x, w, b),
    }
}

fn forward_in<E: Real, const R: usize, const C: usize>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    w: &[E],
    b: &[E],
) -> Vec<E> {
    let nt = g.taps();
    let packed = pack::<E, R>(g.out_channels, nt, |o, t| w[o * nt + t]);
    let taps = tap_offsets(g);
    per_group(g, x, |xg, yg| {
        convolve::<E, R, C>(isa, g, xg, &packed, &taps, Some(b), yg)
    })
}

/// Convolves the samples of `x` with the `R`-packed weights into `y`: written with `bias`
/// added when given, else added onto `y`. A tile's `C` segments run on across output rows
/// (a row of 2 or 4 segments would leave a third or half of a 3-segment tile empty).
fn convolve<E: Real, const R: usize, const C: usize>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    packed: &[E],
    taps: &[usize],
    bias: Option<&[E]>,
    y: &mut [E],
) {
    let (ow, p) = (g.out_width(), g.pixels());
    let row = row_segments(ow);
    // Every segment of a sample: its output offset in the channel plane, shared lanes, and
    // its input offset from the sample's start.
    let cols: Vec<(usize, usize)> = (0..g.out_height())
        .flat_map(|oi| row.iter().map(move |&(oj, skip)| (oi * ow + oj, skip)))
        .collect();
    let offsets: Vec<usize> = (0..g.out_height())
        .flat_map(|oi| row.iter().map(move |&(oj, _)| oi * g.width + oj))
        .collect();
    let mut bases = vec![0; cols.len()];
    for s in 0..y.len() / g.out_sample() {
        bases
            .iter_mut()
            .zip(&offsets)
            .for_each(|(b, &off)| *b = s * g.in_sample() + off);
        let out = (&mut *y, s * g.out_sample(), p, g.out_channels);
        let mut seg = SegRow::new((x, taps, &bases), &cols, out, bias);
        seg_row::<E, R, C>(isa, packed, &mut seg);
    }
}

/// Adds the input gradient for output gradient `gy` onto `gx`: the full convolution of the
/// padded `gy` with the flipped kernel, one sample at a time.
pub(super) fn input_grad<E: Real>(isa: Isa, g: &Conv2dShape, w: &[E], gy: &[E], gx: &mut [E]) {
    match isa {
        Isa::Avx512 => input_grad_in::<E, 8, 3>(isa, g, w, gy, gx),
        _ => input_grad_in::<E, 4, 1>(isa, g, w, gy, gx),
    }
}

fn input_grad_in<E: Real, const R: usize, const C: usize>(
    isa: Isa,
    g: &Conv2dShape,
    w: &[E],
    gy: &[E],
    gx: &mut [E],
) {
    let (k, outs, oh, ow) = (g.kernel, g.out_channels, g.out_height(), g.out_width());
    // The transposed problem: `outs` channels of the padded gradient in, `in` channels out.
    let t = Conv2dShape {
        batch: 1,
        in_channels: outs,
        height: oh + 2 * (k - 1),
        width: ow + 2 * (k - 1),
        out_channels: g.in_channels,
        kernel: k,
    };
    let kk = k * k;
    let packed = pack::<E, R>(g.in_channels, outs * kk, |c, tap| {
        let (o, ki, kj) = (tap / kk, tap / k % k, tap % k);
        w[o * g.taps() + c * kk + (k - 1 - ki) * k + (k - 1 - kj)]
    });
    let taps = tap_offsets(&t);
    let group = samples_per_group(g.batch);
    gx.par_chunks_mut(group * g.in_sample())
        .zip(gy.par_chunks(group * g.out_sample()))
        .for_each(|(gxg, gyg)| {
            // Borders stay zero; each sample overwrites the interior.
            let mut pad = vec![E::default(); t.in_sample()];
            for (gxs, gys) in gxg
                .chunks_exact_mut(g.in_sample())
                .zip(gyg.chunks_exact(g.out_sample()))
            {
                for (o, plane) in gys.chunks_exact(g.pixels()).enumerate() {
                    for (i, row) in plane.chunks_exact(ow).enumerate() {
                        pad[o * t.plane() + (i + k - 1) * t.width + k - 1..][..ow]
                            .copy_from_slice(row);
                    }
                }
                convolve::<E, R, C>(isa, &t, &pad, &packed, &taps, None, gxs);
            }
        });
}

/// Segments per weight-gradient chunk: a block's gradient rows (4 channels x 64 segments x
/// 16 lanes, 16 KiB) stay in L1 while every block of taps reads them, and the blocks' sums
/// (up to a MiB for 64 channels x 288 taps) are loaded and stored once per 64 segments.
const CHUNK_SEGS: usize = 64;

/// Weight and bias gradients `(dw, db)` for output gradient `gy`.
pub(super) fn weight_grad<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    gy: &[E],
) -> (Vec<E>, Vec<E>) {
    group_grads(g, x, gy, |xg, gyg| match isa {
        Isa::Avx512 => weight_grad_group::<E, 4, 6>(isa, g, xg, gyg),
        _ => weight_grad_group::<E, 2, 2>(isa, g, xg, gyg),
    })
}

/// One group's `(dw, db)`: chunk by chunk of output rows, the chunk's gradient segments are
/// copied to `[segment][out][LANES]` (shared lanes zeroed), then every block of `R` outputs
/// x `C` taps adds their products onto its lane-wise sums.
fn weight_grad_group<E: Real, const R: usize, const C: usize>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    gy: &[E],
) -> (Vec<E>, Vec<E>) {
    let (outs, nt, ow, p) = (g.out_channels, g.taps(), g.out_width(), g.pixels());
    let (bo, bt) = (outs.div_ceil(R), nt.div_ceil(C));
    let opad = bo * R;
    // Padded to whole blocks by repeating the last tap (its sums are dropped below).
    let mut taps = tap_offsets(g);
    taps.resize(bt * C, taps[nt - 1]);
    let segs = row_segments(ow);
    let rows_per_chunk = (CHUNK_SEGS / segs.len()).max(1);
    let mut acc = vec![[E::default(); LANES]; bo * bt * C * R];
    let mut grads = vec![E::default(); rows_per_chunk * segs.len() * opad * LANES];
    let mut db_lanes = vec![[E::default(); LANES]; outs];
    let mut bases = Vec::with_capacity(rows_per_chunk * segs.len());
    for s in 0..gy.len() / g.out_sample() {
        for i0 in (0..g.out_height()).step_by(rows_per_chunk) {
            let rows = i0..(i0 + rows_per_chunk).min(g.out_height());
            bases.clear();
            for oi in rows.clone() {
                for &(oj, _) in &segs {
                    bases.push(s * g.in_sample() + oi * g.width + oj);
                }
            }
            // Output by output, so each reads its own plane front to back, and sums its
            // bias gradient in a local row (summed onto the shared rows, the adds were a
            // chain through memory, a float at a time).
            for (o, db) in db_lanes.iter_mut().enumerate() {
                let plane = &gy[s * g.out_sample() + o * p..][..p];
                let mut sum = [E::default(); LANES];
                let mut k = 0;
                for oi in rows.clone() {
                    for &(oj, skip) in &segs {
                        let row = &mut grads[(k * opad + o) * LANES..][..LANES];
                        row.copy_from_slice(&plane[oi * ow + oj..][..LANES]);
                        row[..skip].fill(E::default());
                        sum.iter_mut().zip(&*row).for_each(|(a, &v)| *a += v);
                        k += 1;
                    }
                }
                db.iter_mut().zip(sum).for_each(|(a, v)| *a += v);
            }
            let pairs = SegPairs::new(&grads, opad, x, &bases, &taps);
            seg_dots::<E, R, C>(isa, &pairs, &mut acc);
        }
    }
    let mut dw = vec![E::default(); outs * nt];
    for (b, tile) in acc.chunks_exact(C * R).enumerate() {
        let (b_o, b_t) = (b / bt, b % bt);
        for (i, lanes) in tile.iter().enumerate() {
            let (o, t) = (b_o * R + i % R, b_t * C + i / R);
            if o < outs && t < nt {
                dw[o * nt + t] = lanes.iter().fold(E::default(), |a, &v| a + v);
            }
        }
    }
    let db = db_lanes
        .iter()
        .map(|l| l.iter().fold(E::default(), |a, &v| a + v))
        .collect();
    (dw, db)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_path, Path};
    use super::*;

    /// Every path this CPU runs, in f64 and f32, against the direct loops: one segment, a
    /// shifted last segment sharing 15 lanes, three segments (a partial chunk of tiles), and
    /// output channels that leave the last block of every tile shape part empty.
    #[test]
    fn every_path_matches_the_reference() {
        let cases = [
            ((2, 2, 8, 40), (7, 2, 5, 5)),
            ((3, 3, 20, 19), (18, 3, 3, 3)),
            ((1, 1, 20, 18), (5, 1, 3, 3)),
        ];
        check_path(
            &cases,
            |g| g.out_width() >= LANES,
            Path {
                forward: forward::<f64>,
                input_grad: input_grad::<f64>,
                weight_grad: weight_grad::<f64>,
            },
            Path {
                forward: forward::<f32>,
                input_grad: input_grad::<f32>,
                weight_grad: weight_grad::<f32>,
            },
        );
    }
}
