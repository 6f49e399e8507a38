//! One output row of the pooled epilogue (`epilogue`): each output the first maximum of its
//! 2x2 window after the optional normalisation, then ReLU, with its route byte.
//!
//! Per output, the portable loop maps four cells, picks the first maximum by three
//! compare-and-selects and writes a route byte: about 30 scalar instructions, which made
//! the pooled epilogue ~8% of a `best.ron` training step at batch 32 while it reads a quarter
//! as many bytes as the convolution before it writes. On AVX-512 (f32) 16 outputs go at
//! once: both input rows loaded as two vectors each, their even and odd columns split by
//! two-source permutes, the same operations per lane in the same order (so the same bits,
//! tested), and the routes narrowed to bytes by one masked store.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::Isa;
use super::microkernel::checked;
use super::Real;

/// The route of an output that ReLU zeroed (or dropout dropped): no gradient flows back
/// through it.
pub(super) const DEAD: u8 = 4;

/// `[mean, inv_std, gamma, beta]` of one channel's normalisation.
pub(super) type Norm<E> = Option<[E; 4]>;

/// `v` normalised: `gamma * ((v - mean) * inv_std) + beta`, the expression of
/// `batch_norm2d`'s normalisation and affine step, so the same bits; `v` itself without
/// (not even `1 * v + 0`, which turns -0 into +0).
#[inline(always)]
pub(super) fn normalise<E: Real>(v: E, norm: Norm<E>) -> E {
    match norm {
        Some([m, s, g, b]) => g * ((v - m) * s) + b,
        None => v,
    }
}

/// ReLU of `v` and the route its gradient takes: `route`, or [`DEAD`] where dfdx's `relu`
/// passes none (its input not above 0, NaN included).
#[inline(always)]
pub(super) fn relu_route<E: Real>(v: E, route: u8) -> (E, u8) {
    (v.relu(), if v > E::default() { route } else { DEAD })
}

/// Writes the `vals.len()` pooled outputs of input rows `r0` and `r1` (at least twice as
/// long) and their routes, normalising each cell with `norm` first.
///
/// # Panics
/// If the rows are short or the output slices differ in length.
pub(super) fn pool_row<E: Real>(
    isa: Isa,
    (r0, r1): (&[E], &[E]),
    norm: Norm<E>,
    vals: &mut [E],
    routes: &mut [u8],
) {
    let ow = vals.len();
    assert!(
        routes.len() == ow && r0.len() >= 2 * ow && r1.len() >= 2 * ow,
        "pool_row: lengths"
    );
    #[cfg(target_arch = "x86_64")]
    if checked(isa) == Isa::Avx512 {
        if let (Some(a), Some(b), Some(v)) = (E::f32s(r0), E::f32s(r1), E::f32s_mut(vals)) {
            let n = norm.map(|p| p.map(E::as_f32));
            // SAFETY: the function only requires AVX-512F, which `checked` just confirmed;
            // the lengths were checked above and every access is masked to them.
            unsafe { pool_row_avx512((a, b), n, v, routes) };
            return;
        }
    }
    let _ = isa;
    pool_row_portable((r0, r1), norm, vals, routes);
}

/// The portable loop: the expression of `batch_norm2d`, the first maximum as `max_pool2d`,
/// then dfdx's `relu`.
fn pool_row_portable<E: Real>(
    (r0, r1): (&[E], &[E]),
    norm: Norm<E>,
    vals: &mut [E],
    routes: &mut [u8],
) {
    for (j, (val, route)) in vals.iter_mut().zip(routes.iter_mut()).enumerate() {
        let cells =
            [r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]].map(|v| normalise(v, norm));
        let (mut best, mut at) = (cells[0], 0u8);
        for (idx, &v) in cells.iter().enumerate().skip(1) {
            // Strictly greater keeps the first maximum on ties, as `max_pool2d`.
            if v > best {
                (best, at) = (v, idx as u8);
            }
        }
        (*val, *route) = relu_route(best, at);
    }
}

/// [`pool_row_portable`] for f32 on AVX-512, 16 outputs at a time (the last ones masked).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_row_avx512(
    (r0, r1): (&[f32], &[f32]),
    norm: Option<[f32; 4]>,
    vals: &mut [f32],
    routes: &mut [u8],
) {
    let ow = vals.len();
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let zero = _mm512_setzero_ps();
    let map = |v: __m512| match norm {
        // `g * ((v - m) * s) + b`, each step rounded, as the portable loop.
        Some([m, s, g, b]) => _mm512_add_ps(
            _mm512_mul_ps(
                _mm512_set1_ps(g),
                _mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(m)), _mm512_set1_ps(s)),
            ),
            _mm512_set1_ps(b),
        ),
        None => v,
    };
    for j0 in (0..ow).step_by(16) {
        let n = (ow - j0).min(16);
        let out: __mmask16 = ((1u32 << n) - 1) as u16;
        let cells = 2 * n;
        let lo: __mmask16 = ((1u32 << cells.min(16)) - 1) as u16;
        let hi: __mmask16 = ((1u32 << cells.saturating_sub(16)) - 1) as u16;
        // SAFETY: `pool_row` checked both rows hold `2 * ow` cells; the loads are masked
        // to the `2 * n` cells from `2 * j0`, the stores to the `n` outputs from `j0`.
        unsafe {
            let (p0, p1) = (r0.as_ptr().add(2 * j0), r1.as_ptr().add(2 * j0));
            let (a0, a1) = (
                _mm512_maskz_loadu_ps(lo, p0),
                _mm512_maskz_loadu_ps(hi, p0.add(16)),
            );
            let (b0, b1) = (
                _mm512_maskz_loadu_ps(lo, p1),
                _mm512_maskz_loadu_ps(hi, p1.add(16)),
            );
            let cell = [
                map(_mm512_permutex2var_ps(a0, even, a1)),
                map(_mm512_permutex2var_ps(a0, odd, a1)),
                map(_mm512_permutex2var_ps(b0, even, b1)),
                map(_mm512_permutex2var_ps(b0, odd, b1)),
            ];
            let (mut best, mut at) = (cell[0], _mm512_setzero_si512());
            for (idx, &v) in cell.iter().enumerate().skip(1) {
                let greater = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
                best = _mm512_mask_mov_ps(best, greater, v);
                at = _mm512_mask_mov_epi32(at, greater, _mm512_set1_epi32(idx as i32));
            }
            // `f32::max(best, 0)`: 0 where `best` is NaN; `vmaxps` returns its second
            // operand when either is NaN (and for -0 against 0, tested to match).
            let relu = _mm512_max_ps(best, zero);
            let alive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(best, zero);
            let route = _mm512_mask_mov_epi32(_mm512_set1_epi32(i32::from(DEAD)), alive, at);
            _mm512_mask_storeu_ps(vals.as_mut_ptr().add(j0), out, relu);
            _mm512_mask_cvtepi32_storeu_epi8(routes.as_mut_ptr().add(j0).cast(), out, route);
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Every path against the portable loop, to the bit: row widths around the vector
    /// width, with and without normalisation, ties, zeros of both signs, NaNs and
    /// infinities among random cells.
    #[test]
    fn every_path_matches_the_portable_loop_to_the_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut next = || match rng.gen_range(0..11) {
            0 => 0.0,
            1 => -0.0,
            2 => f32::NAN,
            3 => 0.25,
            4 => f32::NEG_INFINITY,
            _ => rng.gen_range(-0.5..0.5),
        };
        let norms = [
            None,
            Some([0.1f32, 2.0, -0.5, 0.0]),
            Some([0.25, 1.0, 1.0, -0.0]),
        ];
        for ow in [1, 2, 7, 15, 16, 17, 30, 33] {
            for norm in norms {
                for _ in 0..20 {
                    let r0: Vec<f32> = (0..2 * ow + 1).map(|_| next()).collect();
                    let r1: Vec<f32> = (0..2 * ow + 1).map(|_| next()).collect();
                    let (mut want, mut want_r) = (vec![1.0; ow], vec![9; ow]);
                    pool_row_portable((&r0, &r1), norm, &mut want, &mut want_r);
                    for isa in Isa::available() {
                        let (mut got, mut got_r) = (vec![1.0; ow], vec![9; ow]);
                        pool_row(isa, (&r0, &r1), norm, &mut got, &mut got_r);
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got), bits(&want), "{isa:?} ow {ow} {r0:?} {r1:?}");
                        assert_eq!(got_r, want_r, "{isa:?} ow {ow} routes");
                    }
                }
            }
        }
    }
}
