//! Checks of what dfdx 0.13 itself offers for runtime (`usize`) shapes, so the model code
//! can rely on it: dense layers (`matmul` plus a broadcast bias), `dropout`, flattening, and
//! per-tensor optimizer updates. The findings are summarised in the `ops` module docs.

use dfdx::optim::{AdamConfig, SgdConfig};
use dfdx::prelude::*;

use super::Shape4;

/// `x (2x3) @ w (3x2) + b`: values and both gradients, against hand-computed numbers.
#[test]
fn dense_layer_with_runtime_shapes() {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3));
    let w = dev.tensor_from_vec(vec![1.0f64, 0.0, 0.0, 1.0, 1.0, 1.0], (3, 2));
    let b = dev.tensor_from_vec(vec![0.5f64, -0.5], (2,));
    // `broadcast_like` needs the axis spelled out: with two runtime dims it is ambiguous.
    let bias = b
        .retaped::<OwnedTape<f64, Cpu>>()
        .broadcast_like::<_, Axis<0>>(&(2, 2));
    let y = x.leaky_trace().matmul(w.clone()) + bias;
    assert_eq!(y.as_vec(), [4.5, 4.5, 10.5, 10.5]);
    let grads = y.sum::<Rank0, _>().backward();
    // d/dw = x^T @ ones: column sums of x, repeated per output.
    assert_eq!(grads.get(&w).as_vec(), [5.0, 5.0, 7.0, 7.0, 9.0, 9.0]);
    assert_eq!(grads.get(&b).as_vec(), [2.0, 2.0]);
    // d/dx = ones @ w^T: the row sums of w, repeated per sample.
    assert_eq!(grads.get(&x).as_vec(), [1.0, 1.0, 2.0, 1.0, 1.0, 2.0]);
}

/// Dropout works on runtime shapes: it zeroes about `p` of the values, scales the rest by
/// `1 / (1 - p)` (inverted dropout, as Keras), and routes gradients through the same mask.
#[test]
fn dropout_with_runtime_shapes() {
    let dev = Cpu::seed_from_u64(3);
    let x: Tensor<(usize, usize), f32, Cpu> = dev.ones_like(&(40, 50));
    let y = x.leaky_trace().dropout(0.25);
    let kept = y.as_vec();
    let zeros = kept.iter().filter(|&&v| v == 0.0).count();
    assert!(
        (400..600).contains(&zeros),
        "{zeros} of 2000 dropped at p = 0.25"
    );
    assert!(kept
        .iter()
        .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
    let grads = y.sum::<Rank0, _>().backward();
    assert_eq!(
        grads.get(&x).as_vec(),
        kept,
        "gradient follows the forward mask"
    );
}

/// Flattening NCHW activations for the dense layer keeps order and gradients.
#[test]
fn flatten_with_reshape_like() {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, Cpu> = dev.sample_normal_like(&(2, 3, 2, 2));
    let flat = x.leaky_trace().reshape_like(&(2, 12));
    assert_eq!(flat.as_vec(), x.as_vec());
    let grads = (flat * 2.0).sum::<Rank0, _>().backward();
    assert!(grads.get(&x).as_vec().iter().all(|&v| v == 2.0));
}

/// Adam and SGD update a runtime-shaped parameter from its gradient, without dfdx's module
/// machinery: minimising `sum(w^2)` shrinks `w`.
#[test]
fn optimizers_update_runtime_shaped_parameters() {
    let dev = Cpu::default();
    let start = vec![1.0f32, -2.0, 3.0];
    let mut adam_w = dev.tensor_from_vec(start.clone(), (3,));
    let mut sgd_w = dev.tensor_from_vec(start.clone(), (3,));
    let adam = AdamConfig {
        lr: 0.1,
        ..Default::default()
    };
    let sgd = SgdConfig {
        lr: 0.1,
        ..Default::default()
    };
    let (mut m, mut v) = (dev.try_alloc_len(3).unwrap(), dev.try_alloc_len(3).unwrap());
    let mut velocity = dev.try_alloc_len(3).unwrap();
    for step in 1..=20 {
        let mut grads = adam_w.leaky_trace().square().sum::<Rank0, _>().backward();
        let g = grads.get_or_alloc_mut(&adam_w).unwrap().clone();
        adam.try_update(step, &mut adam_w, &mut m, &mut v, &g)
            .unwrap();
        let mut grads = sgd_w.leaky_trace().square().sum::<Rank0, _>().backward();
        let g = grads.get_or_alloc_mut(&sgd_w).unwrap().clone();
        sgd.try_update(&mut sgd_w, &mut velocity, &g).unwrap();
    }
    let norm = |t: &Tensor<(usize,), f32, Cpu>| t.as_vec().iter().map(|v| v * v).sum::<f32>();
    let start_norm: f32 = start.iter().map(|v| v * v).sum();
    assert!(
        norm(&adam_w) < start_norm / 2.0,
        "adam: {:?}",
        adam_w.as_vec()
    );
    assert!(
        norm(&sgd_w) < start_norm / 100.0,
        "sgd: {:?}",
        sgd_w.as_vec()
    );
}
