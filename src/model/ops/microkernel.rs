//! The register-blocked multiply at the heart of the convolution kernels, and all `unsafe`
//! of the ops: a run-time switch to a copy compiled for AVX2 and FMA.
//!
//! [`rows_times_panel`] multiplies a packed block of `ROWS` matrix rows by a "panel" of
//! `LANES` columns: `out[r][j] = sum_t a[t][r] * b[t][j]`. A 6x16 f32 tile keeps 12 AVX2
//! accumulators, 2 panel loads and one broadcast in the 16 vector registers; it measured
//! ~78 GFLOP/s on one Zen 3 core against 38-50 for 4x24, 4x16, 3x24 and 8x8 tiles, and
//! against 9-24 GFLOP/s for the `gemm` crate on the thin products of small convolutions
//! (8-16 output channels), where its packing of the large operand dominates.

use super::Real;

/// Rows of a tile (output channels or kernel taps).
pub(crate) const ROWS: usize = 6;
/// Columns of a tile and of a panel (output positions or kernel taps).
pub(crate) const LANES: usize = 16;

/// For every block of `ROWS` rows packed in `a` (each `[inner][ROWS]`), writes
/// `out[r][j] = sum_t a[t][r] * b[t][j]` into that block's `ROWS x LANES` slice of `out`,
/// where `b` is a `[inner][LANES]` panel.
///
/// # Panics
/// If the lengths do not describe whole blocks of one common `inner`.
pub(crate) fn rows_times_panel<E: Real>(a: &[E], b: &[E], out: &mut [E]) {
    let inner = b.len() / LANES;
    assert!(
        inner > 0 && b.len() == inner * LANES,
        "panel length {}",
        b.len()
    );
    rows_times(a, out, Panel { data: b, inner });
}

/// As [`rows_times_panel`], with panel row `t` read in place at `x[base + offsets[t]..]`
/// instead of from a copied panel: the forward convolution's patches when the panel's
/// positions are consecutive in the input.
///
/// # Panics
/// If a row reaches past `x` or the lengths do not describe whole blocks.
pub(crate) fn rows_times_strided<E: Real>(
    a: &[E],
    x: &[E],
    base: usize,
    offsets: &[usize],
    out: &mut [E],
) {
    assert!(!offsets.is_empty(), "empty inner dimension");
    rows_times(
        a,
        out,
        Strided {
            data: x,
            base,
            offsets,
        },
    );
}

/// Where the `LANES`-wide rows of the right-hand operand live. Each source is its own type so
/// the tile loop is compiled without a branch on the layout.
trait RowSource<E>: Copy {
    /// Rows, the inner dimension of the product.
    fn inner(&self) -> usize;
    /// Row `t`.
    fn row(&self, t: usize) -> &[E; LANES];
}

/// Rows packed one after another.
struct Panel<'a, E> {
    data: &'a [E],
    inner: usize,
}

impl<E> Clone for Panel<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Panel<'_, E> {}

impl<E> RowSource<E> for Panel<'_, E> {
    #[inline(always)]
    fn inner(&self) -> usize {
        self.inner
    }

    #[inline(always)]
    fn row(&self, t: usize) -> &[E; LANES] {
        self.data[t * LANES..][..LANES]
            .try_into()
            .expect("LANES elements")
    }
}

/// Row `t` at `data[base + offsets[t]..]`.
struct Strided<'a, E> {
    data: &'a [E],
    base: usize,
    offsets: &'a [usize],
}

impl<E> Clone for Strided<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Strided<'_, E> {}

impl<E> RowSource<E> for Strided<'_, E> {
    #[inline(always)]
    fn inner(&self) -> usize {
        self.offsets.len()
    }

    #[inline(always)]
    fn row(&self, t: usize) -> &[E; LANES] {
        self.data[self.base + self.offsets[t]..][..LANES]
            .try_into()
            .expect("LANES elements")
    }
}

/// Checks the shapes, then runs [`rows_times_impl`] on the fastest code path.
fn rows_times<E: Real, B: RowSource<E>>(a: &[E], out: &mut [E], b: B) {
    assert_eq!(
        a.len() % (b.inner() * ROWS),
        0,
        "packed rows do not match the panel"
    );
    assert_eq!(out.len(), a.len() / b.inner() * LANES, "output block size");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `rows_times_fma` only requires the AVX2 and FMA instruction sets, which
        // the CPU was just checked to have; its body is safe code.
        unsafe { rows_times_fma(a, out, b) };
        return;
    }
    rows_times_impl::<E, B, false>(a, out, b);
}

/// Rows of a [`panel_dots`] tile (taken from `a`).
pub(crate) const DOT_A: usize = 4;
/// Columns of a [`panel_dots`] tile (taken from `b`).
pub(crate) const DOT_B: usize = 2;
/// Half a panel row: one accumulator of a dot tile (one AVX2 vector of f32).
const HALF: usize = LANES / 2;

/// Adds onto `out[i][j]` (`a_rows x b_rows`) the dot product of row `i` of `a` with row `j`
/// of `b` over all panels, where `a` holds panels of `[a_rows][LANES]` and `b` the same
/// number of panels of `[b_rows][LANES]`. A 4x2 tile keeps its 8 accumulators in registers
/// across all panels and sums their lanes once at the end.
///
/// # Panics
/// If the rows are not multiples of the tile or the panel counts differ.
pub(crate) fn panel_dots<E: Real>(a: &[E], a_rows: usize, b: &[E], b_rows: usize, out: &mut [E]) {
    assert!(
        a_rows % DOT_A == 0 && b_rows % DOT_B == 0,
        "rows must fill whole tiles"
    );
    assert_eq!(
        a.len() / (a_rows * LANES),
        b.len() / (b_rows * LANES),
        "panel counts"
    );
    assert_eq!(out.len(), a_rows * b_rows, "output size");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: `panel_dots_fma` only requires the AVX2 and FMA instruction sets, which
        // the CPU was just checked to have; its body is safe code.
        unsafe { panel_dots_fma(a, a_rows, b, b_rows, out) };
        return;
    }
    panel_dots_impl::<E, false>(a, a_rows, b, b_rows, out);
}

/// [`panel_dots_impl`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_dots_fma<E: Real>(a: &[E], ar: usize, b: &[E], br: usize, out: &mut [E]) {
    panel_dots_impl::<E, true>(a, ar, b, br, out);
}

/// The tile loops of [`panel_dots`]: `b`'s rows outermost, so its two rows of every panel
/// stay in L1 while all of `a` streams past.
#[inline(always)]
fn panel_dots_impl<E: Real, const FMA: bool>(
    a: &[E],
    ar: usize,
    b: &[E],
    br: usize,
    out: &mut [E],
) {
    let panels = a.len() / (ar * LANES);
    for j0 in (0..br).step_by(DOT_B) {
        for i0 in (0..ar).step_by(DOT_A) {
            let mut acc = [[[E::default(); HALF]; DOT_B]; DOT_A];
            for pn in 0..panels {
                let ap = &a[(pn * ar + i0) * LANES..][..DOT_A * LANES];
                let bp = &b[(pn * br + j0) * LANES..][..DOT_B * LANES];
                for h in 0..2 {
                    for (i, acc_i) in acc.iter_mut().enumerate() {
                        let av = &ap[i * LANES + h * HALF..][..HALF];
                        for (j, acc_ij) in acc_i.iter_mut().enumerate() {
                            let bv = &bp[j * LANES + h * HALF..][..HALF];
                            for ((c, &x), &y) in acc_ij.iter_mut().zip(av).zip(bv) {
                                *c = if FMA { x.mul_add(y, *c) } else { *c + x * y };
                            }
                        }
                    }
                }
            }
            for (i, acc_i) in acc.iter().enumerate() {
                for (j, acc_ij) in acc_i.iter().enumerate() {
                    out[(i0 + i) * br + j0 + j] += acc_ij.iter().fold(E::default(), |s, &v| s + v);
                }
            }
        }
    }
}

/// [`rows_times_impl`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_times_fma<E: Real, B: RowSource<E>>(a: &[E], out: &mut [E], b: B) {
    rows_times_impl::<E, B, true>(a, out, b);
}

/// The loop over row blocks; `FMA` selects fused multiply-adds, which are only fast where
/// the CPU has them (elsewhere `mul_add` is a library call).
#[inline(always)]
fn rows_times_impl<E: Real, B: RowSource<E>, const FMA: bool>(a: &[E], out: &mut [E], b: B) {
    let blocks = a.chunks_exact(b.inner() * ROWS);
    for (block, dst) in blocks.zip(out.chunks_exact_mut(ROWS * LANES)) {
        let acc = tile::<E, B, FMA>(block, b);
        for (d, row) in dst.chunks_exact_mut(LANES).zip(&acc) {
            d.copy_from_slice(row);
        }
    }
}

/// One `ROWS x LANES` tile, accumulated in registers over the whole inner dimension.
#[inline(always)]
fn tile<E: Real, B: RowSource<E>, const FMA: bool>(a: &[E], b: B) -> [[E; LANES]; ROWS] {
    let mut acc = [[E::default(); LANES]; ROWS];
    for (t, ar) in a.chunks_exact(ROWS).enumerate() {
        let br = b.row(t);
        for (accr, &av) in acc.iter_mut().zip(ar) {
            for (c, &bv) in accr.iter_mut().zip(br) {
                *c = if FMA {
                    av.mul_add(bv, *c)
                } else {
                    *c + av * bv
                };
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two row blocks against a hand-checkable panel, on both code paths.
    #[test]
    fn matches_direct_sums() {
        let inner = 3;
        let a: Vec<f64> = (0..2 * inner * ROWS)
            .map(|i| (i % 7) as f64 - 3.0)
            .collect();
        let b: Vec<f64> = (0..inner * LANES).map(|i| (i % 5) as f64 * 0.5).collect();
        let mut want = vec![0.0; 2 * ROWS * LANES];
        for blk in 0..2 {
            for r in 0..ROWS {
                for j in 0..LANES {
                    want[(blk * ROWS + r) * LANES + j] = (0..inner)
                        .map(|t| a[blk * inner * ROWS + t * ROWS + r] * b[t * LANES + j])
                        .sum();
                }
            }
        }
        let mut out = vec![0.0; 2 * ROWS * LANES];
        rows_times_panel(&a, &b, &mut out);
        assert_eq!(out, want);
        let mut out = vec![0.0; 2 * ROWS * LANES];
        rows_times_impl::<f64, _, false>(&a, &mut out, Panel { data: &b, inner });
        assert_eq!(out, want);
        // The same panel read in place, rows in reverse order from a padded buffer.
        let mut padded = vec![f64::NAN; 5];
        for t in (0..inner).rev() {
            padded.extend_from_slice(&b[t * LANES..(t + 1) * LANES]);
        }
        let offsets: Vec<usize> = (0..inner).map(|t| (inner - 1 - t) * LANES).collect();
        let mut out = vec![0.0; 2 * ROWS * LANES];
        rows_times_strided(&a, &padded, 5, &offsets, &mut out);
        assert_eq!(out, want);
    }

    /// Dot products over three panels of 4 and 2 rows, on both code paths.
    #[test]
    fn panel_dots_match_direct_sums() {
        let (panels, ar, br) = (3, 4, 2);
        let a: Vec<f64> = (0..panels * ar * LANES)
            .map(|i| (i % 11) as f64 - 5.0)
            .collect();
        let b: Vec<f64> = (0..panels * br * LANES)
            .map(|i| (i % 3) as f64 * 0.25)
            .collect();
        let mut want = vec![1.0; ar * br];
        for (idx, w) in want.iter_mut().enumerate() {
            let (i, j) = (idx / br, idx % br);
            for pn in 0..panels {
                for l in 0..LANES {
                    *w += a[(pn * ar + i) * LANES + l] * b[(pn * br + j) * LANES + l];
                }
            }
        }
        let mut out = vec![1.0; ar * br];
        panel_dots(&a, ar, &b, br, &mut out);
        assert_eq!(out, want);
        let mut out = vec![1.0; ar * br];
        panel_dots_impl::<f64, false>(&a, ar, &b, br, &mut out);
        assert_eq!(out, want);
    }
}
