//! Direct loop implementations of the ops, the yardstick for tests and the benchmark.
//!
//! They follow the definitions literally (one multiply-add per tap, no reordering), so they
//! are slow but obviously right; the fast kernels are tested against them.

use super::conv::Conv2dShape;
use super::{Real, Shape4};

/// `y[n, o, i, j] = b[o] + sum_{c, ki, kj} x[n, c, i + ki, j + kj] * w[o, c, ki, kj]`.
pub fn conv2d_forward<E: Real>(g: &Conv2dShape, x: &[E], w: &[E], b: &[E]) -> Vec<E> {
    let (oh, ow, k) = (g.out_height(), g.out_width(), g.kernel);
    let mut y = vec![E::default(); g.batch * g.out_sample()];
    for n in 0..g.batch {
        for o in 0..g.out_channels {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b[o];
                    for c in 0..g.in_channels {
                        for ki in 0..k {
                            for kj in 0..k {
                                let xv = x[((n * g.in_channels + c) * g.height + i + ki) * g.width
                                    + j
                                    + kj];
                                acc += xv * w[((o * g.in_channels + c) * k + ki) * k + kj];
                            }
                        }
                    }
                    y[((n * g.out_channels + o) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    y
}

/// Gradients `(dx, dw, db)` of [`conv2d_forward`] for output gradient `gy`.
pub fn conv2d_backward<E: Real>(
    g: &Conv2dShape,
    x: &[E],
    w: &[E],
    gy: &[E],
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let (oh, ow, k) = (g.out_height(), g.out_width(), g.kernel);
    let mut dx = vec![E::default(); x.len()];
    let mut dw = vec![E::default(); w.len()];
    let mut db = vec![E::default(); g.out_channels];
    for n in 0..g.batch {
        for o in 0..g.out_channels {
            for i in 0..oh {
                for j in 0..ow {
                    let d = gy[((n * g.out_channels + o) * oh + i) * ow + j];
                    db[o] += d;
                    for c in 0..g.in_channels {
                        for ki in 0..k {
                            for kj in 0..k {
                                let xi = ((n * g.in_channels + c) * g.height + i + ki) * g.width
                                    + j
                                    + kj;
                                let wi = ((o * g.in_channels + c) * k + ki) * k + kj;
                                dx[xi] += d * w[wi];
                                dw[wi] += d * x[xi];
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw, db)
}

/// 2x2, stride-2 max pooling of an NCHW `x` of shape `shape`; odd trailing rows and columns
/// are dropped.
pub fn max_pool2d_forward<E: Real>(shape: Shape4, x: &[E]) -> Vec<E> {
    let (n, c, h, w) = shape;
    let (oh, ow) = (h / 2, w / 2);
    let mut y = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        for i in 0..oh {
            for j in 0..ow {
                let at = |di: usize, dj: usize| x[(plane * h + 2 * i + di) * w + 2 * j + dj];
                let mut best = at(0, 0);
                for v in [at(0, 1), at(1, 0), at(1, 1)] {
                    if v > best {
                        best = v;
                    }
                }
                y.push(best);
            }
        }
    }
    y
}

/// `y[i, j] = b[j] + sum_l x[i, l] * w[l, j]` for row-major `x` `(m, k)`, `w` `(k, n)`.
pub fn dense_forward<E: Real>(
    (m, k): (usize, usize),
    n: usize,
    x: &[E],
    w: &[E],
    b: &[E],
) -> Vec<E> {
    let mut y = vec![E::default(); m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = b[j];
            for l in 0..k {
                acc += x[i * k + l] * w[l * n + j];
            }
            y[i * n + j] = acc;
        }
    }
    y
}

/// Gradients `(dx, dw, db)` of [`dense_forward`] for output gradient `gy` `(m, n)`.
pub fn dense_backward<E: Real>(
    (m, k): (usize, usize),
    n: usize,
    x: &[E],
    w: &[E],
    gy: &[E],
) -> (Vec<E>, Vec<E>, Vec<E>) {
    let mut dx = vec![E::default(); m * k];
    let mut dw = vec![E::default(); k * n];
    let mut db = vec![E::default(); n];
    for i in 0..m {
        for j in 0..n {
            let d = gy[i * n + j];
            db[j] += d;
            for l in 0..k {
                dx[i * k + l] += d * w[l * n + j];
                dw[l * n + j] += d * x[i * k + l];
            }
        }
    }
    (dx, dw, db)
}
