//! The register tile of the channels-across-lanes convolution (`conv::lanes`), for layers
//! whose output rows are too narrow to fill a vector register with positions.
//!
//! One tile computes `acc[j][l] = sum_i a[rows[i] + j] * b[i * stride + l]` for
//! [`POS`] broadcast columns `j` and [`WIDE`] vector lanes `l` (two 16-lane registers of
//! output channels, or of input channels): per step `i` two vector loads, 12 broadcasts and
//! 24 FMAs, 24 accumulators in registers (of 32 on AVX-512). The same tile serves the
//! forward pass (`a` = patches, `b` = packed weights), the input gradient (`a` = output
//! gradients, `b` = transposed weights) and the weight gradient (`a` = transposed patches,
//! `b` = transposed output gradients), so one kernel is checked once.
//!
//! The f32 AVX-512 tile uses intrinsics, the others (f64, and paths without AVX-512) the
//! same loops in plain Rust; as in `microkernel`, the path is checked against the CPU at
//! every call ([`checked`]), which is what makes the `unsafe` calls sound.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::Isa;
use super::microkernel::checked;
use super::operands::RowTable;
use super::Real;

/// Broadcast columns of a tile (output positions, or taps in the weight gradient).
pub(crate) const POS: usize = 12;
/// Vector lanes of a tile: two 16-lane AVX-512 registers.
pub(crate) const WIDE: usize = 32;

/// A tile's accumulators, `[column][lane]`.
pub(crate) type Acc<E> = [[E; WIDE]; POS];

/// The operands of one tile, bounds-checked once when made so the inner loop reads them
/// without checks: step `i` broadcasts `a[rows[i]..][..POS]` and loads `b[i * stride..][..WIDE]`.
pub(crate) struct TileOps<'a, E> {
    a: &'a [E],
    rows: &'a [usize],
    b: &'a [E],
    stride: usize,
}

impl<'a, E: Real> TileOps<'a, E> {
    /// The operands of a tile over `rows` steps (their largest offset known, so the check
    /// costs nothing per tile).
    ///
    /// # Panics
    /// If there are no steps, or a row of `a` or of `b` reaches past its data.
    pub(crate) fn new(a: &'a [E], rows: &'a RowTable, b: &'a [E], stride: usize) -> Self {
        let offsets = rows.as_slice();
        assert!(!offsets.is_empty(), "a tile needs at least one step");
        assert!(
            rows.max() + POS <= a.len(),
            "broadcast rows reach past their data"
        );
        assert!(
            (offsets.len() - 1) * stride + WIDE <= b.len(),
            "vector rows reach past their data"
        );
        Self {
            a,
            rows: offsets,
            b,
            stride,
        }
    }
}

/// Writes the tile of `ops` into `acc` on path `isa` (the portable loops where the CPU
/// lacks it, or for f64).
pub(crate) fn tile<E: Real>(isa: Isa, ops: &TileOps<'_, E>, acc: &mut Acc<E>) {
    let isa = checked(isa);
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        if let (Some(a), Some(b)) = (E::f32s(ops.a), E::f32s(ops.b)) {
            if let Some(out) = E::f32s_mut(acc.as_flattened_mut()) {
                let ops32 = TileOps {
                    a,
                    rows: ops.rows,
                    b,
                    stride: ops.stride,
                };
                let (out, _) = out.as_chunks_mut::<WIDE>();
                let out: &mut Acc<f32> = out.try_into().expect("POS rows of WIDE lanes");
                // SAFETY: the function only requires AVX-512F, which `checked` just
                // confirmed the CPU has; `ops32` was checked when `ops` was made.
                unsafe { tile_avx512(&ops32, out) };
                return;
            }
        }
    }
    match isa {
        // SAFETY: the function only requires AVX2 and FMA, which `checked` confirmed (an
        // AVX-512 CPU has both); its body is safe code.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => unsafe { tile_fma(ops, acc) },
        _ => tile_portable::<E, false>(ops, acc),
    }
}

/// [`tile_portable`] compiled with AVX2 and FMA, multiply-adds fused.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_fma<E: Real>(ops: &TileOps<'_, E>, acc: &mut Acc<E>) {
    tile_portable::<E, true>(ops, acc);
}

/// The tile in plain Rust; `FUSED` selects fused multiply-adds (one rounding).
#[inline(always)]
fn tile_portable<E: Real, const FUSED: bool>(ops: &TileOps<'_, E>, acc: &mut Acc<E>) {
    *acc = [[E::default(); WIDE]; POS];
    for (i, &r) in ops.rows.iter().enumerate() {
        let a: &[E; POS] = ops.a[r..r + POS].try_into().expect("POS columns");
        let b: &[E; WIDE] = ops.b[i * ops.stride..][..WIDE]
            .try_into()
            .expect("WIDE lanes");
        for (row, &av) in acc.iter_mut().zip(a) {
            for (s, &bv) in row.iter_mut().zip(b) {
                *s = if FUSED {
                    av.mul_add(bv, *s)
                } else {
                    *s + av * bv
                };
            }
        }
    }
}

/// The f32 tile with AVX-512 intrinsics: 24 accumulators, two weight registers and a
/// broadcast stay in registers over all steps (checked in the disassembly).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512(ops: &TileOps<'_, f32>, out: &mut Acc<f32>) {
    let mut acc = [[_mm512_setzero_ps(); 2]; POS];
    let (a, b) = (ops.a.as_ptr(), ops.b.as_ptr());
    for (i, &r) in ops.rows.iter().enumerate() {
        // SAFETY: `TileOps::new` checked `rows[i] + POS <= a.len()` and
        // `i * stride + WIDE <= b.len()` for every step `i` (unaligned loads).
        unsafe {
            let bi = b.add(i * ops.stride);
            let (b0, b1) = (_mm512_loadu_ps(bi), _mm512_loadu_ps(bi.add(16)));
            let ar = a.add(r);
            for (j, row) in acc.iter_mut().enumerate() {
                let v = _mm512_set1_ps(*ar.add(j));
                row[0] = _mm512_fmadd_ps(v, b0, row[0]);
                row[1] = _mm512_fmadd_ps(v, b1, row[1]);
            }
        }
    }
    for (dst, row) in out.iter_mut().zip(acc) {
        // SAFETY: each output row holds the 32 floats stored (unaligned stores).
        unsafe {
            _mm512_storeu_ps(dst.as_mut_ptr(), row[0]);
            _mm512_storeu_ps(dst.as_mut_ptr().add(16), row[1]);
        }
    }
}

/// Runs of a panel's columns: `(col, len, src)`, columns `col..col + len` reading
/// consecutive input elements from `src` (at most [`POS`], one per column).
pub(crate) type PanelRuns = [(usize, usize, usize)];

/// Fills the `[tap][POS]` patch panel `panel`: for tap `t` at offset `taps[t]` and each run,
/// `panel[t * POS + col..][..len] = x[src + taps[t]..][..len]`; other columns keep their
/// values. On AVX-512 (f32) a run is one masked load and store, where element loops cost a
/// quarter of the multiply time of a 4-wide layer.
///
/// # Panics
/// If a run leaves the panel's row or reaches past `x`, or the panel is short.
pub(crate) fn fill_panel<E: Real>(
    isa: Isa,
    x: &[E],
    taps: &[usize],
    runs: &PanelRuns,
    panel: &mut [E],
) {
    let top_tap = taps.iter().copied().max().unwrap_or(0);
    for &(col, len, src) in runs {
        assert!(col + len <= POS, "a run leaves the panel row");
        assert!(
            top_tap + src + len <= x.len(),
            "a run reaches past the input"
        );
    }
    assert!(panel.len() >= taps.len() * POS, "panel length");
    #[cfg(target_arch = "x86_64")]
    if checked(isa) == Isa::Avx512 {
        if let (Some(x), Some(panel)) = (E::f32s(x), E::f32s_mut(panel)) {
            // SAFETY: the function only requires AVX-512F, which `checked` just confirmed;
            // the runs were checked against `x` and the panel above.
            unsafe { fill_panel_avx512(x, taps, runs, panel) };
            return;
        }
    }
    for (row, &tap) in panel.chunks_exact_mut(POS).zip(taps) {
        for &(col, len, src) in runs {
            let from = &x[src + tap..][..len];
            row[col..col + len]
                .iter_mut()
                .zip(from)
                .for_each(|(d, &v)| *d = v);
        }
    }
}

/// [`fill_panel`] with masked AVX-512 loads and stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fill_panel_avx512(x: &[f32], taps: &[usize], runs: &PanelRuns, panel: &mut [f32]) {
    let mut masked = [(0u16, 0usize, 0usize); POS];
    let n = runs.len().min(POS);
    for (m, &(col, len, src)) in masked.iter_mut().zip(runs) {
        *m = (((1u32 << len) - 1) as u16, col, src);
    }
    let (xp, pp) = (x.as_ptr(), panel.as_mut_ptr());
    for (t, &tap) in taps.iter().enumerate() {
        for &(mask, col, src) in &masked[..n] {
            // SAFETY: `fill_panel` checked `tap + src + len <= x.len()` and
            // `col + len <= POS` with `t * POS + POS <= panel.len()`; lanes past `len` are
            // masked off, neither read nor written.
            unsafe {
                let v = _mm512_maskz_loadu_ps(mask, xp.add(src + tap));
                _mm512_mask_storeu_ps(pp.add(t * POS + col), mask, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tile against direct sums on every path, with rows in reverse and a padded
    /// stride, in f64 (portable) and f32 (the intrinsics where the CPU has AVX-512).
    #[test]
    fn tile_matches_direct_sums() {
        let steps = 5;
        let a: Vec<f64> = (0..steps * POS + 3).map(|i| (i % 7) as f64 - 3.0).collect();
        let table = RowTable::new((0..steps).map(|i| 3 + (steps - 1 - i) * POS).collect());
        let rows = table.as_slice();
        let stride = WIDE + 4;
        let b: Vec<f64> = (0..steps * stride).map(|i| (i % 5) as f64 * 0.5).collect();
        let mut want = [[0.0; WIDE]; POS];
        for (j, row) in want.iter_mut().enumerate() {
            for (l, w) in row.iter_mut().enumerate() {
                *w = (0..steps).map(|i| a[rows[i] + j] * b[i * stride + l]).sum();
            }
        }
        let (a32, b32): (Vec<f32>, Vec<f32>) = (
            a.iter().map(|&v| v as f32).collect(),
            b.iter().map(|&v| v as f32).collect(),
        );
        for isa in Isa::available() {
            let mut acc = [[f64::NAN; WIDE]; POS];
            tile(isa, &TileOps::new(&a, &table, &b, stride), &mut acc);
            assert_eq!(acc, want, "{isa:?} f64");
            let mut acc = [[f32::NAN; WIDE]; POS];
            tile(isa, &TileOps::new(&a32, &table, &b32, stride), &mut acc);
            let got: Vec<f64> = acc.as_flattened().iter().map(|&v| f64::from(v)).collect();
            assert_eq!(got, want.as_flattened(), "{isa:?} f32");
        }
    }
}
