//! The network as a whole: parameter count, gradients reaching every parameter, learning,
//! determinism and checkpoint round trips.

use dfdx::tensor::AsArray;
use dfdx::tensor_ops::Backward;

use super::net::SiameseNet;
use super::optim::Optimizer;
use super::state::{load, tensors_of};
use crate::model::{ConvLayer, DenseLayer, Distance, Loss, ModelConfig, OptimizerConfig};
use crate::train::checkpoint::{read, write};

fn small() -> ModelConfig {
    ModelConfig {
        conv: vec![
            ConvLayer {
                filters: 4,
                kernel: 3,
                pool: true,
            },
            ConvLayer {
                filters: 6,
                kernel: 3,
                pool: false,
            },
        ],
        dense: DenseLayer {
            units: 16,
            ..DenseLayer::default()
        },
        ..ModelConfig::default()
    }
}

/// A batch where same pairs share a bright square's position and different pairs do not.
fn batch(pairs: usize, side: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = side * side;
    let (mut left, mut right, mut labels) =
        (vec![0.1; pairs * n], vec![0.1; pairs * n], Vec::new());
    for i in 0..pairs {
        let same = i % 2 == 0;
        let (a, b) = (i % 3, if same { i % 3 } else { (i + 1) % 3 });
        for (img, pos) in [(&mut left, a), (&mut right, b)] {
            for y in 0..3 {
                for x in 0..3 {
                    img[i * n + (pos * 3 + y) * side + pos * 3 + x] = 0.9;
                }
            }
        }
        labels.push(if same { 1.0 } else { 0.0 });
    }
    (left, right, labels)
}

#[test]
fn the_seed_model_has_the_documented_parameter_count() {
    // The seed report's best model (Keras summary): 8,440,857 trainable parameters.
    let net = SiameseNet::new(
        &ModelConfig::default(),
        Distance::L1,
        Loss::BinaryCrossEntropy,
        (125, 125),
        1,
    )
    .expect("builds");
    assert_eq!(net.parameter_count(), 8_440_857);
}

#[test]
fn every_parameter_gets_a_gradient_with_every_head() {
    let heads = [
        (Distance::L1, Loss::BinaryCrossEntropy),
        (Distance::Euclidean, Loss::BinaryCrossEntropy),
        (Distance::Cosine, Loss::BinaryCrossEntropy),
        (Distance::Euclidean, Loss::Contrastive { margin: 1.0 }),
        (Distance::L1, Loss::Contrastive { margin: 2.0 }),
        (Distance::Cosine, Loss::Contrastive { margin: 0.5 }),
    ];
    let (l, r, y) = batch(6, 12);
    for (distance, loss) in heads {
        let mut net = SiameseNet::new(&small(), distance, loss, (12, 12), 3).expect("builds");
        let out = net.forward_train(&l, &r, &y).expect("forward");
        assert!(out.loss.array().is_finite(), "{distance:?} {loss:?}");
        assert_eq!(out.scores.len(), 6);
        let mut grads = out.loss.backward();
        for p in &net.params {
            let g = grads.get_or_alloc_mut(&p.value).expect("grad");
            let norm: f32 = g.iter().map(|v| v * v).sum();
            assert!(
                norm > 0.0 && norm.is_finite(),
                "{} got no gradient with {distance:?} {loss:?}",
                p.name
            );
        }
    }
}

fn train_steps(seed: u64, steps: usize) -> (SiameseNet, Vec<f32>) {
    train_steps_with(small(), 12, seed, steps)
}

/// `steps` Adam steps of `config` on `side` x `side` inputs, 12 pairs a batch, without L2.
fn train_steps_with(
    mut config: ModelConfig,
    side: usize,
    seed: u64,
    steps: usize,
) -> (SiameseNet, Vec<f32>) {
    config.l2.conv = 0.0;
    config.l2.dense = 0.0;
    let mut net = SiameseNet::new(
        &config,
        Distance::L1,
        Loss::BinaryCrossEntropy,
        (side, side),
        seed,
    )
    .expect("builds");
    let mut opt = Optimizer::new(
        OptimizerConfig::Adam {
            lr: 1e-2,
            decay: 0.0,
        },
        config.l2,
    );
    let (l, r, y) = batch(12, side);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let out = net.forward_train(&l, &r, &y).expect("forward");
        losses.push(out.data_loss);
        let mut grads = out.loss.backward();
        opt.update(&mut net.params, &mut grads).expect("step");
    }
    (net, losses)
}

#[test]
fn the_loss_falls_on_a_learnable_batch() {
    let (_, losses) = train_steps(5, 40);
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(last < 0.5 * first, "loss went {first} -> {last}");
}

#[test]
fn the_same_seed_gives_the_same_weights_on_cpu() {
    let (a, _) = train_steps(9, 5);
    let (b, _) = train_steps(9, 5);
    let (c, _) = train_steps(10, 5);
    for ((pa, pb), pc) in a.params.iter().zip(&b.params).zip(&c.params) {
        assert_eq!(pa.value.as_vec(), pb.value.as_vec(), "{}", pa.name);
        if pa.shape.len() > 1 {
            assert_ne!(
                pa.value.as_vec(),
                pc.value.as_vec(),
                "{} ignores the seed",
                pa.name
            );
        }
    }
}

/// As above with a dense layer big enough that its three products run threaded
/// (24 x 486 x 2048 multiply-adds each): the bits must not depend on the threads.
#[test]
fn the_same_seed_gives_the_same_weights_with_threaded_dense_products() {
    let mut config = small();
    config.dense.units = 2048;
    let (a, _) = train_steps_with(config.clone(), 24, 9, 3);
    let (b, _) = train_steps_with(config, 24, 9, 3);
    let dense = a.params.iter().find(|p| p.name == "dense.weight");
    assert_eq!(dense.map(|p| p.shape.clone()), Some(vec![486, 2048]));
    for (pa, pb) in a.params.iter().zip(&b.params) {
        assert!(
            pa.value.as_vec() == pb.value.as_vec(),
            "{} differs between two identical runs",
            pa.name
        );
    }
}

#[test]
fn a_reloaded_checkpoint_reproduces_the_outputs_exactly() {
    let (net, _) = train_steps(2, 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("w.safetensors");
    write(&path, &tensors_of(&net), None).expect("write");
    let mut fresh = SiameseNet::new(
        &net_config(),
        Distance::L1,
        Loss::BinaryCrossEntropy,
        (12, 12),
        77,
    )
    .expect("builds");
    load(&mut fresh, &read(&path).expect("read")).expect("load");
    let (l, r, y) = batch(5, 12);
    let a = net.evaluate(&l, &r, &y).expect("eval");
    let b = fresh.evaluate(&l, &r, &y).expect("eval");
    assert_eq!(a.1, b.1);
    assert_eq!(a.0.to_bits(), b.0.to_bits());
    // A checkpoint of another shape is refused with a clear error.
    let mut other = SiameseNet::new(
        &ModelConfig {
            dense: DenseLayer {
                units: 8,
                ..DenseLayer::default()
            },
            ..small()
        },
        Distance::L1,
        Loss::BinaryCrossEntropy,
        (12, 12),
        1,
    )
    .expect("builds");
    let err = load(&mut other, &read(&path).expect("read")).expect_err("mismatch");
    assert!(err.to_string().contains("dense.weight"), "{err}");
}

fn net_config() -> ModelConfig {
    let mut config = small();
    config.l2.conv = 0.0;
    config.l2.dense = 0.0;
    config
}

#[test]
fn batch_norm_trains_its_parameters_and_its_running_stats_survive_a_checkpoint() {
    let config = ModelConfig {
        batch_norm: true,
        ..net_config()
    };
    let mut net = SiameseNet::new(&config, Distance::L1, Loss::BinaryCrossEntropy, (12, 12), 4)
        .expect("builds");
    let (l, r, y) = batch(6, 12);
    let out = net.forward_train(&l, &r, &y).expect("forward");
    let mut grads = out.loss.backward();
    for p in &net.params {
        let g = grads.get_or_alloc_mut(&p.value).expect("grad");
        assert!(g.iter().any(|v| *v != 0.0), "{} got no gradient", p.name);
    }
    assert!(net.params.iter().any(|p| p.name == "conv1.bn.gamma"));
    assert!(
        net.bn_stats[0].mean.iter().any(|m| *m != 0.0),
        "running mean moved in training"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bn.safetensors");
    write(&path, &tensors_of(&net), None).expect("write");
    let mut fresh = SiameseNet::new(
        &config,
        Distance::L1,
        Loss::BinaryCrossEntropy,
        (12, 12),
        99,
    )
    .expect("builds");
    load(&mut fresh, &read(&path).expect("read")).expect("load");
    assert_eq!(
        net.evaluate(&l, &r, &y).expect("eval").1,
        fresh.evaluate(&l, &r, &y).expect("eval").1
    );
}

/// The optimizer's L2 weight decay updates a kernel exactly as the gradient of a taped
/// penalty `l2 * sum(w^2)` did, for every optimizer: the penalty no longer needs the tape.
#[test]
fn the_optimizers_l2_decay_matches_a_taped_penalty_to_the_bit() {
    use dfdx::prelude::{Cpu, OwnedTape, Rank0, SumTo, TensorFromVec};

    use super::net::Param;
    use crate::model::layout::ParamKind;
    use crate::model::L2Config;

    let dev = Cpu::default();
    let n = 257;
    let values = |seed: f32| -> Vec<f32> { (0..n).map(|i| (i as f32 * seed).sin()).collect() };
    let r = dev.tensor_from_vec(values(0.37), (n,));
    let l2 = 3e-3;
    let kernel = |v: Vec<f32>| Param {
        name: "dense.weight".into(),
        shape: vec![n],
        kind: ParamKind::DenseWeight,
        value: dev.tensor_from_vec(v, (n,)),
    };
    for config in [
        OptimizerConfig::Adam {
            lr: 1e-2,
            decay: 0.0,
        },
        OptimizerConfig::RmsProp {
            lr: 1e-3,
            decay: 1e-2,
        },
        OptimizerConfig::Sgd {
            lr: 1e-2,
            momentum: 0.9,
            decay: 0.0,
        },
    ] {
        let (mut taped, mut decayed) = (vec![kernel(values(1.3))], vec![kernel(values(1.3))]);
        let mut by_tape = Optimizer::new(
            config,
            L2Config {
                conv: 0.0,
                dense: 0.0,
            },
        );
        let mut by_decay = Optimizer::new(
            config,
            L2Config {
                conv: 0.0,
                dense: l2,
            },
        );
        for _ in 0..3 {
            let w = taped[0].value.retaped::<OwnedTape<f32, Cpu>>();
            let data = (w * r.clone()).sum::<Rank0, _>();
            let w = taped[0].value.retaped::<OwnedTape<f32, Cpu>>();
            let penalty = w.square().sum::<Rank0, _>() * l2 as f32;
            let mut grads = (data + penalty).backward();
            by_tape.update(&mut taped, &mut grads).expect("step");
            let w = decayed[0].value.retaped::<OwnedTape<f32, Cpu>>();
            let mut grads = (w * r.clone()).sum::<Rank0, _>().backward();
            by_decay.update(&mut decayed, &mut grads).expect("step");
        }
        let bits =
            |p: &[Param]| -> Vec<u32> { p[0].value.as_vec().iter().map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&taped), bits(&decayed), "{config:?}");
    }
}
