//! im2col and its adjoint: lay convolution patches out as GEMM operands and back.
//!
//! For a chunk of `s` samples the column matrix has one row per kernel tap
//! `kk = (c * k + ki) * k + kj` (the order of the weights' `(in, k, k)` axes) and one column per
//! output position `q = sample * oh * ow + oi * ow + oj`, stored row-major: every row is a run
//! of contiguous copies of input rows, so filling it is memcpy-speed.

use super::conv::Conv2dShape;
use super::Real;

/// Fills `col` (`g.taps() x samples * g.pixels()`) with the patches of `samples` inputs in `x`.
pub(crate) fn im2col<E: Real>(g: &Conv2dShape, x: &[E], samples: usize, col: &mut [E]) {
    let (k, oh, ow, p) = (g.kernel, g.out_height(), g.out_width(), g.pixels());
    let sp = samples * p;
    debug_assert_eq!(x.len(), samples * g.in_sample());
    debug_assert_eq!(col.len(), g.taps() * sp);
    for (kk, row) in col.chunks_exact_mut(sp).enumerate() {
        let (c, ki, kj) = (kk / (k * k), kk / k % k, kk % k);
        for s in 0..samples {
            let plane = &x[s * g.in_sample() + c * g.plane()..][..g.plane()];
            let dst = &mut row[s * p..][..p];
            for (oi, out_row) in dst.chunks_exact_mut(ow).enumerate().take(oh) {
                let start = (oi + ki) * g.width + kj;
                out_row.copy_from_slice(&plane[start..start + ow]);
            }
        }
    }
}

/// Adds the column-matrix gradient `col` back onto the input gradient `dx` of `samples`
/// inputs: the adjoint of [`im2col`], where overlapping patches sum.
pub(crate) fn col2im_add<E: Real>(g: &Conv2dShape, col: &[E], samples: usize, dx: &mut [E]) {
    let (k, oh, ow, p) = (g.kernel, g.out_height(), g.out_width(), g.pixels());
    let sp = samples * p;
    debug_assert_eq!(dx.len(), samples * g.in_sample());
    debug_assert_eq!(col.len(), g.taps() * sp);
    for (kk, row) in col.chunks_exact(sp).enumerate() {
        let (c, ki, kj) = (kk / (k * k), kk / k % k, kk % k);
        for s in 0..samples {
            let plane = &mut dx[s * g.in_sample() + c * g.plane()..][..g.plane()];
            let src = &row[s * p..][..p];
            for (oi, in_row) in src.chunks_exact(ow).enumerate().take(oh) {
                let start = (oi + ki) * g.width + kj;
                for (d, &v) in plane[start..start + ow].iter_mut().zip(in_row) {
                    *d += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// im2col then col2im_add multiplies each input element by the number of patches that
    /// cover it, which is easy to count by hand for a 3x4 input and a 2x2 kernel.
    #[test]
    fn adjoint_counts_patch_coverage() {
        let g = Conv2dShape::new((2, 1, 3, 4), (1, 1, 2, 2), 1).unwrap();
        let x: Vec<f64> = vec![1.0; 2 * 12];
        let mut col = vec![0.0; g.taps() * 2 * g.pixels()];
        im2col(&g, &x, 2, &mut col);
        assert!(col.iter().all(|&v| v == 1.0));
        let mut dx = vec![0.0; 24];
        col2im_add(&g, &col, 2, &mut dx);
        // Corners are in 1 patch, edges in 2, the two inner cells in 4.
        let one = [1.0, 2.0, 2.0, 1.0, 2.0, 4.0, 4.0, 2.0, 1.0, 2.0, 2.0, 1.0];
        assert_eq!(&dx[..12], &one);
        assert_eq!(&dx[12..], &one);
    }

    /// Each column-matrix entry is the input element the tap addresses.
    #[test]
    fn im2col_picks_patch_elements() {
        let g = Conv2dShape::new((1, 2, 3, 3), (1, 2, 2, 2), 1).unwrap();
        let x: Vec<f64> = (0..18).map(f64::from).collect();
        let mut col = vec![0.0; g.taps() * g.pixels()];
        im2col(&g, &x, 1, &mut col);
        // Tap (c=1, ki=1, kj=0) at output (0, 1) reads x[1, 1, 1] = 9 + 3 + 1.
        let kk = 4 + 2;
        assert_eq!(col[kk * 4 + 1], 13.0);
    }
}
