//! `batch_norm2d`: per-channel batch normalisation of NCHW activations, as a dfdx op.
//!
//! Follows Keras 3 `BatchNormalization` (axis = channels): in training the batch's mean and
//! biased variance over `(n, h, w)` normalise it, and the running statistics move towards
//! them, `running = momentum * running + (1 - momentum) * batch`; in inference the running
//! statistics are used. Learnable `gamma` (scale) and `beta` (shift) follow.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, Merge, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;
use rayon::prelude::*;

use super::isa::Isa;
use super::microkernel::checked;
use super::{add_assign, device_err, par_planes, to_vec, OpsError, Real, Shape4};

const OP: &str = "batch_norm2d";

/// Running mean and variance per channel, updated in training and used in inference.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningStats<E> {
    /// Running mean per channel.
    pub mean: Vec<E>,
    /// Running (biased) variance per channel.
    pub var: Vec<E>,
}

impl<E: Real> RunningStats<E> {
    /// Keras' initial state: mean 0 and variance 1 for every channel.
    pub fn new(channels: usize) -> Self {
        Self {
            mean: vec![E::default(); channels],
            var: vec![E::ONE; channels],
        }
    }
}

/// Whether to normalise with the batch's statistics or the running ones.
#[derive(Debug)]
pub enum BatchNormMode<'a, E> {
    /// Normalise with the batch statistics and move `stats` towards them by `momentum`
    /// (Keras' default is 0.99).
    Train {
        /// The running statistics to update.
        stats: &'a mut RunningStats<E>,
        /// Weight of the old running value.
        momentum: E,
    },
    /// Normalise with the running statistics.
    Infer(&'a RunningStats<E>),
}

/// Normalises `x` `(batch, ch, h, w)` per channel, then scales by `gamma` and shifts by
/// `beta` (both `(ch,)`); `eps` (Keras: 1e-3) is added to the variance.
///
/// On `backward()` the gradients of `x`, `gamma` and `beta` are accumulated; in training the
/// input gradient includes the batch statistics' dependence on `x`.
///
/// # Errors
/// [`OpsError::ChannelMismatch`] when `gamma`, `beta` or the statistics do not have one
/// entry per channel, [`OpsError::Device`] when dfdx cannot allocate the output.
pub fn try_batch_norm2d<E: Real, T, R>(
    x: Tensor<Shape4, E, Cpu, T>,
    gamma: Tensor<(usize,), E, Cpu, R>,
    beta: Tensor<(usize,), E, Cpu, R>,
    mode: BatchNormMode<'_, E>,
    eps: E,
) -> Result<Tensor<Shape4, E, Cpu, T>, OpsError>
where
    T: Tape<E, Cpu> + Merge<R>,
    R: Tape<E, Cpu>,
{
    let shape = *x.shape();
    check_channels(shape.1, [gamma.shape().0, beta.shape().0], &mode)?;
    let (x, tape) = x.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (gamma, tape_g) = gamma.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (beta, tape_b) = beta.try_contiguous().map_err(device_err(OP))?.split_tape();
    let mut tape = tape.merge(tape_g).merge(tape_b);
    let (gv, bv) = (to_vec(&gamma), to_vec(&beta));
    let xs = to_vec(&x);
    let train = matches!(mode, BatchNormMode::Train { .. });
    let (mean, inv_std) = statistics(shape, &xs, mode, eps);
    let xhat = normalise(shape, xs, &mean, &inv_std);
    let y = affine(shape, &xhat, &gv, &bv);
    let out = x
        .device()
        .try_tensor_from_vec(y, shape)
        .map_err(device_err(OP))?;
    if T::OWNS_TAPE {
        let (x_id, g_id, b_id, out_id) = (x.ghost(), gamma.ghost(), beta.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            // Moved out and back: dfdx has no shared accessor beside the mutable one.
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            let (dgamma, dbeta) = channel_sums(shape, &gy, &xhat);
            let gx = grads.get_or_alloc_mut(&x_id)?;
            input_grad(
                shape,
                &gy,
                &xhat,
                &gv,
                &inv_std,
                train.then_some((&dgamma, &dbeta)),
                gx,
            );
            add_assign(grads.get_or_alloc_mut(&g_id)?, &dgamma);
            add_assign(grads.get_or_alloc_mut(&b_id)?, &dbeta);
            **grads.get_or_alloc_mut(&out_id)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// Checks that `gamma`, `beta` (their `lens`) and the running statistics have one entry per
/// channel.
pub(super) fn check_channels<E>(
    c: usize,
    lens: [usize; 2],
    mode: &BatchNormMode<'_, E>,
) -> Result<(), OpsError> {
    let stats = match mode {
        BatchNormMode::Train { stats, .. } => &**stats,
        BatchNormMode::Infer(stats) => stats,
    };
    for kernel in [lens[0], lens[1], stats.mean.len(), stats.var.len()] {
        if kernel != c {
            return Err(OpsError::ChannelMismatch {
                op: OP,
                input: c,
                kernel,
            });
        }
    }
    Ok(())
}

/// The mean and `1 / sqrt(var + eps)` to normalise with: the batch's (updating the running
/// statistics) in training, the running ones in inference.
pub(super) fn statistics<E: Real>(
    shape: Shape4,
    x: &[E],
    mode: BatchNormMode<'_, E>,
    eps: E,
) -> (Vec<E>, Vec<E>) {
    match mode {
        BatchNormMode::Train { stats, momentum } => {
            let (mean, var) = batch_stats(shape, x);
            update_running(stats, &mean, &var, momentum);
            (mean, inv_std(&var, eps))
        }
        BatchNormMode::Infer(stats) => (stats.mean.clone(), inv_std(&stats.var, eps)),
    }
}

/// Sums `f(channel, offset, plane)` per channel. The planes are folded in parallel, then
/// added per channel in plane order, as the serial loop over the planes that this replaced
/// added them: the same bits, whatever the thread count.
fn per_channel<E: Real, const K: usize>(
    shape: Shape4,
    v: &[E],
    f: impl Fn(usize, usize, &[E]) -> [E; K] + Sync,
) -> [Vec<E>; K] {
    let (_, c, h, w) = shape;
    let sums: Vec<[E; K]> = v
        .par_chunks(h * w)
        .enumerate()
        .map(|(i, p)| f(i % c, i * h * w, p))
        .collect();
    add_planes(c, &sums)
}

/// Per-channel totals of the per-plane `sums` of `c` channels, added in plane order.
pub(super) fn add_planes<E: Real, const K: usize>(c: usize, sums: &[[E; K]]) -> [Vec<E>; K] {
    let mut total = std::array::from_fn(|_| vec![E::default(); c]);
    for (i, s) in sums.iter().enumerate() {
        for (t, &x) in total.iter_mut().zip(s) {
            t[i % c] += x;
        }
    }
    total
}

/// Partial sums kept apart in [`lane_sum`]: independent chains that the compiler keeps in
/// vector registers. One running sum is a chain of dependent additions, 4 cycles each: the
/// statistics and the gradient sums of batch norm ran at a quarter of an element per cycle,
/// ~120 ms of a `best.ron` step at batch 128, where memory allows several per cycle.
pub(super) const SUM_LANES: usize = 16;

/// `sum(term(a[i]))` over `a`, accumulated in [`SUM_LANES`] interleaved partial sums
/// (element `i` into lane `i % SUM_LANES`) that are then added in a fixed tree: the same
/// bits for the same input, whatever the thread count.
///
/// # Panics
/// If a product's other operand is shorter than `a`.
fn lane_sum<E: Real>(isa: Isa, a: &[E], term: Term<'_, E>) -> E {
    let term = term.cut(a.len());
    #[cfg(target_arch = "x86_64")]
    if checked(isa) == Isa::Avx512 {
        if let (Some(af), Some(term)) = (E::f32s(a), term.f32s()) {
            // SAFETY: the function only requires AVX-512F, which `checked` just confirmed;
            // a product's other operand was cut to `a`'s length.
            let lanes = unsafe { lane_sum_avx512(af, term) };
            return fold_lanes(lanes.map(|v| E::from_f32(v).expect("f32 converts")));
        }
    }
    let _ = isa;
    let mut acc = [E::default(); SUM_LANES];
    for (i, &x) in a.iter().enumerate() {
        acc[i % SUM_LANES] += term.of(i, x);
    }
    fold_lanes(acc)
}

/// What [`lane_sum`] adds up, per element `a[i]`.
#[derive(Clone, Copy)]
enum Term<'b, E> {
    /// `a[i]`.
    Value,
    /// `(a[i] - m) * (a[i] - m)`.
    SquaredDeviation(E),
    /// `a[i] * b[i]`.
    Product(&'b [E]),
}

impl<'b, E: Real> Term<'b, E> {
    /// The term with a product's other operand cut to `len` elements.
    fn cut(self, len: usize) -> Self {
        match self {
            Term::Product(b) => Term::Product(&b[..len]),
            t => t,
        }
    }

    fn of(self, i: usize, a: E) -> E {
        match self {
            Term::Value => a,
            Term::SquaredDeviation(m) => (a - m) * (a - m),
            Term::Product(b) => a * b[i],
        }
    }

    /// The same term over f32, when `E` is `f32` (the only type that reaches AVX-512).
    fn f32s(self) -> Option<Term<'b, f32>> {
        Some(match self {
            Term::Value => Term::Value,
            Term::SquaredDeviation(m) => Term::SquaredDeviation(m.as_f32()),
            Term::Product(b) => Term::Product(E::f32s(b)?),
        })
    }
}

/// [`lane_sum`]'s lanes on AVX-512: element `i` into lane `i % 16` of one register, each
/// lane's terms and additions in the portable loop's order (so the same bits); the last
/// partial group masked. (The portable loop, built for the crate's baseline, runs 4-lane
/// SSE at best, and for the deviations the compiler split the lanes into shuffles.)
///
/// # Safety
/// A product's other operand holds at least `a.len()` elements.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn lane_sum_avx512(a: &[f32], term: Term<'_, f32>) -> [f32; SUM_LANES] {
    let mut acc = _mm512_setzero_ps();
    for i in (0..a.len()).step_by(SUM_LANES) {
        let n = (a.len() - i).min(SUM_LANES);
        let mask = ((1u32 << n) - 1) as u16;
        // SAFETY: the loads are masked to the `n` elements from `i` that `a` holds, and the
        // caller vouches for the product's other operand.
        let load = |s: &[f32]| unsafe { _mm512_maskz_loadu_ps(mask, s.as_ptr().add(i)) };
        let x = load(a);
        let t = match term {
            Term::Value => x,
            Term::SquaredDeviation(m) => {
                let d = _mm512_sub_ps(x, _mm512_set1_ps(m));
                _mm512_mul_ps(d, d)
            }
            Term::Product(b) => _mm512_mul_ps(x, load(b)),
        };
        acc = _mm512_mask_add_ps(acc, mask, acc, t);
    }
    let mut out = [0f32; SUM_LANES];
    // SAFETY: `out` holds the 16 floats stored.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), acc) };
    out
}

/// The lanes' total, added pairwise (lane `k` with lane `k + half`, then again).
pub(super) fn fold_lanes<E: Real>(mut acc: [E; SUM_LANES]) -> E {
    let mut half = SUM_LANES / 2;
    while half > 0 {
        for k in 0..half {
            acc[k] += acc[k + half];
        }
        half /= 2;
    }
    acc[0]
}

/// Per-channel mean and biased variance. Each plane's mean and sum of squared deviations
/// are taken in two passes over the plane (the second from cache), then combined per channel
/// in plane order (Chan et al.: the planes' sums plus their means' spread around the
/// channel's), so the map is read from memory once, as accurately as two passes over it.
fn batch_stats<E: Real>(shape: Shape4, x: &[E]) -> (Vec<E>, Vec<E>) {
    let (n, c, h, w) = shape;
    // Read on the calling thread: the workers take the caller's path.
    let isa = Isa::current();
    let of = |v: usize| E::from_usize(v).expect("element count fits the float type");
    let (per_plane, count) = (of(h * w), of(n * h * w));
    let planes: Vec<[E; 2]> = x
        .par_chunks(h * w)
        .map(|p| {
            let m = lane_sum(isa, p, Term::Value) / per_plane;
            [m, lane_sum(isa, p, Term::SquaredDeviation(m))]
        })
        .collect();
    let [mut mean, mut var] = add_planes(c, &planes);
    mean.iter_mut().for_each(|m| *m /= of(n));
    let spread: Vec<[E; 1]> = planes
        .iter()
        .enumerate()
        .map(|(i, &[m, _])| [(m - mean[i % c]) * (m - mean[i % c])])
        .collect();
    let [spread] = add_planes(c, &spread);
    for (v, s) in var.iter_mut().zip(spread) {
        *v = (*v + s * per_plane) / count;
    }
    (mean, var)
}

/// `running = momentum * running + (1 - momentum) * batch`, for mean and variance.
fn update_running<E: Real>(stats: &mut RunningStats<E>, mean: &[E], var: &[E], momentum: E) {
    for (r, &b) in stats
        .mean
        .iter_mut()
        .zip(mean)
        .chain(stats.var.iter_mut().zip(var))
    {
        *r = momentum * *r + (E::ONE - momentum) * b;
    }
}

/// `1 / sqrt(var + eps)` per channel.
fn inv_std<E: Real>(var: &[E], eps: E) -> Vec<E> {
    var.iter()
        .map(|&v| {
            let s = (v + eps).to_f64().expect("float converts to f64").sqrt();
            E::from_f64(1.0 / s).expect("f64 converts to the float type")
        })
        .collect()
}

/// `(x - mean) * inv_std` per channel, in place in `x`.
fn normalise<E: Real>(shape: Shape4, mut x: Vec<E>, mean: &[E], inv_std: &[E]) -> Vec<E> {
    let (_, c, h, w) = shape;
    x.par_chunks_mut(h * w).enumerate().for_each(|(i, p)| {
        let (m, s) = (mean[i % c], inv_std[i % c]);
        p.iter_mut().for_each(|v| *v = (*v - m) * s);
    });
    x
}

/// `gamma * xhat + beta` per channel.
fn affine<E: Real>(shape: Shape4, xhat: &[E], gamma: &[E], beta: &[E]) -> Vec<E> {
    let (_, c, h, w) = shape;
    par_planes(xhat.len(), h * w, |i, out| {
        let (g, b) = (gamma[i % c], beta[i % c]);
        for (o, &x) in out.iter_mut().zip(&xhat[i * h * w..][..h * w]) {
            *o = g * x + b;
        }
    })
}

/// Per-channel `(sum(gy * xhat), sum(gy))`: the gradients of `gamma` and `beta`.
fn channel_sums<E: Real>(shape: Shape4, gy: &[E], xhat: &[E]) -> (Vec<E>, Vec<E>) {
    let isa = Isa::current();
    let [dgamma, dbeta] = per_channel(shape, gy, |_, at, gp| {
        let xp = &xhat[at..][..gp.len()];
        [
            lane_sum(isa, gp, Term::Product(xp)),
            lane_sum(isa, gp, Term::Value),
        ]
    });
    (dgamma, dbeta)
}

/// Adds the input gradient onto `gx`. In inference it is `gy * gamma * inv_std`; in training
/// (`sums` holds the gamma and beta gradients) the batch statistics' share is subtracted:
/// `gamma * inv_std * (gy - (sum(gy) + xhat * sum(gy * xhat)) / m)`.
fn input_grad<E: Real>(
    shape: Shape4,
    gy: &[E],
    xhat: &[E],
    gamma: &[E],
    inv_std: &[E],
    sums: Option<(&Vec<E>, &Vec<E>)>,
    gx: &mut [E],
) {
    let (_, _, h, w) = shape;
    let grad = GradTerms::new(shape, gamma, inv_std, sums);
    gx.par_chunks_mut(h * w)
        .zip(gy.par_chunks(h * w).zip(xhat.par_chunks(h * w)))
        .enumerate()
        .for_each(|(i, (gxp, (gyp, xp)))| {
            let f = grad.plane(i);
            for ((d, &g), &x) in gxp.iter_mut().zip(gyp).zip(xp) {
                *d += f(g, x);
            }
        });
}

/// The per-channel constants of the input gradient, shared by this op and the fused block
/// (`block::norm`) so that both compute the same expression.
pub(super) struct GradTerms<'a, E> {
    channels: usize,
    gamma: &'a [E],
    inv_std: &'a [E],
    sums: Option<(&'a Vec<E>, &'a Vec<E>)>,
    count: E,
}

impl<'a, E: Real> GradTerms<'a, E> {
    /// The constants for `shape`; `sums` holds the gamma and beta gradients in training.
    pub(super) fn new(
        shape: Shape4,
        gamma: &'a [E],
        inv_std: &'a [E],
        sums: Option<(&'a Vec<E>, &'a Vec<E>)>,
    ) -> Self {
        let (n, channels, h, w) = shape;
        let count = E::from_usize(n * h * w).expect("element count fits the float type");
        Self {
            channels,
            gamma,
            inv_std,
            sums,
            count,
        }
    }

    /// The gradient of plane `i`'s elements from their output gradient and normalised input.
    pub(super) fn plane(&self, i: usize) -> impl Fn(E, E) -> E {
        let ch = i % self.channels;
        let scale = self.gamma[ch] * self.inv_std[ch];
        let (mean_g, mean_gx) = self.sums.map_or((E::default(), E::default()), |(dg, db)| {
            (db[ch] / self.count, dg[ch] / self.count)
        });
        move |g, x| scale * (g - mean_g - x * mean_gx)
    }
}

#[cfg(test)]
mod tests;
