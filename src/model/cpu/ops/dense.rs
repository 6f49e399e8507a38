//! `dense`: the fully connected layer `y = x W + b` as one dfdx op, on gemm 0.19.
//!
//! dfdx's `matmul` plus a broadcast bias computes the same thing, but its matmul runs gemm
//! 0.15, which stops at AVX2, and the bias costs a broadcast on the way forward and a
//! reduction through the tape on the way back. gemm 0.19 has AVX-512 kernels (the `x86-v4`
//! feature; chosen at run time, AVX2+FMA where the CPU lacks AVX-512F). A step runs three
//! products, for the seed model's embedding layer `(2B, 4096) x (4096, 2048)`:
//!
//! - forward: `y = b + x W`, the bias written into `y` first and the product accumulated
//!   onto it (no separate pass over `y`);
//! - backward: `dx += gy W^T` and `dW += x^T gy`, both accumulated by gemm straight into
//!   the gradients dfdx holds (no temporary, no add), and `db +=` the column sums of `gy`.
//!
//! Results are deterministic run to run: gemm splits only the output among threads, never
//! the sum over the inner dimension, so each output element is summed in the same order
//! whatever the thread count (the tests check that threaded and single-threaded results are
//! bit-identical). The order does depend on gemm's cache blocking and kernels, i.e. on the
//! CPU model, as with dfdx's matmul.

#[cfg(test)]
mod tests;

use dfdx::shapes::HasShape;
use dfdx::tensor::{Cpu, Merge, PutTape, SplitTape, Tape, Tensor, TensorFromVec};
use dfdx::tensor_ops::ReshapeTo;
use gemm::Parallelism;

use super::{device_err, to_vec, OpsError, Real};

const OP: &str = "dense";

/// A row-major matrix `(rows, cols)`.
pub type Shape2 = (usize, usize);

/// Below this many multiply-adds a product runs on the calling thread only, sparing rayon's
/// fork and join where there is little to split (64x512x512 takes 0.4 ms on one Ice Lake
/// core). Every product of the seed and best models is far above it: the smallest, best.ron's
/// at 32 pairs, has 67M.
const THREADED_MACS: usize = 1 << 24;

/// Makes gemm pack its left operand whatever the output's width (by default only above 8
/// register tiles' width on one thread, 16 threaded). gemm computes a row-major `y = x W`
/// as `y^T = W^T x^T`, so the weights are its left operand and the batch's 2B rows are the
/// width: unpacked, it streams the 32 MiB of weights with an 8 KiB stride. On the 2-core
/// Ice Lake (AVX-512) the seed's forward product took 25 ms instead of 12 at 64 rows
/// threaded, and 15 ms instead of 9 at 32 rows; from 128 rows gemm packs anyway, and the
/// backward products were unchanged. Packing only moves values: the results are the same
/// bits. The setting is process-wide, but only this module calls gemm 0.19 (dfdx links its
/// own 0.15).
fn pack_left_operands() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gemm::set_lhs_packing_threshold_single_thread(1);
        gemm::set_lhs_packing_threshold_multi_thread(1);
    });
}

/// How a matrix operand is laid out in its slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The slice holds the matrix itself, row-major.
    RowMajor,
    /// The slice holds the matrix's transpose, row-major (so the matrix is column-major).
    Transposed,
}

/// A read-only matrix operand: its elements and how they are laid out.
#[derive(Debug, Clone, Copy)]
pub struct Operand<'a, E> {
    /// The elements, `rows * cols` of them.
    pub data: &'a [E],
    /// Whether `data` holds the matrix or its transpose.
    pub layout: Layout,
}

impl<'a, E> Operand<'a, E> {
    /// The matrix stored row-major in `data`.
    pub fn row_major(data: &'a [E]) -> Self {
        Self {
            data,
            layout: Layout::RowMajor,
        }
    }

    /// The transpose of the row-major matrix in `data`.
    pub fn transposed(data: &'a [E]) -> Self {
        Self {
            data,
            layout: Layout::Transposed,
        }
    }

    /// `(row stride, column stride)` in elements, for a `(rows, cols)` view.
    fn strides(&self, (rows, cols): Shape2) -> (isize, isize) {
        // Slices never exceed isize::MAX bytes, so neither dimension overflows isize.
        match self.layout {
            Layout::RowMajor => (cols as isize, 1),
            Layout::Transposed => (1, rows as isize),
        }
    }
}

/// `c += a b` (or `c = a b` when `accumulate` is false) for `a` `(m, k)`, `b` `(k, n)` and a
/// row-major `c` `(m, n)`, on gemm 0.19; threaded from `THREADED_MACS` multiply-adds.
///
/// # Panics
/// If a slice's length is not the product of its matrix's dimensions.
pub fn gemm_into<E: Real>(
    (m, k, n): (usize, usize, usize),
    a: Operand<'_, E>,
    b: Operand<'_, E>,
    c: &mut [E],
    accumulate: bool,
) {
    let parallelism = if m.saturating_mul(k).saturating_mul(n) >= THREADED_MACS {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    gemm_with((m, k, n), a, b, c, accumulate, parallelism);
}

/// [`gemm_into`] with the threading given: the one safe wrapper around gemm's raw pointers.
///
/// # Panics
/// If a slice's length is not the product of its matrix's dimensions.
fn gemm_with<E: Real>(
    (m, k, n): (usize, usize, usize),
    a: Operand<'_, E>,
    b: Operand<'_, E>,
    c: &mut [E],
    accumulate: bool,
    parallelism: Parallelism,
) {
    let len = |rows: usize, cols: usize| rows.checked_mul(cols).expect("matrix size overflows");
    assert_eq!(a.data.len(), len(m, k), "gemm: lhs is not {m}x{k}");
    assert_eq!(b.data.len(), len(k, n), "gemm: rhs is not {k}x{n}");
    assert_eq!(c.len(), len(m, n), "gemm: output is not {m}x{n}");
    if c.is_empty() {
        return;
    }
    if k == 0 {
        // An empty sum: leave gemm out of it and clear `c` unless accumulating.
        if !accumulate {
            c.fill(E::default());
        }
        return;
    }
    pack_left_operands();
    let (a_rs, a_cs) = a.strides((m, k));
    let (b_rs, b_cs) = b.strides((k, n));
    // SAFETY: the asserts above make every slice exactly as long as its matrix, and the
    // strides from `Operand::strides` put element (i, j) at `i * rs + j * cs`, which is
    // below `rows * cols` for every i < rows, j < cols: gemm reads and writes in bounds.
    // `c` is a unique borrow, so it overlaps neither input. `E` is f32 or f64 (`Real` is
    // sealed), both of which gemm supports. With `read_dst` gemm computes
    // `c = 1 * c + 1 * a b`; without it, `c = 1 * a b`, never reading `c`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a_cs,
            a_rs,
            b.data.as_ptr(),
            b_cs,
            b_rs,
            E::ONE,
            E::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The forward pass on slices: `y = x W + b` for `x` `(m, k)`, `w` `(k, n)`, `b` `(n,)`.
///
/// # Panics
/// If the slices' lengths do not match the shapes.
pub fn forward<E: Real>((m, k): Shape2, n: usize, x: &[E], w: &[E], b: &[E]) -> Vec<E> {
    assert_eq!(b.len(), n, "dense forward: bias is not {n} long");
    let mut y = Vec::with_capacity(m * n);
    for _ in 0..m {
        y.extend_from_slice(b);
    }
    gemm_into(
        (m, k, n),
        Operand::row_major(x),
        Operand::row_major(w),
        &mut y,
        true,
    );
    y
}

/// The backward pass on slices, for output gradient `gy` `(m, n)`: adds `gy W^T` to `dx`,
/// `x^T gy` to `dw` and the column sums of `gy` to `db`. Adding (not overwriting) is what
/// dfdx expects: a tensor used twice collects both gradients.
///
/// # Panics
/// If the slices' lengths do not match the shapes.
pub fn backward<E: Real>(
    (m, k): Shape2,
    n: usize,
    (x, w, gy): (&[E], &[E], &[E]),
    dx: &mut [E],
    dw: &mut [E],
    db: &mut [E],
) {
    add_input_grad((m, k), n, w, gy, dx);
    add_weight_grad((m, k), n, x, gy, dw);
    add_bias_grad(n, gy, db);
}

/// `dx += gy W^T`: `(m, n) x (n, k)`, `W` read in place as a transpose.
fn add_input_grad<E: Real>((m, k): Shape2, n: usize, w: &[E], gy: &[E], dx: &mut [E]) {
    gemm_into(
        (m, n, k),
        Operand::row_major(gy),
        Operand::transposed(w),
        dx,
        true,
    );
}

/// `dw += x^T gy`: `(k, m) x (m, n)`, `x` read in place as a transpose.
fn add_weight_grad<E: Real>((m, k): Shape2, n: usize, x: &[E], gy: &[E], dw: &mut [E]) {
    gemm_into(
        (k, m, n),
        Operand::transposed(x),
        Operand::row_major(gy),
        dw,
        true,
    );
}

/// `db +=` the column sums of `gy` `(m, n)`, row after row so each sum runs in the same
/// order every time.
fn add_bias_grad<E: Real>(n: usize, gy: &[E], db: &mut [E]) {
    assert_eq!(db.len(), n, "dense backward: bias gradient is not {n} long");
    if n == 0 {
        return;
    }
    assert_eq!(gy.len() % n, 0, "dense backward: gy has not {n} columns");
    for row in gy.chunks_exact(n) {
        for (d, &g) in db.iter_mut().zip(row) {
            *d += g;
        }
    }
}

/// `x W + b`; see [`try_dense`].
///
/// # Panics
/// If the shapes do not fit together or allocation fails; [`try_dense`] returns the error.
pub fn dense<E: Real, T, R>(
    x: Tensor<Shape2, E, Cpu, T>,
    w: Tensor<Shape2, E, Cpu, R>,
    b: Tensor<(usize,), E, Cpu, R>,
) -> Tensor<Shape2, E, Cpu, T>
where
    T: Tape<E, Cpu> + Merge<R>,
    R: Tape<E, Cpu>,
{
    try_dense(x, w, b).unwrap_or_else(|e| panic!("{e}"))
}

/// Multiplies `x` `(m, k)` by `w` `(k, n)` and adds the bias `b` `(n,)` to every row,
/// giving `(m, n)`.
///
/// The result carries the merged tape of `x`, `w` and `b`; on `backward()` the gradients of
/// all three are accumulated. Pass parameters as `w.retaped::<T>()` (or `w.clone()`, or a
/// reshape of either) so their gradients land under the parameters' ids.
///
/// # Errors
/// [`OpsError::FeatureMismatch`] when `x` has not as many columns as `w` has rows,
/// [`OpsError::BiasMismatch`] when `b` is not as long as `w` has columns, and
/// [`OpsError::Device`] when dfdx cannot allocate the output.
pub fn try_dense<E: Real, T, R>(
    x: Tensor<Shape2, E, Cpu, T>,
    w: Tensor<Shape2, E, Cpu, R>,
    b: Tensor<(usize,), E, Cpu, R>,
) -> Result<Tensor<Shape2, E, Cpu, T>, OpsError>
where
    T: Tape<E, Cpu> + Merge<R>,
    R: Tape<E, Cpu>,
{
    let (m, k) = *x.shape();
    let (wk, n) = *w.shape();
    if wk != k {
        return Err(OpsError::FeatureMismatch {
            op: OP,
            input: k,
            weights: wk,
        });
    }
    if b.shape().0 != n {
        return Err(OpsError::BiasMismatch {
            op: OP,
            bias: b.shape().0,
            out_channels: n,
        });
    }
    // Strided views (a transposed weight, say) become contiguous; free for contiguous ones.
    let (x, tape) = x.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (w, tape_w) = w.try_contiguous().map_err(device_err(OP))?.split_tape();
    let (b, tape_b) = b.try_contiguous().map_err(device_err(OP))?.split_tape();
    let mut tape = tape.merge(tape_w).merge(tape_b);
    // dfdx lends no view of a tensor's buffer, so the inputs are copied out once (the
    // weights of the seed model are 32 MiB, a few milliseconds) and kept for the backward.
    let (xs, ws) = (to_vec(&x), to_vec(&w));
    let y = forward((m, k), n, &xs, &ws, &to_vec(&b));
    let out = x
        .device()
        .try_tensor_from_vec(y, (m, n))
        .map_err(device_err(OP))?;
    if T::OWNS_TAPE {
        let (x_id, w_id, b_id, out_id) = (x.ghost(), w.ghost(), b.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            // Borrow the output gradient by moving it out and back: dfdx offers no shared
            // accessor next to the mutable ones that the input gradients need.
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&out_id)?);
            // One gradient at a time: `get_or_alloc_mut` borrows all of `grads`. gemm
            // accumulates into each in place, so the products allocate nothing.
            add_input_grad((m, k), n, &ws, &gy, grads.get_or_alloc_mut(&x_id)?);
            add_weight_grad((m, k), n, &xs, &gy, grads.get_or_alloc_mut(&w_id)?);
            add_bias_grad(n, &gy, grads.get_or_alloc_mut(&b_id)?);
            **grads.get_or_alloc_mut(&out_id)? = gy;
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}
