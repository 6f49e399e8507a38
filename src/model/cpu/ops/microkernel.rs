//! Entry points to the register tiles of `tiles`, and all `unsafe` of the ops: copies of
//! the tiles compiled per instruction-set path ([`Isa`]), chosen by the caller's path and
//! checked against the CPU at every call (a cached flag), so a wrong path cannot run.
//!
//! [`rows_times`] multiplies packed blocks of `ROWS` matrix rows by a "panel" of `LANES`
//! columns: `out[r][j] = sum_t a[t][r] * b[t][j]`. A 6x16 f32 tile keeps 12 AVX2
//! accumulators, 2 panel loads and one broadcast in the 16 vector registers; it measured
//! ~78 GFLOP/s on one Zen 3 core against 38-50 for 4x24, 4x16, 3x24 and 8x8 tiles, and
//! against 9-24 GFLOP/s for the `gemm` crate on the thin products of small convolutions
//! (8-16 output channels), where packing the large operand dominates. An AVX-512 CPU runs
//! these AVX2 tiles: a 12x16 AVX-512 variant (one 512-bit accumulator per row) issued 13
//! loads per 12 FMAs and measured 15-20% slower per CPU second on the seed's panel layers
//! (docs/performance.md); AVX-512's own tiles are the row-segment ones (`segkernel`), for
//! layers whose output rows fill a register, and the channel-lane one (`lanekernel`) for
//! narrower layers with 16+ output channels, so on AVX-512 these tiles serve only layers of
//! fewer channels. [`panel_dots`] reduces over panels instead,
//! for the weight gradient (16-lane accumulators on AVX-512).

use super::im2col::Runs;
use super::isa::Isa;
use super::tiles::{self, AddStrided, AddTransposed, Blocks, TileSink, HALF};
use super::Real;

pub(crate) use super::operands::{Gathered, PanelRows, RowTable, LANES, ROWS};

/// The path a call runs: `isa` if the CPU has it (it always does when `isa` came from
/// [`Isa::current`]), else the portable one. The check is what makes the `unsafe` calls
/// below sound whatever a caller passes.
#[inline(always)]
pub(crate) fn checked(isa: Isa) -> Isa {
    if isa.supported() {
        isa
    } else {
        Isa::Scalar
    }
}

/// For every block of `ROWS` rows packed in `a` (each `[inner][ROWS]`, `inner` being the
/// number of rows of `b`), writes `out[r][j] = sum_t a[t][r] * b.row(t)[j]` into that
/// block's `ROWS x LANES` slice of `out`.
///
/// # Panics
/// If the lengths do not describe whole blocks, or a row of `b` reaches past its data.
pub(crate) fn rows_times<E: Real>(isa: Isa, a: &[E], b: PanelRows<'_, E>, out: &mut [E]) {
    check_blocks(a, b);
    assert_eq!(out.len(), a.len() / b.rows() * LANES, "output rows");
    dispatch_rows_times(isa, a, b, Blocks(out));
}

/// As [`rows_times`], but result row `i` (a kernel tap) is added, column run by column run,
/// onto `dx[run.src + offsets[i]..][..run.len]` (rows past `offsets` are padding and
/// dropped): the input gradient's patches added straight onto `dx`, fusing col2im into the
/// multiply.
///
/// # Panics
/// As [`rows_times`], or if a destination run reaches past `dx`.
pub(crate) fn rows_times_scatter_add<E: Real>(
    isa: Isa,
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
    let sink = AddStrided {
        dst: dx,
        runs,
        offsets,
    };
    dispatch_rows_times(isa, a, b, sink);
}

/// Panics unless `a` holds whole `ROWS`-row blocks over `b`'s rows.
fn check_blocks<E>(a: &[E], b: PanelRows<'_, E>) {
    let inner = b.rows();
    assert!(
        inner > 0 && a.len().is_multiple_of(inner * ROWS),
        "packed rows do not match the panel"
    );
}

/// Runs the rows-times tile of path `isa`.
fn dispatch_rows_times<E: Real, S: TileSink<E>>(isa: Isa, a: &[E], b: PanelRows<'_, E>, out: S) {
    match checked(isa) {
        // SAFETY: the function only requires AVX2 and FMA, which `checked` just confirmed
        // the CPU has (an AVX-512 CPU has both); its body is safe code.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => unsafe { rows_times_fma(a, b, out) },
        _ => tiles::rows_times::<E, S, false>(a, b, out),
    }
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
    isa: Isa,
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
    match checked(isa) {
        // SAFETY (both arms): as in `dispatch_rows_times`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => unsafe { gathered_times_fma(a, b, sink) },
        _ => tiles::gathered_times::<E, false>(a, b, sink),
    }
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
pub(crate) fn panel_dots<E: Real>(
    isa: Isa,
    a: &[PanelRows<'_, E>],
    b: &[PanelRows<'_, E>],
    out: &mut [E],
) {
    assert!(!a.is_empty() && a.len() == b.len(), "panel counts");
    assert_eq!(out.len(), a[0].rows() * b[0].rows(), "output size");
    match checked(isa) {
        // SAFETY (both arms): as in `dispatch_rows_times`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { panel_dots_avx512(a, b, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { panel_dots_fma(a, b, out) },
        _ => tiles::panel_dots::<E, false, HALF>(a, b, out),
    }
}

/// [`tiles::panel_dots`] compiled with AVX2 and FMA enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_dots_fma<E: Real>(a: &[PanelRows<'_, E>], b: &[PanelRows<'_, E>], out: &mut [E]) {
    tiles::panel_dots::<E, true, HALF>(a, b, out);
}

/// [`tiles::panel_dots`] compiled with AVX-512F enabled: whole 16-lane rows per accumulator.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn panel_dots_avx512<E: Real>(
    a: &[PanelRows<'_, E>],
    b: &[PanelRows<'_, E>],
    out: &mut [E],
) {
    tiles::panel_dots::<E, true, LANES>(a, b, out);
}

/// Independent multiply-add chains in [`fma_peak`]: enough to cover the FMA units' latency
/// (two units of four cycles want eight). Their constants pass through `black_box`: the
/// compiler folds a chain it can see is at a fixed point.
const CHAINS: usize = 10;

/// The single-thread f32 multiply-add rate of path `isa` in GFLOP/s, from `steps` steps of
/// register-only FMA chains (written with intrinsics: the compiler left generic chains
/// scalar): the ceiling the tiles are measured against.
pub(crate) fn fma_peak(isa: Isa, steps: usize) -> f64 {
    let start = std::time::Instant::now();
    let sum = match checked(isa) {
        // SAFETY (both arms): as in `dispatch_rows_times`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { chains_avx512(steps) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { chains_avx2(steps) },
        _ => chains_scalar(steps),
    };
    std::hint::black_box(sum);
    let flops = (steps * fma_peak_step_flops(isa)) as f64;
    flops / start.elapsed().as_secs_f64().max(1e-9) / 1e9
}

/// Floating-point operations of one [`fma_peak`] step on path `isa`.
pub(crate) fn fma_peak_step_flops(isa: Isa) -> usize {
    let lanes = match checked(isa) {
        Isa::Avx512 => 16,
        Isa::Avx2 => 8,
        Isa::Scalar => 1,
    };
    CHAINS * lanes * 2
}

/// Scalar multiply-adds (unfused: the portable path has no FMA).
fn chains_scalar(steps: usize) -> f32 {
    let mut acc = [1.0f32; CHAINS];
    let (m, c) = (
        std::hint::black_box(0.999f32),
        std::hint::black_box(0.001f32),
    );
    for _ in 0..steps {
        acc.iter_mut().for_each(|v| *v = *v * m + c);
    }
    acc.iter().sum()
}

/// `CHAINS` 256-bit FMA chains.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chains_avx2(steps: usize) -> f32 {
    use std::arch::x86_64::*;
    use std::hint::black_box;
    let (m, c) = (
        _mm256_set1_ps(black_box(0.999)),
        _mm256_set1_ps(black_box(0.001)),
    );
    let mut acc = [_mm256_set1_ps(1.0); CHAINS];
    for _ in 0..steps {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, c);
        }
    }
    let mut out = [0.0f32; 8];
    for v in acc {
        // SAFETY: `out` holds 8 floats, the 256 bits stored (unaligned store).
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
    }
    out.iter().sum()
}

/// `CHAINS` 512-bit FMA chains.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn chains_avx512(steps: usize) -> f32 {
    use std::arch::x86_64::*;
    use std::hint::black_box;
    let (m, c) = (
        _mm512_set1_ps(black_box(0.999)),
        _mm512_set1_ps(black_box(0.001)),
    );
    let mut acc = [_mm512_set1_ps(1.0); CHAINS];
    for _ in 0..steps {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, c);
        }
    }
    acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row offsets of a packed `[row][LANES]` panel.
    fn packed(rows: usize) -> RowTable {
        RowTable::strided(rows, LANES)
    }

    /// Three row blocks (a pair and an odd one on AVX-512) against direct sums, on every
    /// path this CPU runs, from a packed panel and from rows scattered in reverse order,
    /// then scatter-added.
    #[test]
    fn rows_times_matches_direct_sums() {
        let (inner, blocks) = (3, 3);
        let a: Vec<f64> = (0..blocks * inner * ROWS)
            .map(|i| (i % 7) as f64 - 3.0)
            .collect();
        let b: Vec<f64> = (0..inner * LANES).map(|i| (i % 5) as f64 * 0.5).collect();
        let mut want = vec![0.0; blocks * ROWS * LANES];
        for (idx, w) in want.iter_mut().enumerate() {
            let (blk, r, j) = (idx / (ROWS * LANES), idx / LANES % ROWS, idx % LANES);
            *w = (0..inner)
                .map(|t| a[blk * inner * ROWS + t * ROWS + r] * b[t * LANES + j])
                .sum();
        }
        let offs = packed(inner);
        let panel = PanelRows::new(&b, 0, &offs);
        let mut reversed = vec![f64::NAN; 5];
        (0..inner)
            .rev()
            .for_each(|t| reversed.extend_from_slice(&b[t * LANES..][..LANES]));
        let rev_offs = RowTable::new((0..inner).map(|t| (inner - 1 - t) * LANES).collect());
        for isa in Isa::available() {
            let mut out = vec![0.0; blocks * ROWS * LANES];
            rows_times(isa, &a, panel, &mut out);
            assert_eq!(out, want, "{isa:?}");
            let mut out = vec![0.0; blocks * ROWS * LANES];
            rows_times(isa, &a, PanelRows::new(&reversed, 5, &rev_offs), &mut out);
            assert_eq!(out, want, "{isa:?} reversed");
            // Scatter-add 13 of the 18 rows onto ones, row i at dst[1 + 20 * i..]: one run.
            let dst_offs: Vec<usize> = (0..13).map(|i| 20 * i).collect();
            let mut dst = vec![1.0; 1 + 20 * 13];
            rows_times_scatter_add(isa, &a, panel, &mut dst, &Runs::single(1), &dst_offs);
            for (i, &off) in dst_offs.iter().enumerate() {
                let (got, row) = (&dst[1 + off..][..LANES], &want[i * LANES..][..LANES]);
                assert!(
                    got.iter().zip(row).all(|(g, w)| *g == w + 1.0),
                    "{isa:?} row {i}"
                );
            }
        }
    }

    /// Dot products over three panels with odd row counts (edge tiles), on every path.
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
        for isa in Isa::available() {
            let mut out = vec![1.0; ar * br];
            panel_dots(isa, &pa, &pb, &mut out);
            assert_eq!(out, want, "{isa:?}");
        }
    }
}
