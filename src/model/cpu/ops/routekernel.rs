//! The pooled epilogue's (`epilogue`) output gradients routed back, plane by plane: batch
//! norm's backward sums, which gather the convolution output at each route's cell, and the
//! scatter onto the full-resolution gradient.
//!
//! Through a closure per output (a gather, a scatter), these were 9% and 4% of a `best.ron`
//! training step at batch 32. On AVX-512 (f32) 16 outputs go at once: routes widened, each
//! cell's offset added to a per-layer table of window corners, then one gather or scatter
//! instruction; the last group is masked. Output `k` sums into lane `k % 16` on every path,
//! with the same operations in the same order, so the same bits (tested).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::Isa;
use super::microkernel::checked;
use super::poolrow::DEAD;
use super::Real;

/// Each output's window corner (or position, without pooling) in its full-resolution
/// plane, the same for every plane, and the largest of them (checked against a plane once
/// per call: scanning the table would cost as much as the sums).
pub(super) struct Corners {
    table: Vec<u32>,
    top: usize,
}

impl Corners {
    /// The corners of outputs in rows of `ow` of a plane `width` wide, pooled or not.
    ///
    /// # Panics
    /// If a plane holds 2^31 elements or more.
    pub(super) fn new((oh, ow): (usize, usize), width: usize, pool: bool) -> Self {
        let at = |v: usize| match u32::try_from(v) {
            Ok(v) if v < 1 << 31 => v,
            _ => panic!("a plane of fewer than 2^31 elements"),
        };
        let step = if pool { 2 } else { 1 };
        let table: Vec<u32> = (0..oh * ow)
            .map(|k| at(step * ((k / ow) * width + k % ow)))
            .collect();
        // The table rises, so its last corner is the largest.
        let top = table.last().map_or(0, |&t| t as usize);
        Self { table, top }
    }

    /// Outputs per plane.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }
}

/// A plane's routed output gradients: `routes` and `gy` per output, `base` the outputs'
/// corners in the full-resolution plane (`width` wide; with pooling the route's cell `2 *
/// row + col` is added to them), `scale` dropout's.
pub(super) struct RoutedPlane<'a, E> {
    pub routes: &'a [u8],
    pub gy: &'a [E],
    pub base: &'a Corners,
    pub width: usize,
    pub pool: bool,
    pub scale: Option<E>,
}

impl<E: Real> RoutedPlane<'_, E> {
    /// The route bits naming a window cell: none without pooling.
    fn cell_bits(&self) -> u8 {
        if self.pool {
            3
        } else {
            0
        }
    }

    /// Panics unless the tables agree and every cell lies in a plane of `plane` elements.
    fn check(&self, plane: usize) {
        let len = self.routes.len();
        assert!(
            self.gy.len() == len && self.base.table.len() == len,
            "routed plane: lengths"
        );
        let reach = if self.pool { self.width + 1 } else { 0 };
        assert!(
            len == 0 || self.base.top + reach < plane,
            "routed plane: a window reaches past the plane"
        );
    }

    /// Output `k`'s cell in the plane and gradient: `0 + g` (or `0 + scale * g`, as dfdx's
    /// dropout), as the separate ops' zeroed buffers give it (-0 becomes +0), and 0 where
    /// its route is dead (at its window's first cell, which no other output reaches).
    fn cell(&self, k: usize) -> (usize, E) {
        let (r, zero) = (self.routes[k], E::default());
        let g = zero + self.scale.map_or(self.gy[k], |s| s * self.gy[k]);
        let cell = usize::from(r & self.cell_bits());
        let pos = self.base.table[k] as usize + (cell >> 1) * self.width + (cell & 1);
        (pos, if r == DEAD { zero } else { g })
    }

    /// The plane as f32 tables for the AVX-512 paths, when `E` is `f32`.
    #[cfg(target_arch = "x86_64")]
    fn f32s(&self) -> Option<Tables<'_>> {
        Some(Tables {
            routes: self.routes,
            gy: E::f32s(self.gy)?,
            base: &self.base.table,
            width: self.width as i32,
            bits: i32::from(self.cell_bits()),
            scale: self.scale.map(E::as_f32),
        })
    }
}

/// Lane sums `(dg, db)` over the plane's outputs `k` (into lane `k % 16`) of `g * ((y[pos]
/// - m) * inv)` and of `g`, with `(pos, g)` as [`RoutedPlane::cell`] gives them.
///
/// # Panics
/// If the tables disagree or a window reaches past `y`.
pub(super) fn gather_sums<E: Real>(
    isa: Isa,
    p: &RoutedPlane<'_, E>,
    y: &[E],
    (m, inv): (E, E),
) -> ([E; 16], [E; 16]) {
    p.check(y.len());
    #[cfg(target_arch = "x86_64")]
    if checked(isa) == Isa::Avx512 {
        if let (Some(t), Some(yf)) = (p.f32s(), E::f32s(y)) {
            let mut out = ([0f32; 16], [0f32; 16]);
            // SAFETY: the function only requires AVX-512F, which `checked` just confirmed;
            // `check` confirmed the tables' lengths and every cell lies inside `y`.
            unsafe { gather_sums_avx512(&t, yf, (m.as_f32(), inv.as_f32()), &mut out) };
            let back = |v: [f32; 16]| v.map(|x| E::from_f32(x).expect("f32 converts"));
            return (back(out.0), back(out.1));
        }
    }
    let _ = isa;
    let mut sums = ([E::default(); 16], [E::default(); 16]);
    for k in 0..p.routes.len() {
        let (pos, g) = p.cell(k);
        sums.0[k % 16] += g * ((y[pos] - m) * inv);
        sums.1[k % 16] += g;
    }
    sums
}

/// Writes each output's gradient at its cell in `out`, the plane's zeroed full-resolution
/// gradient, with `(pos, g)` as [`RoutedPlane::cell`] gives them.
///
/// # Panics
/// If the tables disagree or a window reaches past `out`.
pub(super) fn scatter<E: Real>(isa: Isa, p: &RoutedPlane<'_, E>, out: &mut [E]) {
    p.check(out.len());
    #[cfg(target_arch = "x86_64")]
    if checked(isa) == Isa::Avx512 {
        if let Some(t) = p.f32s() {
            if let Some(of) = E::f32s_mut(out) {
                // SAFETY: as in `gather_sums`, for `out`; distinct outputs' cells are
                // distinct (their windows do not overlap), so no two lanes write one cell.
                unsafe { scatter_avx512(&t, of) };
                return;
            }
        }
    }
    let _ = isa;
    for k in 0..p.routes.len() {
        let (pos, g) = p.cell(k);
        out[pos] = g;
    }
}

/// A plane's tables for the AVX-512 paths.
#[cfg(target_arch = "x86_64")]
struct Tables<'a> {
    routes: &'a [u8],
    gy: &'a [f32],
    base: &'a [u32],
    width: i32,
    bits: i32,
    scale: Option<f32>,
}

/// Outputs `k..k + 16` (those before the end): their cells, gradients (0 where dead) and
/// the mask of those that exist, as [`RoutedPlane::cell`] computes them one by one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn group(t: &Tables<'_>, k: usize) -> (__m512i, __m512, __mmask16) {
    let n = (t.routes.len() - k).min(16);
    // A short last group is copied out, padded with dead routes and corner 0.
    let (mut r, mut g, mut b) = ([DEAD; 16], [0f32; 16], [0u32; 16]);
    r[..n].copy_from_slice(&t.routes[k..k + n]);
    g[..n].copy_from_slice(&t.gy[k..k + n]);
    b[..n].copy_from_slice(&t.base[k..k + n]);
    // SAFETY: each array holds 16 elements (unaligned loads).
    let (r, g, base) = unsafe {
        (
            _mm512_cvtepu8_epi32(_mm_loadu_si128(r.as_ptr().cast())),
            _mm512_loadu_ps(g.as_ptr()),
            _mm512_loadu_si512(b.as_ptr().cast()),
        )
    };
    let g = match t.scale {
        Some(s) => _mm512_mul_ps(_mm512_set1_ps(s), g),
        None => g,
    };
    let alive = _mm512_cmpneq_epi32_mask(r, _mm512_set1_epi32(i32::from(DEAD)));
    let g = _mm512_maskz_mov_ps(alive, _mm512_add_ps(_mm512_setzero_ps(), g));
    let cell = _mm512_and_si512(r, _mm512_set1_epi32(t.bits));
    let off = _mm512_add_epi32(
        _mm512_mullo_epi32(_mm512_srli_epi32::<1>(cell), _mm512_set1_epi32(t.width)),
        _mm512_and_si512(cell, _mm512_set1_epi32(1)),
    );
    (_mm512_add_epi32(base, off), g, ((1u32 << n) - 1) as u16)
}

/// [`gather_sums`] for f32 on AVX-512.
///
/// # Safety
/// Every cell of `t` lies inside `y` (`RoutedPlane::check`), and `y` holds fewer than 2^31
/// elements (`Corners::new`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gather_sums_avx512(
    t: &Tables<'_>,
    y: &[f32],
    (m, inv): (f32, f32),
    out: &mut ([f32; 16], [f32; 16]),
) {
    let (mut dg, mut db) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let (vm, vinv) = (_mm512_set1_ps(m), _mm512_set1_ps(inv));
    for k in (0..t.routes.len()).step_by(16) {
        let (pos, g, valid) = group(t, k);
        // SAFETY: the caller vouches for every cell; lanes past the end are masked off.
        let v =
            unsafe { _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), valid, pos, y.as_ptr()) };
        let xhat = _mm512_mul_ps(_mm512_sub_ps(v, vm), vinv);
        // Lanes past the end add nothing (not even +0, which would turn a -0 into +0).
        dg = _mm512_mask_add_ps(dg, valid, dg, _mm512_mul_ps(g, xhat));
        db = _mm512_mask_add_ps(db, valid, db, g);
    }
    // SAFETY: each array holds the 16 floats stored (unaligned stores).
    unsafe {
        _mm512_storeu_ps(out.0.as_mut_ptr(), dg);
        _mm512_storeu_ps(out.1.as_mut_ptr(), db);
    }
}

/// [`scatter`] for f32 on AVX-512.
///
/// # Safety
/// As [`gather_sums_avx512`], for `out`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scatter_avx512(t: &Tables<'_>, out: &mut [f32]) {
    for k in (0..t.routes.len()).step_by(16) {
        let (pos, g, valid) = group(t, k);
        // SAFETY: the caller vouches for every cell; lanes past the end are masked off.
        unsafe { _mm512_mask_i32scatter_ps::<4>(out.as_mut_ptr(), valid, pos, g) };
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Both loops on every path equal the portable ones to the bit, lane by lane: pooled and
    /// not, dead routes, dropout's scale, planes with and without a short last group.
    #[test]
    fn every_path_matches_the_portable_loops_to_the_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut next = || rng.gen_range(0..1000u64);
        let shapes = [
            (6, 8, true),
            (9, 11, true),
            (12, 12, true),
            (5, 7, false),
            (4, 8, false),
        ];
        for (h, w, pool) in shapes {
            let y: Vec<f32> = (0..h * w)
                .map(|_| (next() % 1000) as f32 / 250.0 - 2.0)
                .collect();
            let dims = if pool { (h / 2, w / 2) } else { (h, w) };
            let base = Corners::new(dims, w, pool);
            for scale in [None, Some(1.25f32)] {
                let routes: Vec<u8> = (0..dims.0 * dims.1)
                    .map(|_| match next() % 6 {
                        5 => DEAD,
                        r if pool => (r % 4) as u8,
                        _ => 0,
                    })
                    .collect();
                let gy: Vec<f32> = (0..routes.len())
                    .map(|_| (next() % 100) as f32 / 64.0 - 0.7)
                    .collect();
                let p = RoutedPlane {
                    routes: &routes,
                    gy: &gy,
                    base: &base,
                    width: w,
                    pool,
                    scale,
                };
                let want = gather_sums(Isa::Scalar, &p, &y, (0.3, 1.7));
                assert!(want.1.iter().any(|&v| v != 0.0), "some gradient reaches");
                let mut want_out = vec![0.0; h * w];
                scatter(Isa::Scalar, &p, &mut want_out);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                for isa in Isa::available() {
                    let got = gather_sums(isa, &p, &y, (0.3, 1.7));
                    assert_eq!(bits(&got.0), bits(&want.0), "{isa:?} {h}x{w} dg");
                    assert_eq!(bits(&got.1), bits(&want.1), "{isa:?} {h}x{w} db");
                    let mut out = vec![0.0; h * w];
                    scatter(isa, &p, &mut out);
                    assert_eq!(bits(&out), bits(&want_out), "{isa:?} {h}x{w} scatter");
                }
            }
        }
    }
}
