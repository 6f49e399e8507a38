//! The end of a convolution block, fused: optional batch normalisation (`gamma * ((v -
//! mean) * inv_std) + beta`), ReLU, an optional 2x2 max pool (stride 2, odd trailing rows
//! and columns dropped) and optional dropout, in one parallel pass over the full-resolution
//! map; and the backward pass that routes the output gradient back to that map.
//!
//! Pooling comes before ReLU: relu(max(a, b)) = max(relu(a), relu(b)), the same function
//! with ReLU on a quarter of the elements. Values and gradients equal those of dfdx's `relu`
//! after `max_pool2d` (and `batch_norm2d`'s normalisation) to the bit; what the fusion saves
//! is the separate ops' memory passes: the normalised map, the pooling op's copy of its
//! full-resolution input, dfdx's serial relu and dropout, and the zeroed gradient buffers of
//! each. Dropout draws the very masks dfdx's `dropout` draws (see [`Dropout`]).
//!
//! The forward pass records one route byte per output: the window cell that won (`2 * row +
//! column`, the first maximum on ties, as `max_pool2d`), 0 without pooling, or [`DEAD`]
//! where ReLU zeroed the output (its input was not above 0) or dropout dropped it, which
//! passes no gradient. The backward pass then needs neither the input nor the output.

use rand::distributions::{Bernoulli, Distribution};
use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use rayon::prelude::*;

use super::isa::Isa;
use super::poolrow::{normalise, pool_row, relu_route, Norm};
use super::routekernel::{gather_sums, scatter, Corners, RoutedPlane};
use super::{par_planes, par_rows2, Real, Shape4};

use super::poolrow::DEAD;

/// Batch normalisation applied before ReLU, per channel: `gamma * ((v - mean) * inv_std) +
/// beta`, the expression of `batch_norm2d`'s normalisation and affine step, so the same bits.
#[derive(Debug, Clone, Copy)]
pub struct Normalise<'a, E> {
    /// Mean per channel.
    pub mean: &'a [E],
    /// `1 / sqrt(var + eps)` per channel.
    pub inv_std: &'a [E],
    /// Scale per channel.
    pub gamma: &'a [E],
    /// Shift per channel.
    pub beta: &'a [E],
}

/// Inverted dropout after ReLU, drawn as dfdx's `dropout` draws it: one `Bernoulli(p)`
/// sample per output, in order, from a ChaCha12 stream seeded by `seed` (dfdx's `StdRng`);
/// a dropped output is 0, a kept one is scaled by `1 / (1 - p)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Drop probability, in `[0, 1]`.
    pub p: f64,
    /// Seed of the mask stream (dfdx draws it from its device's generator).
    pub seed: u64,
}

impl Dropout {
    /// The drop decisions of outputs `start..`. A `Bernoulli` sample reads one u64, two
    /// 32-bit words of the stream, so seeking to word `2 * start` lets chunks of outputs
    /// draw in parallel what dfdx's serial loop draws.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]`, as dfdx's `dropout` does.
    fn mask_from(self, start: usize) -> impl FnMut() -> bool {
        let mut rng = ChaCha12Rng::seed_from_u64(self.seed);
        rng.set_word_pos(2 * start as u128);
        let dist = Bernoulli::new(self.p).expect("dropout probability in [0, 1]");
        move || dist.sample(&mut rng)
    }

    /// `1 - p`, which kept outputs are divided by.
    fn keep<E: Real>(self) -> E {
        E::from_f64(1.0 - self.p).expect("f64 converts to the float type")
    }

    /// `1 / (1 - p)`, which kept outputs' gradients are multiplied by.
    fn scale<E: Real>(self) -> E {
        E::from_f64((1.0 - self.p).recip()).expect("f64 converts to the float type")
    }
}

/// The output shape for an input of `shape`: pooled, or unchanged.
pub fn output_shape(shape: Shape4, pool: bool) -> Shape4 {
    let (n, c, h, w) = shape;
    if pool {
        (n, c, h / 2, w / 2)
    } else {
        shape
    }
}

/// `dropout(relu(pool(normalise(x))))` of the NCHW `x` of `shape`, the normalisation, the
/// pooling and the dropout each optional; returns the output and its routes.
///
/// # Panics
/// If `x` does not hold `shape`'s elements, the normalisation has not one entry per channel,
/// or the dropout probability is not in `[0, 1]`.
pub fn forward<E: Real>(
    shape: Shape4,
    x: &[E],
    norm: Option<Normalise<'_, E>>,
    (pool, dropout): (bool, Option<Dropout>),
) -> (Vec<E>, Vec<u8>) {
    let (n, c, h, w) = shape;
    assert_eq!(x.len(), n * c * h * w, "epilogue: input length");
    if let Some(nm) = norm {
        assert!(
            [nm.mean, nm.inv_std, nm.gamma, nm.beta]
                .iter()
                .all(|v| v.len() == c),
            "epilogue: normalisation length"
        );
    }
    // Per plane, `[mean, inv_std, gamma, beta]` of its channel.
    let per_plane = move |plane: usize| -> Norm<E> {
        let ch = plane % c;
        norm.map(|nm| [nm.mean[ch], nm.inv_std[ch], nm.gamma[ch], nm.beta[ch]])
    };
    drop_out(run(shape, x, pool, per_plane), dropout)
}

/// Outputs per chunk of the dropout pass. Each chunk seeks the mask stream once, which
/// regenerates a 256-byte ChaCha buffer: drawn per output row (6 outputs in a late layer),
/// that made the fused forward ~150 ms a step slower than dfdx's serial dropout at batch 128.
const DROPOUT_CHUNK: usize = 1 << 13;

/// Applies `dropout` to the ReLU outputs `y` and their `routes`: dropped outputs become 0
/// and pass no gradient, kept ones are divided by `1 - p`.
fn drop_out<E: Real>(
    (mut y, mut routes): (Vec<E>, Vec<u8>),
    dropout: Option<Dropout>,
) -> (Vec<E>, Vec<u8>) {
    let Some(d) = dropout else {
        return (y, routes);
    };
    let keep = d.keep::<E>();
    y.par_chunks_mut(DROPOUT_CHUNK)
        .zip(routes.par_chunks_mut(DROPOUT_CHUNK))
        .enumerate()
        .for_each(|(i, (yc, rc))| {
            let mut dropped = d.mask_from(i * DROPOUT_CHUNK);
            for (v, r) in yc.iter_mut().zip(rc) {
                if dropped() {
                    (*v, *r) = (E::default(), DEAD);
                } else {
                    *v /= keep;
                }
            }
        });
    (y, routes)
}

/// The forward pass without dropout, with `per_plane(i)` giving plane `i`'s normalisation.
fn run<E: Real>(
    shape: Shape4,
    x: &[E],
    pool: bool,
    per_plane: impl Fn(usize) -> Norm<E> + Sync,
) -> (Vec<E>, Vec<u8>) {
    let (n, c, h, w) = shape;
    if !pool {
        return par_rows2(n * c * h * w, w, |i, vals, routes| {
            let norm = per_plane(i / h);
            let src = &x[i * w..][..w];
            for ((val, route), &v) in vals.iter_mut().zip(routes.iter_mut()).zip(src) {
                (*val, *route) = relu_route(normalise(v, norm), 0);
            }
        });
    }
    let (oh, ow) = (h / 2, w / 2);
    // Read on the calling thread: the workers take the caller's path.
    let isa = Isa::current();
    // One chunk per output row: input rows `2 * row` and `2 * row + 1` of its plane.
    par_rows2(n * c * oh * ow, ow, |i, vals, routes| {
        let (plane, row) = (i / oh, i % oh);
        let at = (plane * h + 2 * row) * w;
        let rows = (&x[at..][..w], &x[at + w..][..w]);
        pool_row(isa, rows, per_plane(plane), vals, routes);
    })
}

/// The gradient of [`forward`]'s full-resolution input (after the normalisation) for the
/// output gradient `routed`: each output's gradient (times dropout's `1 / (1 - p)`) at the
/// cell its route names, 0 elsewhere. A new buffer, each plane zeroed and written by one
/// worker.
pub fn backward<E: Real>(routed: &Routed<'_, E>) -> Vec<E> {
    let (n, c, h, w) = routed.shape;
    par_planes(n * c * h * w, h * w, |plane, out| {
        routed.scatter(plane, out)
    })
}

/// An output gradient and its routes, read back plane by plane onto the full-resolution map.
pub struct Routed<'a, E> {
    shape: Shape4,
    pool: bool,
    scale: Option<E>,
    routes: &'a [u8],
    gy: &'a [E],
    corners: Corners,
    /// The kernels' path, read on the thread that made the view (the workers take it).
    isa: Isa,
}

impl<'a, E: Real> Routed<'a, E> {
    /// The output gradient `gy` of [`forward`] run on `shape` with `steps`, and its `routes`.
    ///
    /// # Panics
    /// If `routes` or `gy` does not hold the output's elements.
    pub fn new(
        shape: Shape4,
        (pool, dropout): (bool, Option<Dropout>),
        routes: &'a [u8],
        gy: &'a [E],
    ) -> Self {
        let (n, c, oh, ow) = output_shape(shape, pool);
        assert_eq!(
            gy.len(),
            n * c * oh * ow,
            "epilogue: output gradient length"
        );
        assert_eq!(routes.len(), gy.len(), "epilogue: routes length");
        Self {
            shape,
            pool,
            scale: dropout.map(Dropout::scale::<E>),
            routes,
            gy,
            corners: Corners::new((oh, ow), shape.3, pool),
            isa: Isa::current(),
        }
    }

    /// Plane `plane`'s routes and gradients.
    fn plane(&self, plane: usize) -> RoutedPlane<'_, E> {
        let outs = self.corners.len();
        let at = plane * outs;
        RoutedPlane {
            routes: &self.routes[at..][..outs],
            gy: &self.gy[at..][..outs],
            base: &self.corners,
            width: self.shape.3,
            pool: self.pool,
            scale: self.scale,
        }
    }

    /// Lane sums `(dg, db)` of `g * ((y[pos] - m) * inv)` and of `g` over plane `plane`'s
    /// outputs (output `k` into lane `k % 16`): `g` each output's gradient (`0 + g`, or `0 +
    /// scale * g` with dropout, as the separate ops' zeroed buffers give it; 0 where its
    /// route is dead) and `pos` its route's cell in the full-resolution plane `y`.
    pub fn sums(&self, plane: usize, y: &[E], norm: (E, E)) -> ([E; 16], [E; 16]) {
        gather_sums(self.isa, &self.plane(plane), y, norm)
    }

    /// Writes plane `plane`'s routed gradients (as [`Routed::sums`] takes them) into the
    /// zeroed `out`; a dead output writes 0 at its window's first cell, which no other
    /// output's gradient reaches.
    pub fn scatter(&self, plane: usize, out: &mut [E]) {
        scatter(self.isa, &self.plane(plane), out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::gradcheck::random_vec;
    use super::super::{pool, reference};
    use super::*;

    /// The unfused computation: normalisation, then pooling, then ReLU.
    fn unfused(shape: Shape4, x: &[f64], norm: Option<Normalise<'_, f64>>, pool: bool) -> Vec<f64> {
        let c = shape.1;
        let plane = shape.2 * shape.3;
        let mapped: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = i / plane % c;
                norm.map_or(v, |n| {
                    let xhat = (v - n.mean[ch]) * n.inv_std[ch];
                    n.gamma[ch] * xhat + n.beta[ch]
                })
            })
            .collect();
        let pooled = if pool {
            reference::max_pool2d_forward(shape, &mapped)
        } else {
            mapped
        };
        pooled.iter().map(|v| v.max(0.0)).collect()
    }

    #[test]
    fn forward_matches_the_unfused_ops_on_odd_sizes() {
        let shape = (2, 3, 7, 5);
        let x = random_vec(50, 210);
        let (gamma, beta) = (random_vec(51, 3), random_vec(52, 3));
        let (mean, inv_std) = (random_vec(57, 3), vec![0.5, 2.0, 1.25]);
        let norm = Normalise {
            mean: &mean,
            inv_std: &inv_std,
            gamma: &gamma,
            beta: &beta,
        };
        for pool in [true, false] {
            for norm in [None, Some(norm)] {
                let (y, routes) = forward(shape, &x, norm, (pool, None));
                assert_eq!(y, unfused(shape, &x, norm, pool), "pool {pool}");
                for (v, r) in y.iter().zip(&routes) {
                    assert_eq!(*v > 0.0, *r != DEAD, "a route per positive output");
                }
            }
        }
    }

    /// With pooling, the gradient reaches exactly what `max_pool2d`'s backward pass gives
    /// for the outputs ReLU kept, and nothing else.
    #[test]
    fn backward_routes_like_max_pool_then_relu() {
        let shape = (2, 2, 5, 6);
        let x = random_vec(53, 120);
        let gy = random_vec(54, 2 * 2 * 2 * 3);
        let (y, routes) = forward(shape, &x, None, (true, None));
        let (_, winners) = pool::forward(shape, &x);
        let kept: Vec<f64> = gy
            .iter()
            .zip(&y)
            .map(|(&g, &v)| if v > 0.0 { g } else { 0.0 })
            .collect();
        let mut want = vec![0.0; x.len()];
        pool::backward(shape, &winners, &kept, &mut want);
        assert_eq!(
            backward(&Routed::new(shape, (true, None), &routes, &gy)),
            want
        );
    }

    #[test]
    fn backward_without_pooling_masks_by_the_relu() {
        let shape = (1, 2, 3, 4);
        let x = random_vec(55, 24);
        let gy = random_vec(56, 24);
        let (_, routes) = forward(shape, &x, None, (false, None));
        let want: Vec<f64> = x
            .iter()
            .zip(&gy)
            .map(|(&v, &g)| if v > 0.0 { g } else { 0.0 })
            .collect();
        assert_eq!(
            backward(&Routed::new(shape, (false, None), &routes, &gy)),
            want
        );
    }

    /// Seeking chunks of the mask stream draws what one serial loop over dfdx's `StdRng`
    /// draws, across the 64-word blocks ChaCha generates.
    #[test]
    fn dropout_masks_match_a_serial_std_rng() {
        let d = Dropout {
            p: 0.3,
            seed: 12345,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(d.seed);
        let dist = Bernoulli::new(d.p).unwrap();
        let serial: Vec<bool> = (0..300).map(|_| dist.sample(&mut rng)).collect();
        for start in [0, 1, 31, 32, 33, 64, 97, 250] {
            let mut mask = d.mask_from(start);
            let drawn: Vec<bool> = (start..300).map(|_| mask()).collect();
            assert_eq!(drawn, serial[start..], "from output {start}");
        }
    }

    /// Ties go to the first cell; an output of exactly 0 (or NaN) passes no gradient, as
    /// dfdx's relu, whose derivative is 1 only above 0.
    #[test]
    fn ties_zeros_and_nans() {
        let shape = (1, 1, 2, 6);
        let x = [
            0.5,
            0.5,
            0.0,
            0.0,
            f64::NAN,
            -1.0,
            0.5,
            0.5,
            0.0,
            -0.0,
            -2.0,
            -3.0,
        ];
        let (y, routes) = forward(shape, &x, None, (true, None));
        assert_eq!(y, [0.5, 0.0, 0.0]);
        assert_eq!(routes, [0, DEAD, DEAD]);
        let g = backward(&Routed::new(shape, (true, None), &routes, &[1.0, 2.0, 3.0]));
        assert_eq!(
            g,
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }
}
