//! What one DCT coefficient adds to its block's half-size (4x4) output.
//!
//! A JPEG block is `f(x, y) = 1/4 sum_uv C(u) C(v) F(v, u) cos((2x+1)u pi/16) cos((2y+1)v pi/16)`.
//! Averaging the outputs at `2i` and `2i+1` turns `cos((2x+1)u pi/16)` into
//! `cos(u pi/16) cos((2i+1)u pi/8)`, so the 2x2 box average of the full-size block is, per
//! axis, `m(i, u) = C(u)/2 cos(u pi/16) cos((2i+1)u pi/8)`: a 4x8 matrix in which frequency 4
//! vanishes and frequencies 5..7 fold onto 3..1. A coefficient's whole effect on the 4x4 output
//! is then the outer product `m(., v) m(., u)^T`, scaled by its quantiser.

use std::f64::consts::PI;
use std::sync::OnceLock;

/// Zigzag position -> natural (row-major) position in an 8x8 block.
pub(super) const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// One coefficient's contribution to a 4x4 output block, row-major.
pub(super) type Pattern = [f32; 16];

/// `m(i, u)` above, computed once.
fn half_idct() -> &'static [[f64; 8]; 4] {
    static TABLE: OnceLock<[[f64; 8]; 4]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut m = [[0.0; 8]; 4];
        for (i, row) in m.iter_mut().enumerate() {
            for (u, v) in row.iter_mut().enumerate() {
                let c = if u == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
                let f = u as f64;
                *v = c / 2.0 * (f * PI / 16.0).cos() * ((2 * i + 1) as f64 * f * PI / 8.0).cos();
            }
        }
        m
    })
}

/// The 64 patterns of a quantisation table, in zigzag order; `quant` is in zigzag order too,
/// as the `DQT` segment stores it.
pub(super) fn patterns(quant: &[u16; 64], out: &mut [Pattern; 64]) {
    let m = half_idct();
    for (k, pattern) in out.iter_mut().enumerate() {
        let natural = usize::from(ZIGZAG[k]);
        let (v, u) = (natural / 8, natural % 8);
        let q = f64::from(quant[k]);
        for (j, p) in pattern.iter_mut().enumerate() {
            *p = (q * m[j / 4][v] * m[j % 4][u]) as f32;
        }
    }
}

/// `acc += value * pattern`, 16 lanes (vectorised by the compiler).
#[inline(always)]
pub(super) fn add(acc: &mut Pattern, pattern: &Pattern, value: i32) {
    let value = value as f32;
    for (a, p) in acc.iter_mut().zip(pattern) {
        *a += value * p;
    }
}
