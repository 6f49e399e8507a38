//! Entry points to the row-segment tiles of `segments`, compiled per instruction-set path
//! ([`Isa`]) and checked against the CPU at every call, as `microkernel` does for the panel
//! tiles. For `f32` the AVX paths use explicit vectors ([`Avx512`], [`Avx2`]), which can
//! only be made here, after the CPU check; `f64` (gradient checks) uses plain arrays.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::Isa;
use super::microkernel::checked;
use super::operands::LANES;
use super::segments::{self, Lanes, Portable, SegPairs, SegRow};
use super::Real;

/// One 512-bit register of 16 `f32`s. Made only by the dispatchers below once the CPU is
/// known to run AVX-512F, so its safe methods may use the instructions.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Lanes<f32> for Avx512 {
    type V = __m512;
    #[inline(always)]
    fn zero(self) -> __m512 {
        // SAFETY (every method): an `Avx512` exists only where the CPU runs AVX-512F.
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    fn splat(self, v: f32) -> __m512 {
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    fn load(self, v: &[f32; LANES]) -> __m512 {
        // The array holds the 16 floats read (unaligned load).
        unsafe { _mm512_loadu_ps(v.as_ptr()) }
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn store(self, v: __m512) -> [f32; LANES] {
        let mut out = [0.0; LANES];
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
        out
    }
}

/// Two 256-bit registers of 8 `f32`s. Made only by the dispatchers below once the CPU is
/// known to run AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Lanes<f32> for Avx2 {
    type V = [__m256; 2];
    #[inline(always)]
    fn zero(self) -> [__m256; 2] {
        // SAFETY (every method): an `Avx2` exists only where the CPU runs AVX2 and FMA.
        unsafe { [_mm256_setzero_ps(); 2] }
    }
    #[inline(always)]
    fn splat(self, v: f32) -> [__m256; 2] {
        unsafe { [_mm256_set1_ps(v); 2] }
    }
    #[inline(always)]
    fn load(self, v: &[f32; LANES]) -> [__m256; 2] {
        // The array holds both halves' 8 floats (unaligned loads).
        unsafe {
            [
                _mm256_loadu_ps(v.as_ptr()),
                _mm256_loadu_ps(v.as_ptr().add(8)),
            ]
        }
    }
    #[inline(always)]
    fn fma(self, a: [__m256; 2], b: [__m256; 2], c: [__m256; 2]) -> [__m256; 2] {
        unsafe {
            [
                _mm256_fmadd_ps(a[0], b[0], c[0]),
                _mm256_fmadd_ps(a[1], b[1], c[1]),
            ]
        }
    }
    #[inline(always)]
    fn add(self, a: [__m256; 2], b: [__m256; 2]) -> [__m256; 2] {
        unsafe { [_mm256_add_ps(a[0], b[0]), _mm256_add_ps(a[1], b[1])] }
    }
    #[inline(always)]
    fn store(self, v: [__m256; 2]) -> [f32; LANES] {
        let mut out = [0.0; LANES];
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), v[0]);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), v[1]);
        }
        out
    }
}

/// Convolves one output row on path `isa`; see [`segments::seg_row`].
///
/// # Panics
/// As [`segments::seg_row`].
pub(crate) fn seg_row<E: Real, const R: usize, const C: usize>(
    isa: Isa,
    a: &[E],
    row: &mut SegRow<'_, '_, E>,
) {
    let isa = checked(isa);
    #[cfg(target_arch = "x86_64")]
    if let (true, Some(a32)) = (isa != Isa::Scalar, E::f32s(a)) {
        if let Some(mut row32) = row.f32s() {
            // SAFETY (both arms): the functions only require the instruction sets of their
            // path, which `checked` just confirmed the CPU has.
            unsafe {
                if isa == Isa::Avx512 {
                    seg_row_avx512::<R, C>(a32, &mut row32);
                } else {
                    seg_row_avx2::<R, C>(a32, &mut row32);
                }
            }
            return;
        }
    }
    match isa {
        // SAFETY: as above (f64 on an AVX path: plain arrays, fused multiply-adds).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => unsafe { seg_row_fma::<E, R, C>(a, row) },
        _ => segments::seg_row::<E, _, R, C>(Portable::<false>, a, row),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn seg_row_avx512<const R: usize, const C: usize>(a: &[f32], row: &mut SegRow<'_, '_, f32>) {
    segments::seg_row::<f32, _, R, C>(Avx512(()), a, row);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn seg_row_avx2<const R: usize, const C: usize>(a: &[f32], row: &mut SegRow<'_, '_, f32>) {
    segments::seg_row::<f32, _, R, C>(Avx2(()), a, row);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn seg_row_fma<E: Real, const R: usize, const C: usize>(
    a: &[E],
    row: &mut SegRow<'_, '_, E>,
) {
    segments::seg_row::<E, _, R, C>(Portable::<true>, a, row);
}

/// Adds the lane-wise weight-gradient products of `p`'s segments onto `acc` on path `isa`;
/// see [`segments::seg_dots`].
///
/// # Panics
/// As [`segments::seg_dots`].
pub(crate) fn seg_dots<E: Real, const R: usize, const C: usize>(
    isa: Isa,
    p: &SegPairs<'_, E>,
    acc: &mut [[E; LANES]],
) {
    let isa = checked(isa);
    #[cfg(target_arch = "x86_64")]
    if let (true, Some(p32)) = (isa != Isa::Scalar, p.f32s()) {
        if let Some(a) = E::f32s_mut(acc.as_flattened_mut()) {
            let (a, _) = a.as_chunks_mut::<LANES>();
            // SAFETY (both arms): as in `seg_times`.
            unsafe {
                if isa == Isa::Avx512 {
                    seg_dots_avx512::<R, C>(&p32, a);
                } else {
                    seg_dots_avx2::<R, C>(&p32, a);
                }
            }
            return;
        }
    }
    match isa {
        // SAFETY: as in `seg_times`.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => unsafe { seg_dots_fma::<E, R, C>(p, acc) },
        _ => segments::seg_dots::<E, _, R, C>(Portable::<false>, p, acc),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn seg_dots_avx512<const R: usize, const C: usize>(
    p: &SegPairs<'_, f32>,
    acc: &mut [[f32; LANES]],
) {
    segments::seg_dots::<f32, _, R, C>(Avx512(()), p, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn seg_dots_avx2<const R: usize, const C: usize>(
    p: &SegPairs<'_, f32>,
    acc: &mut [[f32; LANES]],
) {
    segments::seg_dots::<f32, _, R, C>(Avx2(()), p, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn seg_dots_fma<E: Real, const R: usize, const C: usize>(
    p: &SegPairs<'_, E>,
    acc: &mut [[E; LANES]],
) {
    segments::seg_dots::<E, _, R, C>(Portable::<true>, p, acc);
}
