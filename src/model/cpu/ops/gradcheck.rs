//! Test helpers: deterministic random inputs and central-difference gradient checks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` values uniform in `[-1, 1)`, the same for the same seed.
pub(crate) fn random_vec(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// The gradient of `f` at `x` by central differences with step `eps`.
pub(crate) fn numeric_grad(x: &[f64], eps: f64, mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let mut probe = x.to_vec();
    (0..x.len())
        .map(|i| {
            probe[i] = x[i] + eps;
            let up = f(&probe);
            probe[i] = x[i] - eps;
            let down = f(&probe);
            probe[i] = x[i];
            (up - down) / (2.0 * eps)
        })
        .collect()
}

/// Asserts `analytic` and `numeric` agree to `tol`, relative to the larger magnitude (or
/// absolute below 1), naming the input and the first index that does not.
pub(crate) fn assert_grads_close(what: &str, analytic: &[f64], numeric: &[f64], tol: f64) {
    assert_eq!(
        analytic.len(),
        numeric.len(),
        "{what}: gradient lengths differ"
    );
    for (i, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        let scale = a.abs().max(n.abs()).max(1.0);
        assert!(
            (a - n).abs() <= tol * scale,
            "{what}[{i}]: analytic {a} vs numeric {n}"
        );
    }
}

/// Asserts two vectors agree to `tol` relative to the larger magnitude (or absolute below 1).
pub(crate) fn assert_all_close<E: Into<f64> + Copy>(what: &str, got: &[E], want: &[E], tol: f64) {
    let got: Vec<f64> = got.iter().map(|&v| v.into()).collect();
    let want: Vec<f64> = want.iter().map(|&v| v.into()).collect();
    assert_grads_close(what, &got, &want, tol);
}
