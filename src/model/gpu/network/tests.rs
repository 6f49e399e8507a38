//! The GPU network against the CPU network: losses over 20 steps, inference on both weight
//! copies, the weight average, state moved across backends both ways, and repeatability.
//! Skips (saying why) without an adapter unless `TWINFLOW_REQUIRE_GPU=1`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::GpuNetwork;
use crate::model::backend::{NetSpec, Network, Weights};
use crate::model::cpu::CpuNetwork;
use crate::model::gpu::tests::test_gpu;
use crate::model::{
    Activation, ConvLayer, DenseLayer, Distance, DropoutSchedule, Loss, ModelConfig,
    OptimizerConfig, Tensors,
};

const SIDE: usize = 14;

fn spec(loss: Loss, distance: Distance, optimizer: OptimizerConfig, batch_norm: bool) -> NetSpec {
    let layer = |filters, kernel, pool| ConvLayer {
        filters,
        kernel,
        pool,
    };
    NetSpec {
        model: ModelConfig {
            conv: vec![layer(3, 4, true), layer(5, 3, false)],
            dense: DenseLayer {
                units: 7,
                activation: Activation::Sigmoid,
            },
            batch_norm,
            ..ModelConfig::default()
        },
        loss,
        distance,
        optimizer,
        input: (SIDE, SIDE),
        seed: 11,
    }
}

/// `pairs` random pairs, half of them labelled same.
fn batch(pairs: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = pairs * SIDE * SIDE;
    let left = (0..n).map(|_| rng.gen_range(0.0..1.0)).collect();
    let right = (0..n).map(|_| rng.gen_range(0.0..1.0)).collect();
    let labels = (0..pairs).map(|i| (i % 2) as f32).collect();
    (left, right, labels)
}

fn relative(got: f32, want: f32) -> f32 {
    (got - want).abs() / want.abs().max(1e-6)
}

/// `max |a - b| / max |b|` over every tensor, naming the worst.
fn worst(a: &Tensors, b: &Tensors) -> (f32, String) {
    assert_eq!(a.len(), b.len(), "as many tensors");
    let mut out = (0.0f32, String::new());
    for ((name, sa, va), (nb, sb, vb)) in a.iter().zip(b) {
        assert_eq!((name, sa), (nb, sb), "the same layout");
        let scale = vb.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let diff = va
            .iter()
            .zip(vb)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        if diff / scale > out.0 {
            out = (diff / scale, name.clone());
        }
    }
    out
}

fn heads() -> Vec<NetSpec> {
    let adam = OptimizerConfig::Adam {
        lr: 1e-3,
        decay: 0.0,
    };
    vec![
        spec(Loss::BinaryCrossEntropy, Distance::L1, adam, true),
        spec(
            Loss::Contrastive { margin: 1.0 },
            Distance::Euclidean,
            OptimizerConfig::Sgd {
                lr: 1e-2,
                momentum: 0.9,
                decay: 1e-3,
            },
            false,
        ),
        spec(
            Loss::BinaryCrossEntropy,
            Distance::Cosine,
            OptimizerConfig::RmsProp {
                lr: 1e-3,
                decay: 0.0,
            },
            true,
        ),
    ]
}

#[test]
fn twenty_gpu_steps_track_the_cpu_losses_within_1e_3() {
    if test_gpu().is_none() {
        return;
    }
    for spec in heads() {
        let mut cpu = CpuNetwork::new(spec.clone()).expect("cpu");
        let mut gpu = GpuNetwork::new(spec.clone()).expect("gpu");
        assert_eq!(gpu.parameter_count(), cpu.parameter_count());
        for step in 0..20 {
            let (l, r, y) = batch(5, step);
            let want = cpu.train_step(&l, &r, &y).expect("cpu step");
            let got = gpu.train_step(&l, &r, &y).expect("gpu step");
            let err = relative(got.loss, want.loss);
            assert!(
                err <= 1e-3,
                "{:?}/{:?} step {step}: gpu loss {} vs cpu {} ({err})",
                spec.loss,
                spec.distance,
                got.loss,
                want.loss
            );
            for (g, w) in got.scores.iter().zip(&want.scores) {
                assert!(
                    (g - w).abs() <= 1e-3 * w.abs().max(1.0),
                    "scores {g} vs {w}"
                );
            }
        }
        // The weights are not compared: a conv bias before batch norm has a gradient of
        // rounding noise, which Adam scales to full steps of either sign on each backend.
        assert_eq!(gpu.steps(), 20);
    }
}

#[test]
fn inference_and_the_weight_average_match_the_cpu() {
    if test_gpu().is_none() {
        return;
    }
    let spec = heads().remove(0);
    let mut cpu = CpuNetwork::new(spec.clone()).expect("cpu");
    let mut gpu = GpuNetwork::new(spec).expect("gpu");
    let (l, r, y) = batch(4, 1);
    cpu.train_step(&l, &r, &y).expect("step");
    cpu.start_average().expect("average");
    let first = cpu.weights(Weights::Live).expect("w");
    cpu.train_step(&l, &r, &y).expect("step");
    cpu.update_average(0.9).expect("average");
    // The GPU starts its average at the CPU's first weights and moves it towards the second.
    gpu.set_weights(Weights::Live, &first).expect("load");
    gpu.start_average().expect("average");
    gpu.set_weights(Weights::Live, &cpu.weights(Weights::Live).expect("w"))
        .expect("load");
    gpu.update_average(0.9).expect("average");
    for which in [Weights::Live, Weights::Average] {
        let (err, name) = worst(
            &gpu.weights(which).expect("gpu"),
            &cpu.weights(which).expect("cpu"),
        );
        assert!(err <= 1e-6, "{which:?}: {name} differs by {err}");
        // More pairs than one inference chunk, an odd count.
        let (l, r, y) = batch(67, 2);
        let (want_loss, want) = cpu.evaluate(which, &l, &r, &y).expect("cpu");
        let (got_loss, got) = gpu.evaluate(which, &l, &r, &y).expect("gpu");
        assert!(
            relative(got_loss, want_loss) <= 1e-4,
            "{got_loss} vs {want_loss}"
        );
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-4, "scores {g} vs {w}");
        }
        let images = &l[..5 * SIDE * SIDE];
        let want = cpu.embed(which, images).expect("cpu");
        let got = gpu.embed(which, images).expect("gpu");
        assert_eq!(got.len(), 5);
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!((g - w).abs() <= 1e-4, "embeddings {g} vs {w}");
        }
    }
}

#[test]
fn weights_and_optimizer_state_move_between_the_backends_both_ways() {
    if test_gpu().is_none() {
        return;
    }
    let spec = heads().remove(2);
    let (l, r, y) = batch(4, 3);
    let mut gpu = GpuNetwork::new(spec.clone()).expect("gpu");
    let mut cpu = CpuNetwork::new(spec.clone()).expect("cpu");
    for _ in 0..3 {
        gpu.train_step(&l, &r, &y).expect("gpu step");
    }
    // GPU -> CPU: the CPU continues where the GPU stopped.
    cpu.set_weights(Weights::Live, &gpu.weights(Weights::Live).expect("w"))
        .expect("cpu loads the gpu's weights");
    cpu.set_optimizer_state(&gpu.optimizer_state().expect("state"))
        .expect("cpu loads the gpu's optimizer");
    assert_eq!(cpu.steps(), 3);
    let (l2, r2, y2) = batch(4, 4);
    let on_cpu = cpu.train_step(&l2, &r2, &y2).expect("cpu step");
    let on_gpu = gpu.train_step(&l2, &r2, &y2).expect("gpu step");
    assert!(relative(on_gpu.loss, on_cpu.loss) <= 1e-4);
    // CPU -> GPU: a fresh GPU network takes the CPU's state and steps alike.
    let mut back = GpuNetwork::new(spec).expect("gpu");
    back.set_weights(Weights::Live, &cpu.weights(Weights::Live).expect("w"))
        .expect("gpu loads the cpu's weights");
    back.set_optimizer_state(&cpu.optimizer_state().expect("state"))
        .expect("gpu loads the cpu's optimizer");
    assert_eq!(back.steps(), 4);
    let (l3, r3, y3) = batch(4, 5);
    let on_cpu = cpu.train_step(&l3, &r3, &y3).expect("cpu step");
    let on_gpu = back.train_step(&l3, &r3, &y3).expect("gpu step");
    assert!(relative(on_gpu.loss, on_cpu.loss) <= 1e-4);
    let (err, name) = worst(
        &back.weights(Weights::Live).expect("gpu"),
        &cpu.weights(Weights::Live).expect("cpu"),
    );
    assert!(err <= 1e-4, "{name} differs by {err}");
    let mut state = cpu.optimizer_state().expect("cpu state");
    state.tensors.retain(|(n, _, _)| !n.starts_with("m2/"));
    let err = back
        .set_optimizer_state(&state)
        .expect_err("a missing buffer");
    assert!(err.to_string().contains("m2/conv0.weight"), "{err}");
    let mut weights = cpu.weights(Weights::Live).expect("w");
    weights[0].1 = vec![1, 2];
    let err = back
        .set_weights(Weights::Live, &weights)
        .expect_err("a misshapen kernel");
    assert!(err.to_string().contains("conv0.weight"), "{err}");
}

#[test]
fn gpu_training_repeats_bit_for_bit_dropout_included() {
    if test_gpu().is_none() {
        return;
    }
    let mut spec = heads().remove(0);
    spec.model.dropout = Some(DropoutSchedule {
        first: 0.3,
        step: 0.1,
        last: 0.1,
    });
    let run = || {
        let mut net = GpuNetwork::new(spec.clone()).expect("gpu");
        let losses: Vec<f32> = (0..3)
            .map(|s| {
                let (l, r, y) = batch(4, s);
                net.train_step(&l, &r, &y).expect("step").loss
            })
            .collect();
        (losses, net.weights(Weights::Live).expect("w"))
    };
    let (a, b) = (run(), run());
    assert_eq!(a.0, b.0, "losses repeat");
    assert!(a.1 == b.1, "weights repeat bit for bit");
    let (l, r, y) = batch(4, 0);
    let no_dropout = GpuNetwork::new(heads().remove(0))
        .expect("gpu")
        .train_step(&l, &r, &y)
        .expect("step")
        .loss;
    assert_ne!(a.0[0], no_dropout, "dropout changes the first step's loss");
}

#[test]
fn a_batch_too_large_for_the_adapter_fails_in_prepare_naming_the_layer() {
    if test_gpu().is_none() {
        return;
    }
    let spec = spec(
        Loss::BinaryCrossEntropy,
        Distance::L1,
        OptimizerConfig::default(),
        false,
    );
    let mut gpu = GpuNetwork::new(spec).expect("gpu");
    let limit = gpu.gpu.limits.max_storage_buffer_binding_size;
    // conv0's output: 3 maps of 11 x 11 per image, 2 images per pair, 4 bytes each; the
    // smallest batch over the limit, whose input (14 x 14 per image) still fits.
    let per_pair = 2 * 3 * 11 * 11 * 4;
    let pairs = (limit / per_pair + 1) as usize;
    let err = gpu.prepare(pairs).expect_err("over the limit");
    let text = crate::errors::chain(&err);
    assert!(
        text.contains("conv0") && text.contains("over the adapter's limit"),
        "{text}"
    );
}
