//! GPU ops against the CPU backend's, on small shapes with odd sizes: per tensor,
//! `max |gpu - cpu| / max |cpu| <= 1e-4`.
//!
//! Without a Vulkan adapter a test prints why and passes, unless `TWINFLOW_REQUIRE_GPU=1`
//! (set by CI, which installs Mesa's lavapipe) makes that a failure.

use std::sync::OnceLock;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::activation::Activations;
use super::batch_norm::{BatchNorm, BnShape};
use super::bias::Bias;
use super::conv::{Conv2d, ConvShape};
use super::dropout::Dropout;
use super::head::HeadKernel;
use super::matmul::{Layout, Matmul};
use super::optimizer::Optimizers;
use super::pool::MaxPool;
use super::Gpu;
use crate::model::{cpu, Activation, Distance, Head, Loss, OptimizerConfig};

/// The GPU for a test, opened once per test binary; `None` (after saying why) when this
/// machine has none and none is required.
pub(crate) fn test_gpu() -> Option<&'static Gpu> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    let gpu = GPU.get_or_init(|| Gpu::open().map_err(|e| crate::errors::chain(&e)));
    match gpu {
        Ok(gpu) => Some(gpu),
        Err(why) if std::env::var("TWINFLOW_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("TWINFLOW_REQUIRE_GPU=1 but {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `max |got - want| / max |want|`.
fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let diff = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    diff / scale
}

#[test]
fn matmul_matches_the_cpu_in_every_layout_on_odd_sizes() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = Matmul::new(gpu);
    for (m, k, n) in [(1, 1, 1), (3, 5, 7), (17, 33, 9), (40, 16, 31), (2, 300, 3)] {
        for (transpose_a, transpose_b) in
            [(false, false), (true, false), (false, true), (true, true)]
        {
            let a = random(m * k, 1);
            let b = random(k * n, 2);
            let want = cpu::yardstick::matmul((&a, &b), (m, k, n), (transpose_a, transpose_b))
                .expect("cpu");
            let layout = Layout {
                transpose_a,
                transpose_b,
                accumulate: false,
            };
            let got = kernel.run(gpu, (&a, &b), (m, k, n), layout).expect("gpu");
            let err = relative_error(&got, &want);
            assert!(
                err <= 1e-4,
                "({m}, {k}, {n}) transposed ({transpose_a}, {transpose_b}): {err}"
            );
        }
    }
}

#[test]
fn matmul_repeats_bit_for_bit() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = Matmul::new(gpu);
    let (a, b) = (random(37 * 61, 3), random(61 * 19, 4));
    let layout = Layout::default();
    let first = kernel
        .run(gpu, (&a, &b), (37, 61, 19), layout)
        .expect("gpu");
    let again = kernel
        .run(gpu, (&a, &b), (37, 61, 19), layout)
        .expect("gpu");
    assert_eq!(
        first.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        again.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn a_tensor_over_the_binding_limit_is_refused_with_its_name() {
    let Some(gpu) = test_gpu() else { return };
    let limit = gpu.limits.max_storage_buffer_binding_size;
    let err = gpu
        .check_binding("dense.weight", limit + 4)
        .expect_err("over the limit");
    let text = err.to_string();
    let mib = format!("{:.1} MiB", limit as f64 / 1048576.0);
    assert!(
        text.contains("dense.weight") && text.contains(&mib),
        "{text}"
    );
}

#[test]
fn activations_and_their_gradients_match_the_cpu() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = Activations::new(gpu);
    for n in [1, 255, 257, 1000] {
        // Values on both sides of 0, and exact zeros, where ReLU's gradient switches.
        let mut x = random(n, 5);
        x.iter_mut().step_by(7).for_each(|v| *v = 0.0);
        let dy = random(n, 6);
        for activation in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Linear,
        ] {
            let (want_y, want_dx) = cpu::yardstick::activation(activation, &x, &dy);
            let (y, dx) = kernel.run(gpu, activation, &x, &dy).expect("gpu");
            assert!(
                relative_error(&y, &want_y) <= 1e-4,
                "{activation:?} forward, n = {n}"
            );
            assert!(
                relative_error(&dx, &want_dx) <= 1e-4,
                "{activation:?} backward, n = {n}"
            );
        }
    }
}

#[test]
fn conv2d_and_its_three_gradients_match_the_cpu_kernels() {
    use crate::model::cpu::ops::kernels::{conv2d_backward, conv2d_forward};
    use crate::model::cpu::ops::Conv2dShape;
    let Some(gpu) = test_gpu() else { return };
    let kernel = Conv2d::new(gpu);
    // (batch, in, height, width, out, kernel): odd sizes, a 1x1 kernel, a kernel as large
    // as the input, one wider than tall, and sums over the batch longer than a workgroup.
    for (n, c, h, w, o, k) in [
        (1, 1, 5, 5, 1, 3),
        (5, 2, 20, 17, 3, 3),
        (3, 2, 9, 7, 5, 4),
        (2, 3, 6, 11, 4, 1),
        (2, 2, 5, 5, 3, 5),
    ] {
        let shape = ConvShape {
            batch: n,
            in_channels: c,
            height: h,
            width: w,
            out_channels: o,
            kernel: k,
        };
        let cpu_shape = Conv2dShape::new((n, c, h, w), (o, c, k, k), o).expect("valid");
        let x = random(shape.input_len(), 7);
        let wt = random(shape.weight_len(), 8);
        let b = random(o, 9);
        let gy = random(shape.output_len(), 10);
        let want_y = conv2d_forward(&cpu_shape, &x, &wt, &b);
        let mut want_gx = vec![0.0; x.len()];
        let (want_gw, want_gb) = conv2d_backward(&cpu_shape, &x, &wt, &gy, Some(&mut want_gx));
        let [y, gx, gw, gb] = kernel.run(gpu, &shape, (&x, &wt, &b, &gy)).expect("gpu");
        let case = format!("{shape:?}");
        assert!(relative_error(&y, &want_y) <= 1e-4, "forward {case}");
        assert!(relative_error(&gx, &want_gx) <= 1e-4, "input grad {case}");
        assert!(relative_error(&gw, &want_gw) <= 1e-4, "weight grad {case}");
        assert!(relative_error(&gb, &want_gb) <= 1e-4, "bias grad {case}");
    }
}

#[test]
fn max_pooling_and_its_gradient_match_the_cpu_kernels_ties_included() {
    use crate::model::cpu::ops::kernels::{max_pool2d_backward, max_pool2d_forward};
    let Some(gpu) = test_gpu() else { return };
    let kernel = MaxPool::new(gpu);
    for (n, c, h, w) in [(1, 1, 2, 2), (2, 3, 7, 9), (3, 2, 6, 5)] {
        let mut x = random(n * c * h * w, 11);
        // Ties: whole windows of one value, where the first cell must win.
        x.iter_mut().step_by(5).for_each(|v| *v = 0.5);
        x.iter_mut().skip(1).step_by(5).for_each(|v| *v = 0.5);
        let pooled = n * c * (h / 2) * (w / 2);
        let gy = random(pooled, 12);
        let (want_y, want_winners) = max_pool2d_forward((n, c, h, w), &x);
        let mut want_gx = vec![0.0; x.len()];
        max_pool2d_backward((n, c, h, w), &want_winners, &gy, &mut want_gx);
        let [y, winners, gx] = kernel.run(gpu, (n * c, h, w), &x, &gy).expect("gpu");
        assert_eq!(y, want_y, "({n}, {c}, {h}, {w}) forward");
        let want_winners: Vec<f32> = want_winners.iter().map(|&v| f32::from(v)).collect();
        assert_eq!(winners, want_winners, "({n}, {c}, {h}, {w}) winners");
        assert_eq!(gx, want_gx, "({n}, {c}, {h}, {w}) gradient");
    }
}

#[test]
fn batch_norm_in_training_and_inference_matches_the_cpu() {
    use crate::model::cpu::ops::RunningStats;
    let Some(gpu) = test_gpu() else { return };
    let kernel = BatchNorm::new(gpu);
    // The last has more values per channel than a workgroup has threads.
    for (n, c, h, w) in [(2, 3, 5, 7), (1, 1, 4, 4), (4, 5, 3, 3), (6, 2, 11, 13)] {
        let x: Vec<f32> = random(n * c * h * w, 13)
            .iter()
            .map(|v| 3.0 * v + 1.0)
            .collect();
        let gy = random(x.len(), 14);
        let gamma: Vec<f32> = random(c, 15).iter().map(|v| 1.0 + 0.5 * v).collect();
        let beta = random(c, 16);
        let mut affine = gamma.clone();
        affine.extend(&beta);
        for train in [true, false] {
            let mut cpu_running = RunningStats {
                mean: random(c, 17),
                var: random(c, 18).iter().map(|v| 1.0 + v.abs()).collect(),
            };
            let mut gpu_running = cpu_running.mean.clone();
            gpu_running.extend(&cpu_running.var);
            let want = cpu::yardstick::batch_norm(
                (n, c, h, w),
                (&x, &gamma, &beta, &gy),
                &mut cpu_running,
                (train, 0.99, 1e-3),
            )
            .expect("cpu");
            let shape = BnShape {
                batch: n,
                channels: c,
                plane: h * w,
                momentum: 0.99,
                eps: 1e-3,
            };
            let got = kernel
                .run(gpu, (&shape, train), (&x, &affine, &gy), &mut gpu_running)
                .expect("gpu");
            let case = format!("({n}, {c}, {h}, {w}) train {train}");
            for (name, g, w) in [("y", &got[0], &want[0]), ("gx", &got[1], &want[1])] {
                assert!(relative_error(g, w) <= 1e-4, "{name} {case}");
            }
            assert!(
                relative_error(&got[2], &want[2]) <= 1e-4,
                "dgamma, dbeta {case}"
            );
            let mut want_running = cpu_running.mean.clone();
            want_running.extend(&cpu_running.var);
            assert!(
                relative_error(&gpu_running, &want_running) <= 1e-4,
                "running {case}"
            );
        }
    }
}

#[test]
fn every_optimizer_steps_as_the_cpu_does_with_the_l2_penalty_and_decay() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = Optimizers::new(gpu);
    let param = random(301, 19);
    let grads: Vec<Vec<f32>> = (0..4).map(|s| random(301, 20 + s)).collect();
    for config in [
        OptimizerConfig::Adam {
            lr: 1e-3,
            decay: 0.0,
        },
        OptimizerConfig::Adam {
            lr: 5e-4,
            decay: 1e-2,
        },
        OptimizerConfig::RmsProp {
            lr: 1e-3,
            decay: 1e-3,
        },
        OptimizerConfig::Sgd {
            lr: 1e-2,
            momentum: 0.9,
            decay: 0.0,
        },
        OptimizerConfig::Sgd {
            lr: 1e-2,
            momentum: 0.0,
            decay: 1e-1,
        },
    ] {
        for l2 in [0.0, 2e-4] {
            let want = cpu::yardstick::optimizer_steps((config, l2), &param, &grads).expect("cpu");
            let got = kernel.run(gpu, (&config, l2), &param, &grads).expect("gpu");
            // The parameters are held to their change, not to their size, which would hide it.
            let moved =
                |v: &[f32]| -> Vec<f32> { v.iter().zip(&param).map(|(a, b)| a - b).collect() };
            let err = relative_error(&moved(&got[0]), &moved(&want[0]));
            assert!(
                err <= 1e-4,
                "{config:?} l2 {l2}: parameters moved differently ({err})"
            );
            for (name, g, w) in [("m1", &got[1], &want[1]), ("m2", &got[2], &want[2])] {
                let err = relative_error(g, w);
                assert!(
                    err <= 1e-4 || w.iter().all(|v| *v == 0.0) && g.iter().all(|v| *v == 0.0),
                    "{config:?} l2 {l2}: {name} ({err})"
                );
            }
        }
    }
}

#[test]
fn the_weight_average_moves_as_the_cpu_backend_moves_it() {
    use super::buffers::Tensor;
    use super::kernel::run_once;
    let Some(gpu) = test_gpu() else { return };
    let kernel = Optimizers::new(gpu);
    let (avg, live) = (random(513, 30), random(513, 31));
    let average = Tensor::from_host(gpu, "average", &avg).expect("fits");
    let weights = Tensor::from_host(gpu, "live", &live).expect("fits");
    let scratch = [
        Tensor::zeros(gpu, "scratch", 1).expect("fits"),
        Tensor::zeros(gpu, "scratch", 1).expect("fits"),
    ];
    let decay = 0.9f32;
    let record = |encoder: &mut wgpu::CommandEncoder| {
        let scratch = (&scratch[0], &scratch[1]);
        kernel.encode_average(gpu, encoder, decay, (&average, &weights), scratch);
    };
    let [got] = run_once(gpu, "average", record, [&average]).expect("gpu");
    // `CpuNetwork::update_average`'s arithmetic, value by value.
    let want: Vec<f32> = avg
        .iter()
        .zip(&live)
        .map(|(a, x)| decay * a + (1.0 - decay) * x)
        .collect();
    assert!(relative_error(&got, &want) <= 1e-6);
}

#[test]
fn every_head_and_loss_matches_the_cpu_head_with_its_gradients() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = HeadKernel::new(gpu);
    let (pairs, units) = (7, 13);
    let e = random(2 * pairs * units, 40);
    let labels: Vec<f32> = (0..pairs).map(|b| (b % 3 == 0) as u8 as f32).collect();
    for (loss, distance) in [
        (Loss::BinaryCrossEntropy, Distance::L1),
        (Loss::BinaryCrossEntropy, Distance::Euclidean),
        (Loss::BinaryCrossEntropy, Distance::Cosine),
        (Loss::Contrastive { margin: 1.5 }, Distance::Euclidean),
        (Loss::Contrastive { margin: 4.0 }, Distance::L1),
        (Loss::Contrastive { margin: 0.5 }, Distance::Cosine),
    ] {
        let head = Head::new(loss, distance);
        let size: usize = head
            .params(units)
            .iter()
            .map(|(_, s, _)| s.iter().product::<usize>())
            .sum();
        let params = random(size, 41);
        let want =
            cpu::yardstick::head((loss, distance), (&e, &labels, &params), units).expect("cpu");
        let got = kernel
            .run(gpu, &head, (&e, &labels, &params), units)
            .expect("gpu");
        let case = format!("{loss:?} {distance:?}");
        let loss_err = (got.loss - want.loss).abs() / want.loss.abs().max(1.0);
        assert!(
            loss_err <= 1e-4,
            "loss {case}: {} vs {}",
            got.loss,
            want.loss
        );
        assert!(
            relative_error(&got.scores, &want.scores) <= 1e-4,
            "scores {case}"
        );
        let de = relative_error(&got.d_embeddings, &want.d_embeddings);
        assert!(de <= 1e-4, "embedding gradient {case}");
        assert_eq!(
            got.d_params.len(),
            want.d_params.len(),
            "head gradient size {case}"
        );
        if !want.d_params.is_empty() {
            let dh = relative_error(&got.d_params, &want.d_params);
            assert!(dh <= 1e-4, "head gradient {case}");
        }
    }
}

#[test]
fn the_dense_bias_and_its_gradient_match_the_cpu() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = Bias::new(gpu);
    for (rows, columns) in [(1, 1), (7, 33), (300, 5)] {
        let y = random(rows * columns, 50);
        let b = random(columns, 51);
        let dy = random(rows * columns, 52);
        let (want_y, want_db) = cpu::yardstick::bias(&y, &b, &dy);
        let [got_y, got_db] = kernel.run(gpu, (&y, &b, &dy)).expect("gpu");
        assert!(
            relative_error(&got_y, &want_y) <= 1e-6,
            "({rows}, {columns}) add"
        );
        assert!(
            relative_error(&got_db, &want_db) <= 1e-4,
            "({rows}, {columns}) grad"
        );
    }
}

#[test]
fn dropout_keeps_one_minus_the_rate_by_seed_and_scales_as_dfdx_does() {
    let Some(gpu) = test_gpu() else { return };
    let kernel = Dropout::new(gpu);
    let n = 100_003;
    // No zeros in x, so a zero in y means dropped.
    let x: Vec<f32> = random(n, 60).iter().map(|v| v + 2.0).collect();
    let dy = random(n, 61);
    for rate in [0.1, 0.3, 0.5] {
        let [y, dx] = kernel.run(gpu, (rate, 7), &x, &dy).expect("gpu");
        let kept: Vec<bool> = y.iter().map(|v| *v != 0.0).collect();
        let fraction = kept.iter().filter(|k| **k).count() as f64 / n as f64;
        // 100,003 draws: a standard error of at most 0.0016.
        assert!(
            (fraction - (1.0 - rate)).abs() < 0.01,
            "rate {rate}: kept {fraction}"
        );
        for i in 0..n {
            // dfdx's arithmetic on the values kept: x / (1 - p) forward, dy / (1 - p) back.
            let (want_y, want_dx) = if kept[i] {
                (
                    x[i] / (1.0 - rate) as f32,
                    ((1.0 - rate).recip() as f32) * dy[i],
                )
            } else {
                (0.0, 0.0)
            };
            // WGSL lets a GPU divide within 2.5 ulp, so the check allows a few.
            let close = |a: f32, b: f32| (a - b).abs() <= 4.0 * f32::EPSILON * b.abs();
            assert!(
                close(y[i], want_y) && close(dx[i], want_dx),
                "rate {rate}, value {i}: ({}, {}) vs ({want_y}, {want_dx})",
                y[i],
                dx[i]
            );
        }
        let [again, _] = kernel.run(gpu, (rate, 7), &x, &dy).expect("gpu");
        assert_eq!(again, y, "rate {rate}: the same seed drops the same values");
        let [other, _] = kernel.run(gpu, (rate, 8), &x, &dy).expect("gpu");
        assert_ne!(other, y, "rate {rate}: another seed drops other values");
    }
}
