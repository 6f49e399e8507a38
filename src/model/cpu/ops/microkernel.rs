//! Entry points to the register tiles of `tiles`, and all `unsafe` of the ops: a run-time
//! switch to copies of the tiles compiled for AVX2 and FMA.
//!
//! [`rows_times`] multiplies packed blocks of `ROWS` matrix rows by a "panel" of `LANES`
//! columns: `out[r][j] = sum_t a[t][r] * b[t][j]`. A 6x16 f32 tile keeps 12 AVX2
//! accumulators, 2 panel loads and one broadcast in the 16 vector registers; it measured
//! ~78 GFLOP/s on one Zen 3 core against 38-50 for 4x24, 4x16, 3x24 and 8x8 tiles, and
//! against 9-24 GFLOP/s for the `gemm` crate on the thin products of small convolutions
//! (8-16 output channels), where packing the large operand dominates. [`panel_dots`]
//! reduces over panels instead, for the weight gradient.

use super::im2col::Runs;
use super::tiles::{self, AddStrided, AddTransposed, Blocks, TileSink};
use super::Real;

pub(crate) use super::operands::{Gathered, PanelRows, RowTable, LANES, ROWS};

/// Whether the CPU runs the AVX2+FMA copies.
#[cfg(target_arch = "x86_64")]
fn has_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// For every block of `ROWS` rows packed in `a` (each `[inner][ROWS]`, `inner` being the
/// number of rows of `b`), writes `out[r][j] = sum_t a[t][r] * b.row(t)[j]` into that
/// block's `ROWS x LANES` slice of `out`.
///
/// # Panics
/// If the lengths do not describe whole blocks, or a row of `b` reaches past its data.
pub(crate) fn rows_times<E: Real>(a: &[E], b: PanelRows<'_, E>, out: &mut [E]) {
    check_blocks(a, b);
    assert_eq!(out.len(), a.len() / b.rows() * LANES, "output rows");
    dispatch_rows_times(a, b, Blocks(out));
}

/// As [`rows_times`], but result row `i` (a kernel tap) is added, column run by column run,
/// onto `dx[run.src + offsets[i]..][..run.len]` (rows past `offsets` are padding and
/// dropped): the input gradient's patches added straight onto `dx`, fusing col2im into the
/// multiply.
///
/// # Panics
/// As [`rows_times`], or if a destination run reaches past `dx`.
pub(crate) fn rows_times_scatter_add<E: Real>(
    a: &[E],
    b: PanelRows<'_, E>,
    dx: &mut [E],
    runs: &Runs,
    offsets: &[usize],
) {
    check_blocks(a, b);
    assert!(
        offsets.len() <= a.len() / b.rows(),
        "more offsets than rows"
    );
    dispatch_rows_times(
        a,
        b,
        AddStrided {
            dst: dx,
            runs,
            offsets,
        },
    );
}

/// Panics unless `a` holds whole `ROWS`-row blocks over `b`'s rows.
fn check_blocks<E>(a: &[E], b: PanelRows<'_, E>) {
    let inner = b.rows();
    assert!(
        inner > 0 && a.len().is_multiple_of(inner * ROWS),
        "packed rows do not match the panel"
    );
}

/// Runs [`tiles::rows_times`] on the fastest code path.
fn dispatch_rows_times<E: Real, S: TileSink<E>>(a: &[E], b: PanelRows<'_, E>, out: S) {
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: `rows_times_fma` only requires the AVX2 and FMA instruction sets, which
        // the CPU was just checked to have; its body is safe code.
        unsafe { rows_times_fma(a, b, out) };
        return;
    }
    tiles::rows_times::<E, S, false>(a, b, out);
}

/// [`tiles::rows_times`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_times_fma<E: Real, S: TileSink<E>>(a: &[E], b: PanelRows<'_, E>, out: S) {
    tiles::rows_times::<E, S, true>(a, b, out);
}

/// The weight gradient's product for one block of `ROWS` taps and `LANES` output channels:
/// `acc[r][l] = sum_t a.row(t)[r] * b.row(t)[l]`, added onto `dw[(o0 + l) * taps + t0 + r]`
/// for the `taps` x `outs` entries that exist (the rest is padding).
///
/// # Panics
/// If `a` and `b` differ in length, or an entry lies outside `dw` (`outs x taps`).
pub(crate) fn gathered_times_add<E: Real>(
    a: Gathered<'_, E>,
    b: PanelRows<'_, E>,
    dw: &mut [E],
    (t0, o0): (usize, usize),
    (taps, outs): (usize, usize),
) {
    assert_eq!(a.len(), b.rows(), "positions of the two operands");
    assert_eq!(dw.len(), taps * outs, "weight gradient size");
    let sink = AddTransposed {
        dw,
        t0,
        o0,
        taps,
        outs,
    };
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: `gathered_times_fma` only requires the AVX2 and FMA instruction sets,
        // which the CPU was just checked to have; its body is safe code.
        unsafe { gathered_times_fma(a, b, sink) };
        return;
    }
    tiles::gathered_times::<E, false>(a, b, sink);
}

/// [`tiles::gathered_times`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gathered_times_fma<E: Real>(
    a: Gathered<'_, E>,
    b: PanelRows<'_, E>,
    out: AddTransposed<'_, E>,
) {
    tiles::gathered_times::<E, true>(a, b, out);
}

/// Adds onto `out` (`a rows x b rows`) the dot products of every row of `a` with every row
/// of `b`, summed over the panels (`a[pn]` pairs with `b[pn]`).
///
/// # Panics
/// If the panel lists differ in length or are empty, `out` has the wrong size, or a row
/// reaches past its data.
pub(crate) fn panel_dots<E: Real>(a: &[PanelRows<'_, E>], b: &[PanelRows<'_, E>], out: &mut [E]) {
    assert!(!a.is_empty() && a.len() == b.len(), "panel counts");
    assert_eq!(out.len(), a[0].rows() * b[0].rows(), "output size");
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: `panel_dots_fma` only requires the AVX2 and FMA instruction sets, which
        // the CPU was just checked to have; its body is safe code.
        unsafe { panel_dots_fma(a, b, out) };
        return;
    }
    tiles::panel_dots::<E, false>(a, b, out);
}

/// [`tiles::panel_dots`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_dots_fma<E: Real>(a: &[PanelRows<'_, E>], b: &[PanelRows<'_, E>], out: &mut [E]) {
    tiles::panel_dots::<E, true>(a, b, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row offsets of a packed `[row][LANES]` panel.
    fn packed(rows: usize) -> RowTable {
        RowTable::strided(rows, LANES)
    }

    /// Two row blocks against direct sums, on both code paths, from a packed panel and
    /// from rows scattered in reverse order, then scatter-added.
    #[test]
    fn rows_times_matches_direct_sums() {
        let inner = 3;
        let a: Vec<f64> = (0..2 * inner * ROWS)
            .map(|i| (i % 7) as f64 - 3.0)
            .collect();
        let b: Vec<f64> = (0..inner * LANES).map(|i| (i % 5) as f64 * 0.5).collect();
        let mut want = vec![0.0; 2 * ROWS * LANES];
        for (idx, w) in want.iter_mut().enumerate() {
            let (blk, r, j) = (idx / (ROWS * LANES), idx / LANES % ROWS, idx % LANES);
            *w = (0..inner)
                .map(|t| a[blk * inner * ROWS + t * ROWS + r] * b[t * LANES + j])
                .sum();
        }
        let offs = packed(inner);
        let panel = PanelRows::new(&b, 0, &offs);
        let mut out = vec![0.0; 2 * ROWS * LANES];
        rows_times(&a, panel, &mut out);
        assert_eq!(out, want);
        let mut out = vec![0.0; 2 * ROWS * LANES];
        tiles::rows_times::<f64, _, false>(&a, panel, Blocks(&mut out));
        assert_eq!(out, want);
        let mut reversed = vec![f64::NAN; 5];
        (0..inner)
            .rev()
            .for_each(|t| reversed.extend_from_slice(&b[t * LANES..][..LANES]));
        let offs = RowTable::new((0..inner).map(|t| (inner - 1 - t) * LANES).collect());
        let mut out = vec![0.0; 2 * ROWS * LANES];
        rows_times(&a, PanelRows::new(&reversed, 5, &offs), &mut out);
        assert_eq!(out, want);
        // Scatter-add 7 of the 12 rows onto ones, row i at dst[1 + 20 * i..]: one run.
        let dst_offs: Vec<usize> = (0..7).map(|i| 20 * i).collect();
        let mut dst = vec![1.0; 1 + 20 * 7];
        rows_times_scatter_add(&a, panel, &mut dst, &Runs::single(1), &dst_offs);
        for (i, &off) in dst_offs.iter().enumerate() {
            let (got, row) = (&dst[1 + off..][..LANES], &want[i * LANES..][..LANES]);
            assert!(got.iter().zip(row).all(|(g, w)| *g == w + 1.0), "row {i}");
        }
    }

    /// Dot products over three panels with odd row counts (edge tiles), on both paths.
    #[test]
    fn panel_dots_match_direct_sums() {
        let (panels, ar, br) = (3, 7, 3);
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
        let (oa, ob) = (packed(ar), packed(br));
        let pa: Vec<_> = (0..panels)
            .map(|pn| PanelRows::new(&a, pn * ar * LANES, &oa))
            .collect();
        let pb: Vec<_> = (0..panels)
            .map(|pn| PanelRows::new(&b, pn * br * LANES, &ob))
            .collect();
        let mut out = vec![1.0; ar * br];
        panel_dots(&pa, &pb, &mut out);
        assert_eq!(out, want);
        let mut out = vec![1.0; ar * br];
        tiles::panel_dots::<f64, false>(&pa, &pb, &mut out);
        assert_eq!(out, want);
    }
}
