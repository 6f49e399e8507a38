//! Safe, bounds-checked front end to the `gemm` crate's matrix multiply.
//!
//! All `unsafe` of the ops lives here: callers describe each operand as a strided view over a
//! slice, and [`matmul`] checks every view against its slice before handing raw pointers on.

use gemm::Parallelism;

use super::Real;

/// A read-only strided matrix view: element `(r, c)` lives at `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, E> {
    pub data: &'a [E],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// A writable strided matrix view: element `(r, c)` lives at `data[r * rs + c * cs]`.
pub(crate) struct MatMut<'a, E> {
    pub data: &'a mut [E],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// Panics unless every element of a `rows x cols` view with strides `rs`, `cs` is inside a
/// slice of `len` elements; a failure here is a bug in the calling kernel, not user input.
fn check_view(what: &str, len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last < len,
        "gemm {what}: view {rows}x{cols} (rs {rs}, cs {cs}) overruns a slice of {len}"
    );
}

/// Computes `dst = lhs * rhs`, or `dst += lhs * rhs` when `accumulate` is set.
///
/// # Panics
/// If the views' shapes disagree or a view reaches outside its slice.
pub(crate) fn matmul<E: Real>(
    dst: MatMut<'_, E>,
    lhs: MatRef<'_, E>,
    rhs: MatRef<'_, E>,
    accumulate: bool,
    parallelism: Parallelism,
) {
    assert_eq!(dst.rows, lhs.rows, "gemm: dst rows vs lhs rows");
    assert_eq!(dst.cols, rhs.cols, "gemm: dst cols vs rhs cols");
    assert_eq!(lhs.cols, rhs.rows, "gemm: lhs cols vs rhs rows");
    check_view("dst", dst.data.len(), dst.rows, dst.cols, dst.rs, dst.cs);
    check_view("lhs", lhs.data.len(), lhs.rows, lhs.cols, lhs.rs, lhs.cs);
    check_view("rhs", rhs.data.len(), rhs.rows, rhs.cols, rhs.rs, rhs.cs);
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    // SAFETY: every element the views address was checked to lie inside its slice above;
    // `dst` is a unique borrow so it cannot alias `lhs` or `rhs`; `E` is sealed to f32 and
    // f64, the element types `gemm::gemm` supports (it panics on any other); strides fit in
    // isize because they index inside an allocation, which is at most isize::MAX bytes.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            E::ONE,
            E::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row-major 2x3 times row-major 3x2 checked against hand-computed values.
    #[test]
    fn small_product_and_accumulate() {
        let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0f64, 8.0, 9.0, 10.0, 11.0, 12.0];
        let mut c = [1.0f64; 4];
        let lhs = MatRef {
            data: &a,
            rows: 2,
            cols: 3,
            rs: 3,
            cs: 1,
        };
        let rhs = MatRef {
            data: &b,
            rows: 3,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        let dst = MatMut {
            data: &mut c,
            rows: 2,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        matmul(dst, lhs, rhs, false, Parallelism::None);
        assert_eq!(c, [58.0, 64.0, 139.0, 154.0]);
        let dst = MatMut {
            data: &mut c,
            rows: 2,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        matmul(dst, lhs, rhs, true, Parallelism::None);
        assert_eq!(c, [116.0, 128.0, 278.0, 308.0]);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn overrunning_view_panics() {
        let a = [0.0f32; 5];
        let b = [0.0f32; 6];
        let mut c = [0.0f32; 4];
        let lhs = MatRef {
            data: &a,
            rows: 2,
            cols: 3,
            rs: 3,
            cs: 1,
        };
        let rhs = MatRef {
            data: &b,
            rows: 3,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        let dst = MatMut {
            data: &mut c,
            rows: 2,
            cols: 2,
            rs: 2,
            cs: 1,
        };
        matmul(dst, lhs, rhs, false, Parallelism::None);
    }
}
