//! Channel-lane convolution for narrow layers on AVX-512: each vector register holds 16
//! channels (output channels forward, input channels for the input gradient), so output
//! rows narrower than a register (where `rows` cannot run) still fill every lane. Every
//! product is the [`lanekernel`](super::super::lanekernel) tile of 32 channels x 12
//! broadcast columns:
//!
//! - forward: 12 output positions (across rows and samples) of patches `[tap][12]`, read
//!   in place when they are one output row and copied otherwise, times weights packed
//!   `[block][tap][32]`; stored to NCHW with the bias;
//! - input gradient: 12 positions of output gradients `[out][12]` times the weights packed
//!   per kernel offset `[offset][in block][out][32]`, added onto a channels-last copy of
//!   the input gradient (each tile is 24 contiguous vector adds there, where NCHW would
//!   need 384 scattered ones), which is added onto `dx` at the end of each chunk; no
//!   zero padding, so no wasted FLOPs (the full-convolution form `rows` uses would add
//!   36% for 14 -> 12 and 125% for 6 -> 4);
//! - weight gradient (`lanes_grad`).

use rayon::prelude::*;

use super::super::im2col::{panel_runs, tap_offsets};
use super::super::isa::Isa;
use super::super::lanekernel::{fill_panel, tile, Acc, TileOps, POS, WIDE};
use super::super::operands::{RowTable, LANES};
use super::super::{samples_per_group, Real};
use super::{per_group, rows, Conv2dShape};

/// Output channels from which the path pays: a tile fills 32 lanes with output channels,
/// so with few of them the panel tiles (6 rows) waste less.
const MIN_OUTS: usize = 16;

/// Whether the channel-lane path takes convolution `g` on path `isa`: AVX-512, output rows
/// too narrow for the row-segment path, and enough output channels to fill the lanes.
pub(super) fn applies(isa: Isa, g: &Conv2dShape) -> bool {
    isa == Isa::Avx512 && g.out_width() < LANES && g.out_channels >= MIN_OUTS
}

/// The input offset of each output position's patch corner, for a group of `samples`.
pub(super) fn corners(g: &Conv2dShape, samples: usize) -> Vec<usize> {
    let (p, ow) = (g.pixels(), g.out_width());
    (0..samples * p)
        .map(|q| {
            let (s, pix) = (q / p, q % p);
            s * g.in_sample() + pix / ow * g.width + pix % ow
        })
        .collect()
}

/// Forward pass: the `(batch, out, oh, ow)` output of `x` convolved with `w` plus `b`.
pub(super) fn forward<E: Real>(isa: Isa, g: &Conv2dShape, x: &[E], w: &[E], b: &[E]) -> Vec<E> {
    let nt = g.taps();
    let packed = rows::pack::<E, WIDE>(g.out_channels, nt, |o, t| w[o * nt + t]);
    let taps = tap_offsets(g);
    per_group(g, x, |xg, yg| {
        forward_group(isa, g, xg, &packed, &taps, b, yg)
    })
}

/// Forward pass over one thread's group of samples, 12 positions at a time.
fn forward_group<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    packed: &[E],
    taps: &[usize],
    b: &[E],
    y: &mut [E],
) {
    let (nt, outs, p) = (g.taps(), g.out_channels, g.pixels());
    let positions = y.len() / g.out_sample() * p;
    let mut panel = vec![E::default(); nt * POS];
    let copied = RowTable::strided(nt, POS);
    let in_place = RowTable::new(taps.to_vec());
    let mut acc: Acc<E> = [[E::default(); WIDE]; POS];
    for q0 in (0..positions).step_by(POS) {
        let len = POS.min(positions - q0);
        let (input, output) = panel_runs(g, q0, len);
        let mut runs = input.iter();
        // Twelve positions in one output row read their patches in place.
        let (a, rows): (&[E], &RowTable) = match (runs.next(), runs.next()) {
            (Some(r), None) if r.len == POS => (&x[r.src..], &in_place),
            _ => {
                if len < POS {
                    panel.fill(E::default());
                }
                let runs: Vec<_> = input.iter().map(|r| (r.col, r.len, r.src)).collect();
                fill_panel(isa, x, taps, &runs, &mut panel);
                (&panel, &copied)
            }
        };
        for (blk, wb) in packed.chunks_exact(nt * WIDE).enumerate() {
            tile(isa, &TileOps::new(a, rows, wb, WIDE), &mut acc);
            for l in 0..WIDE.min(outs - blk * WIDE) {
                let o = blk * WIDE + l;
                for r in output.iter() {
                    let dst = &mut y[r.src + o * p..][..r.len];
                    for (d, col) in dst.iter_mut().zip(&acc[r.col..r.col + r.len]) {
                        *d = col[l] + b[o];
                    }
                }
            }
        }
    }
}

/// Channels-last input-gradient elements per chunk (256 KiB of f32): a chunk stays in L2
/// while its tiles add onto it.
const CHUNK_ELEMS: usize = 1 << 16;

/// Adds the input gradient for output gradient `gy` onto `gx`.
pub(super) fn input_grad<E: Real>(isa: Isa, g: &Conv2dShape, w: &[E], gy: &[E], gx: &mut [E]) {
    let (cin, kk, nt) = (g.in_channels, g.kernel * g.kernel, g.taps());
    let blocks = cin.div_ceil(WIDE);
    // `[offset][in block][out][32 in]`: the weights of one kernel offset, transposed.
    let mut packed = vec![E::default(); kk * blocks * g.out_channels * WIDE];
    let mut dst = packed.chunks_exact_mut(WIDE);
    for off in 0..kk {
        for blk in 0..blocks {
            for o in 0..g.out_channels {
                let row = dst.next().expect("sized above");
                for (l, v) in row.iter_mut().enumerate() {
                    let c = blk * WIDE + l;
                    if c < cin {
                        *v = w[o * nt + c * kk + off];
                    }
                }
            }
        }
    }
    let group = samples_per_group(g.batch);
    gx.par_chunks_mut(group * g.in_sample())
        .zip(gy.par_chunks(group * g.out_sample()))
        .for_each(|(gxg, gyg)| input_grad_group(isa, g, &packed, gyg, gxg));
}

/// One group's input gradient, chunk by chunk of samples: each chunk's tiles add onto a
/// zeroed channels-last buffer `[sample][row][col][in]` (in padded to 32), which is then
/// transposed onto `gx`.
fn input_grad_group<E: Real>(isa: Isa, g: &Conv2dShape, packed: &[E], gy: &[E], gx: &mut [E]) {
    let (k, outs, p, plane) = (g.kernel, g.out_channels, g.pixels(), g.plane());
    let blocks = g.in_channels.div_ceil(WIDE);
    let cpad = blocks * WIDE;
    let samples = gx.len() / g.in_sample();
    let chunk = (CHUNK_ELEMS / (plane * cpad)).clamp(1, samples.max(1));
    let mut nhwc = vec![E::default(); chunk * plane * cpad];
    let mut panel = vec![E::default(); outs * POS];
    let rows = RowTable::strided(outs, POS);
    // Channels-last offsets of the patch corners of the chunk's positions.
    let corner: Vec<usize> = corners(g, chunk)
        .iter()
        .map(|&c| (c / g.in_sample() * plane + c % g.in_sample()) * cpad)
        .collect();
    let mut acc: Acc<E> = [[E::default(); WIDE]; POS];
    for s0 in (0..samples).step_by(chunk) {
        let ns = chunk.min(samples - s0);
        nhwc.fill(E::default());
        let positions = ns * p;
        let gys = &gy[s0 * g.out_sample()..][..ns * g.out_sample()];
        for q0 in (0..positions).step_by(POS) {
            let len = POS.min(positions - q0);
            // Channel-0 offsets of the panel's positions, found once (a division each).
            let src: [usize; POS] = std::array::from_fn(|j| {
                let q = (q0 + j).min(positions - 1);
                q / p * g.out_sample() + q % p
            });
            for (o, row) in panel.chunks_exact_mut(POS).enumerate() {
                for (j, d) in row.iter_mut().enumerate() {
                    *d = if j < len {
                        gys[src[j] + o * p]
                    } else {
                        E::default()
                    };
                }
            }
            for (off, per_off) in packed.chunks_exact(blocks * outs * WIDE).enumerate() {
                let shift = (off / k * g.width + off % k) * cpad;
                for (blk, wb) in per_off.chunks_exact(outs * WIDE).enumerate() {
                    tile(isa, &TileOps::new(&panel, &rows, wb, WIDE), &mut acc);
                    for (col, &c) in acc.iter().zip(&corner[q0..q0 + len]) {
                        let dst = &mut nhwc[c + shift + blk * WIDE..][..WIDE];
                        dst.iter_mut().zip(col).for_each(|(d, &v)| *d += v);
                    }
                }
            }
        }
        let gxs = &mut gx[s0 * g.in_sample()..][..ns * g.in_sample()];
        for (s, sample) in gxs.chunks_exact_mut(g.in_sample()).enumerate() {
            for (c, dst) in sample.chunks_exact_mut(plane).enumerate() {
                for (pix, d) in dst.iter_mut().enumerate() {
                    *d += nhwc[(s * plane + pix) * cpad + c];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_path, Path};
    use super::*;

    /// Every path this CPU runs, in f64 and f32, against the direct loops: output rows of
    /// 1 to 15 columns (panels inside a row, across rows and across samples, one sample
    /// group with a partial last panel), output channels 1, 17 and 40 (partly empty
    /// blocks), input channels that leave a block of the input gradient partly empty, and
    /// samples of more positions than a weight-gradient chunk (a chunk ends mid-sample).
    #[test]
    fn every_path_matches_the_reference() {
        let cases = [
            ((3, 2, 5, 5), (1, 2, 3, 3)),
            ((5, 3, 8, 6), (17, 3, 3, 3)),
            ((2, 33, 4, 14), (40, 33, 3, 3)),
            ((7, 1, 3, 17), (17, 1, 3, 3)),
            ((3, 4, 2, 2), (18, 4, 2, 2)),
            ((2, 5, 9, 11), (20, 5, 1, 1)),
            ((3, 2, 20, 15), (33, 2, 3, 3)),
        ];
        check_path(
            &cases,
            |g| g.out_width() < LANES,
            Path {
                forward: forward::<f64>,
                input_grad: input_grad::<f64>,
                weight_grad: super::super::lanes_grad::weight_grad::<f64>,
            },
            Path {
                forward: forward::<f32>,
                input_grad: input_grad::<f32>,
                weight_grad: super::super::lanes_grad::weight_grad::<f32>,
            },
        );
    }
}
