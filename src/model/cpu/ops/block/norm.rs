//! Batch normalisation's backward pass inside a block, fused with the epilogue's: the
//! gradients of `gamma` and `beta` are summed over the outputs that pass a gradient (a
//! quarter of the map when pooled) and the convolution output's gradient is written in one
//! pass per plane, routed and normalised at once.
//!
//! The normalised map is not kept: it is recomputed from the convolution's output with the
//! expression `batch_norm2d` uses, `(v - mean) * inv_std`, so the same values. The separate
//! passes this replaces (the routed map written, read back for the sums, read and written
//! again for the input gradient, and the forward pass's normalised copy) each streamed the
//! full-resolution map through memory: on `best.ron` at batch 128, 118 MB for the first
//! block alone.

use rayon::prelude::*;

use super::super::batch_norm::{add_planes, fold_lanes, GradTerms};
use super::super::epilogue::Routed;
use super::super::isa::Isa;
use super::super::microkernel::checked;
use super::super::{par_planes, Real, Shape4};

/// What the backward pass needs of batch norm.
pub(super) struct Saved<E> {
    /// Scale per channel.
    pub gamma: Vec<E>,
    /// The mean the forward pass normalised with, per channel.
    pub mean: Vec<E>,
    /// `1 / sqrt(var + eps)` per channel.
    pub inv_std: Vec<E>,
    /// Whether the batch statistics were used (so they take part in the gradient).
    pub train: bool,
}

/// The gradient of the convolution output `y` of `shape`, and those of `gamma` and `beta`,
/// for the output gradient `routed` of the epilogue that normalised `y` with `s`.
pub(super) fn backward<E: Real>(
    shape: Shape4,
    routed: &Routed<'_, E>,
    y: &[E],
    s: &Saved<E>,
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let (n, c, h, w) = shape;
    let plane_len = h * w;
    assert_eq!(
        y.len(),
        n * c * plane_len,
        "block: convolution output length"
    );
    let xhat = |plane: usize| {
        let ch = plane % c;
        let (m, inv) = (s.mean[ch], s.inv_std[ch]);
        (&y[plane * plane_len..][..plane_len], (m, inv))
    };
    // Sums over the outputs of each plane in lanes, then per channel in plane order.
    let sums: Vec<[E; 2]> = (0..n * c)
        .into_par_iter()
        .map(|plane| {
            let (yp, norm) = xhat(plane);
            let (dg, db) = routed.sums(plane, yp, norm);
            [fold_lanes(dg), fold_lanes(db)]
        })
        .collect();
    let [dgamma, dbeta] = add_planes(c, &sums);
    let terms = GradTerms::new(
        shape,
        &s.gamma,
        &s.inv_std,
        s.train.then_some((&dgamma, &dbeta)),
    );
    // Read on the calling thread: the workers take the caller's path.
    let isa = Isa::current();
    let gc = par_planes(n * c * plane_len, plane_len, |plane, out| {
        routed.scatter(plane, out);
        let (yp, norm) = xhat(plane);
        input_grad(isa, out, yp, norm, terms.plane(plane));
    });
    (gc, dgamma, dbeta)
}

/// Turns a plane's routed gradient `out` into its convolution output's: `0 + f(out, (y - m)
/// * inv)` per element, `0 +` as the zeroed buffer the separate op adds onto (-0 becomes +0).
fn input_grad<E: Real, F: Fn(E, E) -> E>(isa: Isa, out: &mut [E], y: &[E], norm: (E, E), f: F) {
    #[cfg(target_arch = "x86_64")]
    if checked(isa) == Isa::Avx512 {
        // SAFETY: the function only requires AVX-512F, which `checked` just confirmed; its
        // body is safe code.
        unsafe { input_grad_avx512(out, y, norm, f) };
        return;
    }
    let _ = isa;
    input_grad_in(out, y, norm, f);
}

/// [`input_grad_in`] built for AVX-512: the crate's baseline build runs it 4 lanes at a
/// time; the same operations per element, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn input_grad_avx512<E: Real, F: Fn(E, E) -> E>(out: &mut [E], y: &[E], n: (E, E), f: F) {
    input_grad_in(out, y, n, f);
}

#[inline(always)]
fn input_grad_in<E: Real>(out: &mut [E], y: &[E], (m, inv): (E, E), f: impl Fn(E, E) -> E) {
    for (o, &v) in out.iter_mut().zip(y) {
        *o = E::default() + f(*o, (v - m) * inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input gradient on every path equals the portable loop's to the bit.
    #[test]
    fn input_grad_matches_on_every_path() {
        let y: Vec<f32> = (0..53).map(|i| (i % 7) as f32 * 0.37 - 1.1).collect();
        let g: Vec<f32> = (0..53).map(|i| (i % 5) as f32 * -0.21 + 0.3).collect();
        let f = |g: f32, x: f32| 1.3 * (g - 0.05 - x * 0.7);
        let mut want = g.clone();
        input_grad_in(&mut want, &y, (0.2, 1.9), f);
        for isa in Isa::available() {
            let mut got = g.clone();
            input_grad(isa, &mut got, &y, (0.2, 1.9), f);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{isa:?}");
        }
    }
}
