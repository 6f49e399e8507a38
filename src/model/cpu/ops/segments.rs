//! Operands and register tiles of the row-segment convolution (`conv::rows`): every vector
//! register holds [`LANES`] consecutive positions of one output row, read in place from the
//! input, so no patch is ever copied.
//!
//! - [`seg_row`]: `R` output channels (packed weights, broadcast) times `C` segments, over
//!   all taps, for a whole output row: the forward pass, and the input gradient as a full
//!   convolution of the padded output gradient with the flipped kernel.
//! - [`seg_dots`]: the weight gradient, `R` output channels times `C` taps, each accumulator
//!   a vector of per-lane partial sums over all segments (summed across lanes once, at the
//!   end).
//!
//! The bodies are safe generic code over fixed-size arrays, which LLVM unrolls into one
//! vector FMA per `(row, segment)`; `segkernel` compiles them per instruction-set path.

use super::operands::LANES;
use super::Real;

/// Output rows of a convolution (a sample's), cut into segments: segment `i` reads tap `t`
/// at `x[bases[i] + taps[t]..][..LANES]` and writes output channel `o` at
/// `y[row + o * plane + cols[i].0..][..LANES]`, sharing its first `cols[i].1` lanes with the
/// segment before. Bounds are checked once, when made.
pub(crate) struct SegRow<'a, 'y, E> {
    x: &'a [E],
    taps: &'a [usize],
    bases: &'a [usize],
    cols: &'a [(usize, usize)],
    y: &'y mut [E],
    row: usize,
    plane: usize,
    outs: usize,
    bias: Option<&'a [E]>,
}

impl<'a, 'y, E: Real> SegRow<'a, 'y, E> {
    /// The row at `row` in `y` (`outs` channels `plane` apart), its segments' inputs at
    /// `bases` and columns `cols`; with `bias`, outputs are written with it added, else
    /// added onto `y`.
    ///
    /// # Panics
    /// If a segment reaches past `x` or `y`, or `bias` is short.
    pub(crate) fn new(
        (x, taps, bases): (&'a [E], &'a [usize], &'a [usize]),
        cols: &'a [(usize, usize)],
        (y, row, plane, outs): (&'y mut [E], usize, usize, usize),
        bias: Option<&'a [E]>,
    ) -> Self {
        let top = |v: &mut dyn Iterator<Item = usize>| v.max().unwrap_or(0);
        assert_eq!(bases.len(), cols.len(), "one column per segment");
        assert!(
            top(&mut bases.iter().copied()) + top(&mut taps.iter().copied()) + LANES <= x.len(),
            "segments reach past their input"
        );
        assert!(
            outs > 0
                && row + (outs - 1) * plane + top(&mut cols.iter().map(|c| c.0)) + LANES <= y.len(),
            "segments reach past their output"
        );
        assert!(bias.is_none_or(|b| b.len() >= outs), "bias length");
        Self {
            x,
            taps,
            bases,
            cols,
            y,
            row,
            plane,
            outs,
            bias,
        }
    }

    /// The same row over `f32` data, when `E` is `f32`.
    pub(crate) fn f32s(&mut self) -> Option<SegRow<'a, '_, f32>> {
        Some(SegRow {
            x: E::f32s(self.x)?,
            taps: self.taps,
            bases: self.bases,
            cols: self.cols,
            y: E::f32s_mut(self.y)?,
            row: self.row,
            plane: self.plane,
            outs: self.outs,
            bias: match self.bias {
                Some(b) => Some(E::f32s(b)?),
                None => None,
            },
        })
    }
}

/// `LANES` values of `E` as the vector type of one instruction-set path: the tiles are
/// written once over this and unrolled into one vector FMA per `(row, segment)`. (Written
/// over plain arrays instead, LLVM left the 24-register AVX-512 tiles scalar-spilled.)
pub(crate) trait Lanes<E>: Copy {
    /// `LANES` values in registers.
    type V: Copy;
    /// All zeros.
    fn zero(self) -> Self::V;
    /// `v` in every lane.
    fn splat(self, v: E) -> Self::V;
    /// Loads `LANES` values.
    fn load(self, v: &[E; LANES]) -> Self::V;
    /// `a * b + c` lane by lane.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b` lane by lane.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// The lanes as an array.
    fn store(self, v: Self::V) -> [E; LANES];
}

/// Plain arrays (the portable path, and `f64`): fused multiply-adds where `FMA`.
#[derive(Clone, Copy)]
pub(crate) struct Portable<const FMA: bool>;

impl<E: Real, const FMA: bool> Lanes<E> for Portable<FMA> {
    type V = [E; LANES];
    #[inline(always)]
    fn zero(self) -> Self::V {
        [E::default(); LANES]
    }
    #[inline(always)]
    fn splat(self, v: E) -> Self::V {
        [v; LANES]
    }
    #[inline(always)]
    fn load(self, v: &[E; LANES]) -> Self::V {
        *v
    }
    #[inline(always)]
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::array::from_fn(|l| {
            if FMA {
                a[l].mul_add(b[l], c[l])
            } else {
                c[l] + a[l] * b[l]
            }
        })
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    fn store(self, v: Self::V) -> [E; LANES] {
        v
    }
}

/// Convolves the segments of `row`: for every block of `R` output channels packed in `a` (each
/// `[tap][R]`) and every `C` segments, `sum_t a[t][r] * x[segment + taps[t]]` in registers,
/// then written (bias added) or added onto the row's outputs.
///
/// # Panics
/// If `a` does not hold whole blocks of `R` rows over the taps, covering every output.
#[inline(always)]
pub(crate) fn seg_row<E: Real, L: Lanes<E>, const R: usize, const C: usize>(
    lanes: L,
    a: &[E],
    row: &mut SegRow<'_, '_, E>,
) {
    let (nt, n) = (row.taps.len(), row.bases.len());
    assert!(
        nt > 0 && a.len().is_multiple_of(R * nt) && a.len() / nt >= row.outs,
        "packed rows do not match the taps"
    );
    for (blk, a) in a.chunks_exact(R * nt).enumerate() {
        for i0 in (0..n).step_by(C) {
            let js: [usize; C] = std::array::from_fn(|j| (i0 + j).min(n - 1));
            let bases: [usize; C] = js.map(|i| row.bases[i]);
            let mut acc = [[lanes.zero(); C]; R];
            for (t, ar) in a.chunks_exact(R).enumerate() {
                let off = row.taps[t];
                // SAFETY: `SegRow::new` checked `max(bases) + max(taps) + LANES <= x.len()`,
                // and `off` is one of the taps.
                let v: [L::V; C] = bases.map(|b| unsafe {
                    lanes.load(&*(row.x.as_ptr().add(b + off) as *const [E; LANES]))
                });
                for r in 0..R {
                    let w = lanes.splat(ar[r]);
                    for j in 0..C {
                        acc[r][j] = lanes.fma(w, v[j], acc[r][j]);
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                let o = blk * R + r;
                if o >= row.outs {
                    break;
                }
                for (j, &v) in acc_r.iter().enumerate().take(n - i0) {
                    let (col, skip) = row.cols[i0 + j];
                    let at = row.row + o * row.plane + col;
                    let dst: &mut [E; LANES] = (&mut row.y[at..][..LANES])
                        .try_into()
                        .expect("LANES elements");
                    match row.bias {
                        // Shared lanes are written again with the same bits.
                        Some(b) => *dst = lanes.store(lanes.add(v, lanes.splat(b[o]))),
                        None if skip == 0 => *dst = lanes.store(lanes.add(v, lanes.load(dst))),
                        None => {
                            let v = lanes.store(v);
                            dst[skip..]
                                .iter_mut()
                                .zip(&v[skip..])
                                .for_each(|(d, &v)| *d += v);
                        }
                    }
                }
            }
        }
    }
}

/// The weight gradient's operands for one chunk of segments: for segment `i`, the
/// output-gradient rows `grads[(i * stride + o) * LANES..][..LANES]` (lanes outside the
/// segment zeroed, `stride` rows per segment) and the input rows
/// `x[bases[i] + taps[t]..][..LANES]`. Bounds are checked once, when made.
pub(crate) struct SegPairs<'a, E> {
    grads: &'a [E],
    stride: usize,
    x: &'a [E],
    bases: &'a [usize],
    taps: &'a [usize],
}

impl<'a, E: Real> SegPairs<'a, E> {
    /// Operands of the segments at `bases`, `stride` gradient rows each, over the tap
    /// offsets `taps`.
    ///
    /// # Panics
    /// If a row reaches past its data.
    pub(crate) fn new(
        grads: &'a [E],
        stride: usize,
        x: &'a [E],
        bases: &'a [usize],
        taps: &'a [usize],
    ) -> Self {
        assert!(
            bases.len() * stride * LANES <= grads.len(),
            "gradient rows reach past their data"
        );
        let top = bases.iter().copied().max().unwrap_or(0);
        let tap = taps.iter().copied().max().unwrap_or(0);
        assert!(
            top + tap + LANES <= x.len(),
            "segments reach past their data"
        );
        Self {
            grads,
            stride,
            x,
            bases,
            taps,
        }
    }

    /// The same operands over `f32` data, when `E` is `f32`.
    pub(crate) fn f32s(&self) -> Option<SegPairs<'a, f32>> {
        Some(SegPairs {
            grads: E::f32s(self.grads)?,
            stride: self.stride,
            x: E::f32s(self.x)?,
            bases: self.bases,
            taps: self.taps,
        })
    }
}

/// For every block of `R` output channels (of `stride / R`) and `C` taps (of
/// `taps.len() / C`), adds onto its `C x R` lane-wise sums in `acc` (block `b` at
/// `acc[b * C * R..]`, tap-major) the products `grad[i][r][l] * x[i][c][l]` over every
/// segment `i` of `p`: the weight gradient's partial sums, kept across chunks.
///
/// # Panics
/// If `acc` does not hold every block's sums, or the taps are not whole blocks of `C`.
#[inline(always)]
pub(crate) fn seg_dots<E: Real, L: Lanes<E>, const R: usize, const C: usize>(
    lanes: L,
    p: &SegPairs<'_, E>,
    acc: &mut [[E; LANES]],
) {
    let (bo, bt) = (p.stride / R, p.taps.len() / C);
    assert!(
        p.stride.is_multiple_of(R)
            && p.taps.len().is_multiple_of(C)
            && acc.len() == bo * bt * C * R,
        "weight-gradient blocks"
    );
    for (b, tile) in acc.chunks_exact_mut(C * R).enumerate() {
        let (b_o, b_t) = (b / bt, b % bt);
        let taps: [usize; C] = std::array::from_fn(|c| p.taps[b_t * C + c]);
        let mut a: [[L::V; R]; C] =
            std::array::from_fn(|c| std::array::from_fn(|r| lanes.load(&tile[c * R + r])));
        for (i, &base) in p.bases.iter().enumerate() {
            // SAFETY: `new` checked that every segment's `stride` gradient rows (of which
            // these are `R`, `b_o * R + R <= stride`) and its input rows at every tap lie
            // inside their slices (`i < bases.len()`).
            let (g, x): ([&[E; LANES]; R], [&[E; LANES]; C]) = unsafe {
                let gp = p.grads.as_ptr().add((i * p.stride + b_o * R) * LANES);
                (
                    std::array::from_fn(|r| &*(gp.add(r * LANES) as *const [E; LANES])),
                    std::array::from_fn(|c| {
                        &*(p.x.as_ptr().add(base + taps[c]) as *const [E; LANES])
                    }),
                )
            };
            let g: [L::V; R] = g.map(|v| lanes.load(v));
            for (c, xc) in x.iter().enumerate() {
                let xv = lanes.load(xc);
                for r in 0..R {
                    a[c][r] = lanes.fma(g[r], xv, a[c][r]);
                }
            }
        }
        for (c, row) in a.iter().enumerate() {
            for (r, &v) in row.iter().enumerate() {
                tile[c * R + r] = lanes.store(v);
            }
        }
    }
}
