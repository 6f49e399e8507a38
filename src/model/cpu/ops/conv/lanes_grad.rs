//! Weight gradient of the channel-lane convolution (`lanes`): `dw[o][c][off] = sum_q
//! gy[o][q] * x[c][q + off]` as the [`lanekernel`](super::super::lanekernel) tile with 32
//! output channels in the lanes and 12 input channels broadcast, reduced over a chunk of
//! output positions, for each kernel offset.
//!
//! No patches are built: the group's input is copied channels-last once (`[sample][row]
//! [col][in]`), where the 12 input channels a step broadcasts at position `q` and offset
//! `off` are consecutive, at the row of `q`'s window corner shifted by `off`; the output
//! gradients of a chunk are transposed to `[out block][position][32]`, which each tile reads
//! front to back. (Patch rows of all `k * k * in` taps, copied per position and read a
//! whole patch apart, cost as much time as the multiply-adds.) Tiles add onto sums kept for
//! the whole group, put in the weights' order once, after the groups' sums are added.

use super::super::isa::Isa;
use super::super::lanekernel::{tile, Acc, TileOps, POS, WIDE};
use super::super::operands::RowTable;
use super::super::{add_assign, Real};
use super::{group_grads, Conv2dShape};

/// Output positions per chunk: a block of the chunk's gradients (128 bytes a position) and
/// the input rows a tile broadcasts from (a cache line a position) stay in L1 while every
/// offset and input block reads them.
const CHUNK: usize = 192;

/// Weight and bias gradients `(dw, db)` for output gradient `gy`: per-group sums added in
/// group order, so the bits depend only on the thread count.
pub(super) fn weight_grad<E: Real>(
    isa: Isa,
    g: &Conv2dShape,
    x: &[E],
    gy: &[E],
) -> (Vec<E>, Vec<E>) {
    let (sums, mut db) = group_grads(g, x, gy, |xg, gyg| weight_grad_group(isa, g, xg, gyg));
    // Back to the weights' order `[out][in][offset]`, once, from the tiles' sums.
    let (cin, outs, kk) = (g.in_channels, g.out_channels, g.kernel * g.kernel);
    let layout = Layout::new(g);
    let mut dw = vec![E::default(); outs * g.taps()];
    for (o, dwo) in dw.chunks_exact_mut(cin * kk).enumerate() {
        for (c, dwc) in dwo.chunks_exact_mut(kk).enumerate() {
            for (off, d) in dwc.iter_mut().enumerate() {
                *d = sums[layout.at(o, off, c)];
            }
        }
    }
    db.truncate(outs);
    (dw, db)
}

/// Where a group keeps its sums: one [`Acc`] per tile, `[out block][offset][in block]`, so a
/// tile's sums are added onto in one contiguous run (written as 12 rows of 32, the compiler
/// could not tell the tile's sums from the group's and added them one float at a time: a
/// third of the time).
struct Layout {
    offsets: usize,
    in_blocks: usize,
}

impl Layout {
    fn new(g: &Conv2dShape) -> Self {
        Self {
            offsets: g.kernel * g.kernel,
            in_blocks: g.in_channels.div_ceil(POS),
        }
    }

    /// Elements of all tiles' sums.
    fn len(&self, outs: usize) -> usize {
        outs.div_ceil(WIDE) * self.offsets * self.in_blocks * POS * WIDE
    }

    /// The first sum of the tile of output block `o`, offset `off` and input block `c`.
    fn tile(&self, o: usize, off: usize, c: usize) -> usize {
        ((o * self.offsets + off) * self.in_blocks + c) * POS * WIDE
    }

    /// The sum of output `o`, offset `off` and input channel `c`.
    fn at(&self, o: usize, off: usize, c: usize) -> usize {
        self.tile(o / WIDE, off, c / POS) + (c % POS) * WIDE + o % WIDE
    }
}

/// A pixel stride of at least `n` elements that is an odd number of 64-byte lines (for
/// f32): the rows a tile broadcasts from are a pixel apart, and at a power-of-two number of
/// lines they would share a few L1 sets and evict each other within a chunk.
fn pixel_stride(n: usize) -> usize {
    let s = n.next_multiple_of(16);
    if (s / 16).is_multiple_of(2) {
        s + 16
    } else {
        s
    }
}

/// The group's input channels-last, `[sample][row][col][stride]`, the first `in` elements
/// of each pixel its channels and the rest 0: the last input block a step broadcasts may
/// reach past the channels, values whose sums are dropped.
fn channels_last<E: Real>(g: &Conv2dShape, x: &[E], stride: usize) -> Vec<E> {
    let plane = g.plane();
    let mut nhwc = vec![E::default(); x.len() / g.in_channels * stride];
    for (xs, ds) in x
        .chunks_exact(g.in_sample())
        .zip(nhwc.chunks_exact_mut(plane * stride))
    {
        for (c, src) in xs.chunks_exact(plane).enumerate() {
            for (d, &v) in ds[c..].iter_mut().step_by(stride).zip(src) {
                *d = v;
            }
        }
    }
    nhwc
}

/// One group's weight-gradient sums (see [`Layout`]) and bias gradient (padded to whole
/// output blocks).
fn weight_grad_group<E: Real>(isa: Isa, g: &Conv2dShape, x: &[E], gy: &[E]) -> (Vec<E>, Vec<E>) {
    let (k, outs, p, ow) = (g.kernel, g.out_channels, g.pixels(), g.out_width());
    let kk = k * k;
    let layout = Layout::new(g);
    let (cb, ob) = (layout.in_blocks, outs.div_ceil(WIDE));
    let opad = ob * WIDE;
    let stride = pixel_stride(cb * POS);
    let nhwc = channels_last(g, x, stride);
    let positions = gy.len() / g.out_sample() * p;
    let chunk = CHUNK.min(positions.max(1));
    // The padding lanes of the last output block stay 0.
    let mut grads = vec![E::default(); ob * chunk * WIDE];
    let mut sums = vec![E::default(); layout.len(outs)];
    let mut db = vec![E::default(); opad];
    let mut acc: Acc<E> = [[E::default(); WIDE]; POS];
    for c0 in (0..positions).step_by(chunk) {
        let n = chunk.min(positions - c0);
        let mut corners = Vec::with_capacity(n);
        // Run by run of positions within one sample: each output's gradients are read in
        // order and written a vector row apart.
        let mut q = c0;
        while q < c0 + n {
            let (s, pix) = (q / p, q % p);
            let len = (p - pix).min(c0 + n - q);
            for px in pix..pix + len {
                let (oi, oj) = (px / ow, px % ow);
                corners.push(((s * g.height + oi) * g.width + oj) * stride);
            }
            for o in 0..outs {
                let src = &gy[s * g.out_sample() + o * p + pix..][..len];
                let at = ((o / WIDE) * chunk + q - c0) * WIDE;
                for (row, &v) in grads[at..][..len * WIDE].chunks_exact_mut(WIDE).zip(src) {
                    row[o % WIDE] = v;
                }
            }
            q += len;
        }
        // The bias gradient as vector rows (a sum per output, added in the loop above, was
        // a chain through memory: a third of the time).
        for (o, sums) in db.chunks_exact_mut(WIDE).enumerate() {
            for row in grads[o * chunk * WIDE..][..n * WIDE].chunks_exact(WIDE) {
                add_assign(sums, row);
            }
        }
        let rows = RowTable::new(corners);
        for o in 0..ob {
            let b = &grads[o * chunk * WIDE..][..n * WIDE];
            for off in 0..kk {
                let shift = ((off / k) * g.width + off % k) * stride;
                for c in 0..cb {
                    let a = &nhwc[shift + c * POS..];
                    tile(isa, &TileOps::new(a, &rows, b, WIDE), &mut acc);
                    let at = layout.tile(o, off, c);
                    add_assign(&mut sums[at..][..POS * WIDE], acc.as_flattened());
                }
            }
        }
    }
    (sums, db)
}
