//! Tests of `dense` against the direct reference, central differences, dfdx's own matmul and
//! itself (threaded against single-threaded, bit for bit).

use dfdx::prelude::*;

use super::super::gradcheck::{assert_all_close, assert_grads_close, numeric_grad, random_vec};
use super::super::reference;
use super::*;

/// `(m, k, n)`: single elements, gemm's vector cases (one row, one column), odd sizes that
/// leave partial register tiles, and one product above [`THREADED_MACS`] (threaded).
const SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (1, 40, 33),
    (5, 40, 1),
    (7, 33, 19),
    (64, 96, 70),
    (64, 512, 520),
];

/// Random f64 input, weights and bias for a dense layer `(m, k) x (k, n)`.
fn random_problem((m, k, n): (usize, usize, usize)) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    (
        random_vec(20, m * k),
        random_vec(21, k * n),
        random_vec(22, n),
    )
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn threaded_shape_is_threaded() {
    let (m, k, n) = SHAPES[SHAPES.len() - 1];
    assert!(m * k * n >= THREADED_MACS);
}

#[test]
fn forward_matches_reference() {
    for (m, k, n) in SHAPES {
        let (x, w, b) = random_problem((m, k, n));
        let want = reference::dense_forward((m, k), n, &x, &w, &b);
        assert_all_close("y f64", &forward((m, k), n, &x, &w, &b), &want, 1e-12);
        let got = forward((m, k), n, &to_f32(&x), &to_f32(&w), &to_f32(&b));
        // f32 sums of up to 512 products of values in [-1, 1].
        assert_all_close("y f32", &to_f64(&got), &want, 1e-4);
    }
}

#[test]
fn backward_matches_reference_and_accumulates() {
    for (m, k, n) in SHAPES {
        let (x, w, _) = random_problem((m, k, n));
        let gy = random_vec(23, m * n);
        let (want_dx, want_dw, want_db) = reference::dense_backward((m, k), n, &x, &w, &gy);
        // Gradients already holding 0.5 (another use of the tensor) must keep it.
        let (mut dx, mut dw, mut db) = (vec![0.5; m * k], vec![0.5; k * n], vec![0.5; n]);
        backward((m, k), n, (&x, &w, &gy), &mut dx, &mut dw, &mut db);
        let plus_half = |v: Vec<f64>| v.into_iter().map(|g| g + 0.5).collect::<Vec<_>>();
        assert_all_close("dx", &dx, &plus_half(want_dx), 1e-12);
        assert_all_close("dw", &dw, &plus_half(want_dw), 1e-12);
        assert_all_close("db", &db, &plus_half(want_db), 1e-12);
    }
}

/// Gradients of `sum(dense(x, w, b) * r)` through dfdx's tape: `(dx, dw, db)`.
fn tape_grads(
    (m, k, n): (usize, usize, usize),
    (x, w, b): (&[f64], &[f64], &[f64]),
    r: &[f64],
) -> [Vec<f64>; 3] {
    let dev = Cpu::default();
    let xt = dev.tensor_from_vec(x.to_vec(), (m, k));
    let wt = dev.tensor_from_vec(w.to_vec(), (k, n));
    let bt = dev.tensor_from_vec(b.to_vec(), (n,));
    let rt = dev.tensor_from_vec(r.to_vec(), (m, n));
    let y = dense(xt.leaky_trace(), wt.clone(), bt.clone());
    let grads = (y * rt).sum::<Rank0, _>().backward();
    [
        grads.get(&xt).as_vec(),
        grads.get(&wt).as_vec(),
        grads.get(&bt).as_vec(),
    ]
}

#[test]
fn gradients_match_central_differences() {
    let shape @ (m, k, n) = (3, 7, 5);
    let (x, w, b) = random_problem(shape);
    let r = random_vec(24, m * n);
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        forward((m, k), n, x, w, b)
            .iter()
            .zip(&r)
            .map(|(y, r)| y * r)
            .sum()
    };
    let [dx, dw, db] = tape_grads(shape, (&x, &w, &b), &r);
    let numeric_dx = numeric_grad(&x, 1e-6, |x| loss(x, &w, &b));
    assert_grads_close("dx", &dx, &numeric_dx, 1e-7);
    let numeric_dw = numeric_grad(&w, 1e-6, |w| loss(&x, w, &b));
    assert_grads_close("dw", &dw, &numeric_dw, 1e-7);
    let numeric_db = numeric_grad(&b, 1e-6, |b| loss(&x, &w, b));
    assert_grads_close("db", &db, &numeric_db, 1e-7);
}

/// The op it replaces: dfdx's `matmul` plus a broadcast bias, then a relu and a sum, both
/// values and gradients (f32, so to rounding). The weights come in as a transposed view,
/// which the op must make contiguous and whose gradient dfdx must route back.
#[test]
fn matches_dfdx_matmul_plus_bias() {
    let (m, k, n) = (9, 70, 33);
    let dev = Cpu::seed_from_u64(5);
    let x: Tensor<Shape2, f32, Cpu> = dev.sample_normal_like(&(m, k));
    let w_t: Tensor<Shape2, f32, Cpu> = dev.sample_normal_like(&(n, k));
    let b: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(n,));
    let w = || {
        w_t.retaped::<OwnedTape<f32, Cpu>>()
            .permute::<_, Axes2<1, 0>>()
    };
    let bias = b
        .retaped::<OwnedTape<f32, Cpu>>()
        .broadcast_like::<_, Axis<0>>(&(m, n));
    let theirs = (x.leaky_trace().matmul(w()) + bias).relu();
    let ours = dense(x.leaky_trace(), w(), b.retaped()).relu();
    assert_all_close("y", &ours.as_vec(), &theirs.as_vec(), 1e-5);
    let g_theirs = theirs.sum::<Rank0, _>().backward();
    let g_ours = ours.sum::<Rank0, _>().backward();
    for (what, ours, theirs) in [
        ("dx", g_ours.get(&x), g_theirs.get(&x)),
        ("dw", g_ours.get(&w_t), g_theirs.get(&w_t)),
    ] {
        assert_all_close(what, &ours.as_vec(), &theirs.as_vec(), 1e-5);
    }
    let (db_ours, db_theirs) = (g_ours.get(&b).as_vec(), g_theirs.get(&b).as_vec());
    assert_all_close("db", &db_ours, &db_theirs, 1e-5);
}

/// Same inputs, same bits: run after run, and whatever the threading, since gemm splits the
/// output among threads and never the sum. Training's determinism rests on this.
#[test]
fn threading_does_not_change_the_bits() {
    let (m, k, n) = SHAPES[SHAPES.len() - 1];
    let (x, w, _) = random_problem((m, k, n));
    let (x, w) = (to_f32(&x), to_f32(&w));
    let gy = to_f32(&random_vec(25, m * n));
    // The three products of a training step, each as `(shape, a, b)`.
    let products = [
        (
            (m, k, n),
            Operand::row_major(&x[..]),
            Operand::row_major(&w[..]),
        ),
        (
            (m, n, k),
            Operand::row_major(&gy[..]),
            Operand::transposed(&w[..]),
        ),
        (
            (k, m, n),
            Operand::transposed(&x[..]),
            Operand::row_major(&gy[..]),
        ),
    ];
    for (shape @ (rows, _, cols), a, b) in products {
        let run = |parallelism| {
            // Accumulate onto a non-zero start, as the gradients do.
            let mut c = vec![0.25f32; rows * cols];
            gemm_with(shape, a, b, &mut c, true, parallelism);
            c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        };
        let single = run(Parallelism::None);
        for threads in [0, 2, 3] {
            for _ in 0..2 {
                assert!(
                    run(Parallelism::Rayon(threads)) == single,
                    "{shape:?} on {threads} threads differs from one thread"
                );
            }
        }
    }
}

#[test]
fn overwrite_ignores_the_output_and_empty_sums_clear_it() {
    let (a, b) = ([1.0f64, 2.0], [3.0f64, 4.0]);
    let mut c = [f64::NAN];
    gemm_into(
        (1, 2, 1),
        Operand::row_major(&a),
        Operand::row_major(&b),
        &mut c,
        false,
    );
    assert_eq!(c, [11.0]);
    let mut c = [7.0f64; 4];
    let empty: [f64; 0] = [];
    let (ea, eb) = (
        Operand::row_major(&empty[..]),
        Operand::row_major(&empty[..]),
    );
    gemm_into((2, 0, 2), ea, eb, &mut c, true);
    assert_eq!(c, [7.0; 4], "accumulating an empty sum changes nothing");
    gemm_into((2, 0, 2), ea, eb, &mut c, false);
    assert_eq!(c, [0.0; 4], "an empty product is zero");
}

#[test]
#[should_panic(expected = "rhs is not 3x2")]
fn gemm_rejects_a_short_operand() {
    let (a, b, mut c) = ([0.0f32; 6], [0.0f32; 5], [0.0f32; 4]);
    gemm_into(
        (2, 3, 2),
        Operand::row_major(&a),
        Operand::row_major(&b),
        &mut c,
        true,
    );
}

#[test]
fn mismatched_shapes_are_errors() {
    let dev = Cpu::default();
    let x: Tensor<Shape2, f32, Cpu> = dev.zeros_like(&(2, 3));
    let w: Tensor<Shape2, f32, Cpu> = dev.zeros_like(&(4, 5));
    let b: Tensor<(usize,), f32, Cpu> = dev.zeros_like(&(5,));
    let err = try_dense(x.clone(), w, b.clone()).expect_err("3 features, 4 weight rows");
    assert!(
        matches!(
            err,
            OpsError::FeatureMismatch {
                input: 3,
                weights: 4,
                ..
            }
        ),
        "{err}"
    );
    let w: Tensor<Shape2, f32, Cpu> = dev.zeros_like(&(3, 6));
    let err = try_dense(x, w, b).expect_err("6 units, 5 biases");
    assert!(
        matches!(
            err,
            OpsError::BiasMismatch {
                bias: 5,
                out_channels: 6,
                ..
            }
        ),
        "{err}"
    );
}
