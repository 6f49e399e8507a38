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
    let gc = par_planes(n * c * plane_len, plane_len, |plane, out| {
        routed.scatter(plane, out);
        let (yp, (m, inv)) = xhat(plane);
        let f = terms.plane(plane);
        // `0 + f`, as the zeroed buffer the separate op adds onto (-0 becomes +0).
        for (o, &v) in out.iter_mut().zip(yp) {
            *o = E::default() + f(*o, (v - m) * inv);
        }
    });
    (gc, dgamma, dbeta)
}
