//! Weight gradient of the channel-lane convolution (`lanes`): `dw[o][t] = sum_q gy[o][q] *
//! patch[t][q]` as the [`lanekernel`](super::super::lanekernel) tile with 32 output
//! channels in the lanes and 12 taps broadcast, reduced over a chunk of output positions.
//!
//! Per chunk, the output gradients are transposed to `[position][out]` (vector rows) and
//! the patches copied to `[position][tap]` (12 consecutive taps broadcast per step), taps
//! ordered `(offset, in channel)` so that each patch row is `k * k` contiguous copies from
//! a channels-last copy of the sample. Tiles add onto sums `[tap][out]` kept for the whole
//! group (24 contiguous vector adds per tile), transposed to `dw` once at the end.

use super::super::isa::Isa;
use super::super::lanekernel::{tile, Acc, TileOps, POS, WIDE};
use super::super::operands::RowTable;
use super::super::Real;
use super::{group_grads, Conv2dShape};

/// Patch elements per chunk (512 KiB of f32): the chunk's patches stay in L2 while every
/// block of output channels reads them, and each tile runs over 100+ positions.
const CHUNK_ELEMS: usize = 1 << 17;

/// Weight and bias gradients `(dw, db)` for output gradient `gy`: per-group sums added in
/// group order, so the bits depend only on the thread count.
pub(super) fn weight_grad<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    gy: &[E],
) -> (Vec<E>, Vec<E>) {
    group_grads(g, x, gy, |xg, gyg| weight_grad_group(isa, g, xg, gyg))
}

/// A row stride of at least `n` elements that is an odd number of 64-byte lines (for
/// f32): rows a power-of-two number of lines apart would share a few L1 sets, and evict
/// each other while a tile walks down a column block.
fn row_stride(n: usize) -> usize {
    let s = n.next_multiple_of(16);
    if (s / 16).is_multiple_of(2) {
        s + 16
    } else {
        s
    }
}

/// One group's `(dw, db)`.
fn weight_grad_group<E: Real>(isa: Isa, g: &Conv2dShape, x: &[E], gy: &[E]) -> (Vec<E>, Vec<E>) {
    let (cin, k, outs, p, ow) = (
        g.in_channels,
        g.kernel,
        g.out_channels,
        g.pixels(),
        g.out_width(),
    );
    let (nt, kk) = (g.taps(), k * k);
    let (tpad, opad) = (
        row_stride(nt + POS - 1),
        row_stride(outs.next_multiple_of(WIDE)),
    );
    let positions = gy.len() / g.out_sample() * p;
    let chunk = (CHUNK_ELEMS / tpad).clamp(1, positions.max(1));
    let mut patches = vec![E::default(); chunk * tpad];
    let mut grads = vec![E::default(); chunk * opad];
    let mut nhwc = vec![E::default(); g.in_sample()];
    let mut sample = usize::MAX;
    let mut sums = vec![E::default(); tpad * opad];
    let mut db = vec![E::default(); outs];
    let mut acc: Acc<E> = [[E::default(); WIDE]; POS];
    for c0 in (0..positions).step_by(chunk) {
        let n = chunk.min(positions - c0);
        for i in 0..n {
            let (s, pix) = ((c0 + i) / p, (c0 + i) % p);
            if s != sample {
                // The sample channels-last, `[row][col][in]`.
                let xs = &x[s * g.in_sample()..][..g.in_sample()];
                for (c, plane) in xs.chunks_exact(g.plane()).enumerate() {
                    for (px, &v) in plane.iter().enumerate() {
                        nhwc[px * cin + c] = v;
                    }
                }
                sample = s;
            }
            let (oi, oj) = (pix / ow, pix % ow);
            let dst = &mut patches[i * tpad..][..nt];
            for (off, d) in dst.chunks_exact_mut(cin).enumerate() {
                let corner = (oi + off / k) * g.width + oj + off % k;
                d.copy_from_slice(&nhwc[corner * cin..][..cin]);
            }
            let row = &mut grads[i * opad..][..outs];
            for (o, (d, sum)) in row.iter_mut().zip(&mut db).enumerate() {
                *d = gy[s * g.out_sample() + o * p + pix];
                *sum += *d;
            }
        }
        let rows = RowTable::strided(n, tpad);
        for t0 in (0..nt).step_by(POS) {
            for o0 in (0..outs).step_by(WIDE) {
                let ops = TileOps::new(&patches[t0..], &rows, &grads[o0..], opad);
                tile(isa, &ops, &mut acc);
                for (j, col) in acc.iter().enumerate() {
                    let dst = &mut sums[(t0 + j) * opad + o0..][..WIDE];
                    dst.iter_mut().zip(col).for_each(|(d, &v)| *d += v);
                }
            }
        }
    }
    // Back to the weights' order `[out][in][offset]` from `[offset][in][out]`.
    let mut dw = vec![E::default(); outs * nt];
    for (o, dwo) in dw.chunks_exact_mut(nt).enumerate() {
        for (c, dwc) in dwo.chunks_exact_mut(kk).enumerate() {
            for (off, d) in dwc.iter_mut().enumerate() {
                *d = sums[(off * cin + c) * opad + o];
            }
        }
    }
    (dw, db)
}
