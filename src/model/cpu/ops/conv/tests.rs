//! Tests of `conv2d` against the direct reference, central differences and dfdx's tape.

use dfdx::prelude::*;

use super::super::gradcheck::{assert_all_close, assert_grads_close, numeric_grad, random_vec};
use super::super::isa::{self, Isa};
use super::super::{max_pool2d, reference, Shape4};
use super::*;

/// Random f64 input, weights and bias for a convolution of the given shapes.
fn random_problem(input: Shape4, kernel: Shape4) -> (Conv2dShape, Vec<f64>, Vec<f64>, Vec<f64>) {
    let g = Conv2dShape::new(input, kernel, kernel.0).unwrap();
    let x = random_vec(10, g.batch * g.in_sample());
    let w = random_vec(11, g.out_channels * g.taps());
    let b = random_vec(12, g.out_channels);
    (g, x, w, b)
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Shapes that exercise panels spanning rows and samples, panels read in place (28-wide
/// rows), several chunks per thread group, non-square inputs, a 1x1 kernel, and 18 output
/// channels (the gathered weight gradient, with a padded second block of 16); rows of 16
/// or more outputs take the row-segment path (28: two segments; 17: a shifted last segment
/// sharing 15 lanes; 36: three segments, a partial chunk of tiles, 7 output channels).
const SHAPES: [(Shape4, Shape4); 6] = [
    ((2, 3, 6, 5), (4, 3, 3, 3)),
    ((20, 2, 30, 30), (3, 2, 3, 3)),
    ((3, 1, 9, 4), (2, 1, 4, 4)),
    ((1, 5, 3, 7), (6, 5, 1, 1)),
    ((3, 3, 20, 19), (18, 3, 3, 3)),
    ((2, 2, 8, 40), (7, 2, 5, 5)),
];

/// One kernel path's entry points for one element type: forward, the input gradient added
/// onto its buffer, and the weight and bias gradients.
pub(super) struct Path<E> {
    pub forward: Forward<E>,
    pub input_grad: fn(Isa, &Conv2dShape, &[E], &[E], &mut [E]),
    pub weight_grad: WeightGrad<E>,
}

/// A path's forward pass: `(isa, g, x, w, b) -> y`.
pub(super) type Forward<E> = fn(Isa, &Conv2dShape, &[E], &[E], &[E]) -> Vec<E>;
/// A path's weight gradient: `(isa, g, x, gy) -> (dw, db)`.
pub(super) type WeightGrad<E> = fn(Isa, &Conv2dShape, &[E], &[E]) -> (Vec<E>, Vec<E>);

/// Checks a kernel path (`f64s` and `f32s`, its two instantiations) on every instruction
/// set this CPU runs against the direct loops, for each `(input, kernel)` of `cases`, each
/// of which `takes` (the path's own condition) must accept: f64 to 1e-12; f32 to 1e-5 for
/// values and the input gradient, 1e-4 for the parameter gradients. The input gradient is
/// added onto ones, as the paths add onto what the buffer holds.
pub(super) fn check_path(
    cases: &[(Shape4, Shape4)],
    takes: fn(&Conv2dShape) -> bool,
    f64s: Path<f64>,
    f32s: Path<f32>,
) {
    for &(input, kernel) in cases {
        let g = Conv2dShape::new(input, kernel, kernel.0).unwrap();
        assert!(takes(&g), "{input:?} {kernel:?} is not for this path");
        let x = random_vec(1, g.batch * g.in_sample());
        let w = random_vec(2, g.out_channels * g.taps());
        let b = random_vec(3, g.out_channels);
        let gy = random_vec(4, g.batch * g.out_sample());
        let y = reference::conv2d_forward(&g, &x, &w, &b);
        let (dx, dw, db) = reference::conv2d_backward(&g, &x, &w, &gy);
        let want: Vec<f64> = dx.iter().map(|v| v + 1.0).collect();
        let f64_of = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
        for isa in Isa::available() {
            let what = |part: &str| format!("{} {part} {:?}", isa.name(), input);
            assert_all_close(&what("y"), &(f64s.forward)(isa, &g, &x, &w, &b), &y, 1e-12);
            let mut gx = vec![1.0; x.len()];
            (f64s.input_grad)(isa, &g, &w, &gy, &mut gx);
            assert_all_close(&what("dx"), &gx, &want, 1e-12);
            let (gw, gb) = (f64s.weight_grad)(isa, &g, &x, &gy);
            assert_all_close(&what("dw"), &gw, &dw, 1e-12);
            assert_all_close(&what("db"), &gb, &db, 1e-12);
            let (x, w, b, gy) = (to_f32(&x), to_f32(&w), to_f32(&b), to_f32(&gy));
            let got = f64_of(&(f32s.forward)(isa, &g, &x, &w, &b));
            assert_all_close(&what("y f32"), &got, &y, 1e-5);
            let mut gx = vec![1.0; x.len()];
            (f32s.input_grad)(isa, &g, &w, &gy, &mut gx);
            assert_all_close(&what("dx f32"), &f64_of(&gx), &want, 1e-5);
            let (gw, gb) = (f32s.weight_grad)(isa, &g, &x, &gy);
            assert_all_close(&what("dw f32"), &f64_of(&gw), &dw, 1e-4);
            assert_all_close(&what("db f32"), &f64_of(&gb), &db, 1e-4);
        }
    }
}

/// Every instruction-set path this CPU runs, each test body on each.
fn on_every_path(test: impl Fn()) {
    for path in Isa::available() {
        eprintln!("path {}", path.name());
        isa::with(path, &test);
    }
}

#[test]
fn forward_matches_reference() {
    on_every_path(forward_cases);
}

fn forward_cases() {
    for (input, kernel) in SHAPES {
        let (g, x, w, b) = random_problem(input, kernel);
        let want = reference::conv2d_forward(&g, &x, &w, &b);
        assert_all_close("y f64", &forward(&g, &x, &w, &b), &want, 1e-12);
        let (x, w, b) = (to_f32(&x), to_f32(&w), to_f32(&b));
        let got: Vec<f64> = forward(&g, &x, &w, &b).into_iter().map(f64::from).collect();
        assert_all_close("y f32", &got, &want, 1e-5);
    }
}

#[test]
fn backward_matches_reference() {
    on_every_path(backward_cases);
}

fn backward_cases() {
    for (input, kernel) in SHAPES {
        let (g, x, w, _) = random_problem(input, kernel);
        let gy = random_vec(13, g.batch * g.out_sample());
        let (want_dx, want_dw, want_db) = reference::conv2d_backward(&g, &x, &w, &gy);
        let mut dx = vec![0.5; x.len()];
        let (dw, db) = backward(&g, &x, &w, &gy, Some(&mut dx));
        let want_dx: Vec<f64> = want_dx.iter().map(|v| v + 0.5).collect();
        assert_all_close("dx (accumulated onto 0.5)", &dx, &want_dx, 1e-12);
        assert_all_close("dw", &dw, &want_dw, 1e-12);
        assert_all_close("db", &db, &want_db, 1e-12);
    }
}

/// Gradients of `sum(conv2d(x, w, b) * r)` through dfdx's tape: `(dx, dw, db)`.
fn tape_grads(g: &Conv2dShape, x: &[f64], w: &[f64], b: &[f64], r: &[f64]) -> [Vec<f64>; 3] {
    let dev = Cpu::default();
    let kernel = (g.out_channels, g.in_channels, g.kernel, g.kernel);
    let xt = dev.tensor_from_vec(x.to_vec(), (g.batch, g.in_channels, g.height, g.width));
    let wt = dev.tensor_from_vec(w.to_vec(), kernel);
    let bt = dev.tensor_from_vec(b.to_vec(), (g.out_channels,));
    let rt = dev.tensor_from_vec(r.to_vec(), g.output_shape());
    let y = conv2d(xt.leaky_trace(), wt.clone(), bt.clone());
    let grads = (y * rt).sum::<Rank0, _>().backward();
    [
        grads.get(&xt).as_vec(),
        grads.get(&wt).as_vec(),
        grads.get(&bt).as_vec(),
    ]
}

#[test]
fn gradients_match_central_differences() {
    let (g, x, w, b) = random_problem((2, 3, 6, 5), (4, 3, 3, 3));
    let r = random_vec(14, g.batch * g.out_sample());
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        forward(&g, x, w, b)
            .iter()
            .zip(&r)
            .map(|(y, r)| y * r)
            .sum()
    };
    let [dx, dw, db] = tape_grads(&g, &x, &w, &b, &r);
    assert_grads_close(
        "dx",
        &dx,
        &numeric_grad(&x, 1e-6, |x| loss(x, &w, &b)),
        1e-7,
    );
    assert_grads_close(
        "dw",
        &dw,
        &numeric_grad(&w, 1e-6, |w| loss(&x, w, &b)),
        1e-7,
    );
    assert_grads_close(
        "db",
        &db,
        &numeric_grad(&b, 1e-6, |b| loss(&x, &w, b)),
        1e-7,
    );
}

#[test]
fn skipping_the_input_gradient_keeps_parameter_gradients() {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(2, 2, 7, 6));
    let w: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(3, 2, 3, 3));
    let b: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(3,));
    let run = |input_grad| {
        let y = try_conv2d(x.leaky_trace(), w.clone(), b.clone(), input_grad).unwrap();
        let mut grads = y.square().sum::<Rank0, _>().backward();
        let dx = grads.get_or_alloc_mut(&x).unwrap().to_vec();
        (dx, grads.get(&w).as_vec(), grads.get(&b).as_vec())
    };
    let (dx_full, dw_full, db_full) = run(InputGrad::Compute);
    let (dx_skip, dw_skip, db_skip) = run(InputGrad::Skip);
    assert!(dx_full.iter().any(|&v| v != 0.0));
    assert!(
        dx_skip.iter().all(|&v| v == 0.0),
        "skipped input gradient was computed"
    );
    assert_eq!((dw_full, db_full), (dw_skip, db_skip));
}

/// conv -> relu -> pool -> conv -> relu -> sum through dfdx: every parameter gets a gradient.
#[test]
fn composed_network_gives_every_parameter_a_gradient() {
    let dev = Cpu::seed_from_u64(7);
    let x: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(3, 1, 13, 12));
    let w1: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(4, 1, 3, 3));
    let b1: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(4,));
    let w2: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(5, 4, 2, 2));
    let b2: Tensor<(usize,), f32, Cpu> = dev.sample_normal_like(&(5,));
    let h = try_conv2d(x.leaky_trace(), w1.clone(), b1.clone(), InputGrad::Skip).unwrap();
    let h = max_pool2d(h.relu());
    assert_eq!(*h.shape(), (3, 4, 5, 5));
    let y = conv2d(h, w2.retaped::<OwnedTape<f32, Cpu>>(), b2.retaped()).relu();
    let grads = y.sum::<Rank0, _>().backward();
    for (name, g) in [
        ("w1", grads.get(&w1).as_vec()),
        ("b1", grads.get(&b1).as_vec()),
        ("w2", grads.get(&w2).as_vec()),
        ("b2", grads.get(&b2).as_vec()),
    ] {
        assert!(g.iter().any(|&v| v != 0.0), "{name} got no gradient");
        assert!(
            g.iter().all(|v| v.is_finite()),
            "{name} has a non-finite gradient"
        );
    }
}

#[test]
fn mismatched_shapes_are_errors() {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, Cpu> = dev.zeros_like(&(1, 2, 5, 4));
    let cases: [(Shape4, usize, &str); 4] = [
        ((3, 2, 5, 5), 3, "kernel larger than input"),
        ((3, 1, 3, 3), 3, "channel mismatch"),
        ((3, 2, 3, 3), 2, "bias mismatch"),
        ((3, 2, 3, 2), 3, "non-square kernel"),
    ];
    for (kernel, bias, what) in cases {
        let w: Tensor<Shape4, f32, Cpu> = dev.zeros_like(&kernel);
        let b: Tensor<(usize,), f32, Cpu> = dev.zeros_like(&(bias,));
        let err = try_conv2d(x.clone(), w, b, InputGrad::Compute).expect_err(what);
        let ok = match what {
            "kernel larger than input" => matches!(err, OpsError::InputTooSmall { window: 5, .. }),
            "channel mismatch" => matches!(
                err,
                OpsError::ChannelMismatch {
                    input: 2,
                    kernel: 1,
                    ..
                }
            ),
            "bias mismatch" => matches!(err, OpsError::BiasMismatch { bias: 2, .. }),
            _ => matches!(err, OpsError::NonSquareKernel { kh: 3, kw: 2, .. }),
        };
        assert!(ok, "{what}: unexpected error {err}");
    }
}
