//! The CPU backend's ops on plain slices, as the network runs them (dfdx's product,
//! activations and optimizers, our batch norm through dfdx's tape): the yardstick the GPU
//! backend's kernels are held to, on the same inputs.

use dfdx::tensor_ops::Backward;

use super::net::{activate, dev_err, Param};
use super::ops;
use super::optim::Optimizer;
use crate::model::ModelError;

/// The CPU backend's matrix product (dfdx's, as the dense layer runs it) of row-major `a`
/// and `b`, each read transposed when asked: the yardstick the GPU's products are held to.
///
/// # Errors
/// dfdx's, for sizes it cannot multiply.
pub fn matmul(
    (a, b): (&[f32], &[f32]),
    (m, k, n): (usize, usize, usize),
    (transpose_a, transpose_b): (bool, bool),
) -> Result<Vec<f32>, ModelError> {
    use dfdx::shapes::Axes2;
    use dfdx::tensor::{Cpu, TensorFromVec};
    use dfdx::tensor_ops::{PermuteTo, TryMatMul};
    let dev = Cpu::default();
    let a = if transpose_a {
        dev.tensor_from_vec(a.to_vec(), (k, m))
            .permute::<_, Axes2<1, 0>>()
    } else {
        dev.tensor_from_vec(a.to_vec(), (m, k))
    };
    let b = if transpose_b {
        dev.tensor_from_vec(b.to_vec(), (n, k))
            .permute::<_, Axes2<1, 0>>()
    } else {
        dev.tensor_from_vec(b.to_vec(), (k, n))
    };
    Ok(a.try_matmul(b).map_err(dev_err)?.as_vec())
}

/// The CPU backend's activation of `x` and its gradient for the output gradient `dy`
/// (dfdx's, through its tape, as the network runs them): the yardstick for the GPU's.
pub fn activation(
    activation: crate::model::Activation,
    x: &[f32],
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    use dfdx::tensor::{Cpu, TensorFromVec, Trace};
    use dfdx::tensor_ops::SumTo;
    let dev = Cpu::default();
    let n = x.len();
    let x = dev.tensor_from_vec(x.to_vec(), (n,));
    let y = activate(x.leaky_trace(), activation);
    let values = y.as_vec();
    let loss = (y * dev.tensor_from_vec(dy.to_vec(), (n,))).sum::<(), _>();
    let grads = loss.backward();
    (values, grads.get(&x).as_vec())
}

/// The CPU backend's batch normalisation of NCHW `x` (shape `(n, c, h, w)`) and its
/// gradients for output gradient `gy`, through dfdx's tape as the network runs it: returns
/// `(y, gx, dgamma then dbeta)`, and moves `running` in training. The GPU's yardstick.
///
/// # Errors
/// The op's, for mismatched channels.
pub fn batch_norm(
    shape: ops::Shape4,
    (x, gamma, beta, gy): (&[f32], &[f32], &[f32], &[f32]),
    running: &mut ops::RunningStats<f32>,
    (train, momentum, eps): (bool, f32, f32),
) -> Result<[Vec<f32>; 3], ModelError> {
    use dfdx::tensor::{Cpu, TensorFromVec, Trace};
    use dfdx::tensor_ops::SumTo;
    let dev = Cpu::default();
    let c = shape.1;
    let xt = dev.tensor_from_vec(x.to_vec(), shape);
    let gt = dev.tensor_from_vec(gamma.to_vec(), (c,));
    let bt = dev.tensor_from_vec(beta.to_vec(), (c,));
    let mode = if train {
        ops::BatchNormMode::Train {
            stats: running,
            momentum,
        }
    } else {
        ops::BatchNormMode::Infer(running)
    };
    let y = ops::try_batch_norm2d(
        xt.leaky_trace(),
        gt.leaky_trace(),
        bt.leaky_trace(),
        mode,
        eps,
    )?;
    let values = y.as_vec();
    let loss = (y * dev.tensor_from_vec(gy.to_vec(), shape)).sum::<(), _>();
    let grads = loss.backward();
    let mut params = grads.get(&gt).as_vec();
    params.extend(grads.get(&bt).as_vec());
    Ok([values, grads.get(&xt).as_vec(), params])
}

/// `grads.len()` steps of the CPU backend's optimizer on one parameter from step 0, the L2
/// penalty's gradient `2 * l2 * w` added to each gradient by the optimizer, as in training:
/// the parameter and the `m1`, `m2` buffers after them. The GPU's yardstick.
///
/// # Errors
/// dfdx's.
pub fn optimizer_steps(
    (config, l2): (crate::model::OptimizerConfig, f32),
    param: &[f32],
    grads: &[Vec<f32>],
) -> Result<[Vec<f32>; 3], ModelError> {
    use dfdx::tensor::{Cpu, Gradients, TensorFromVec};
    let dev = Cpu::default();
    let mut params = vec![Param {
        name: "p".into(),
        shape: vec![param.len()],
        kind: crate::model::param::ParamKind::DenseWeight,
        value: dev.tensor_from_vec(param.to_vec(), (param.len(),)),
    }];
    // A dense kernel, so the optimizer adds the L2 penalty's gradient `2 * l2 * w`.
    let l2 = crate::model::L2Config {
        conv: 0.0,
        dense: f64::from(l2),
    };
    let mut optimizer = Optimizer::new(config, l2);
    for grad in grads {
        let mut store: Gradients<f32, Cpu> = Gradients::leaky();
        let g = store.get_or_alloc_mut(&params[0].value).map_err(dev_err)?;
        g.copy_from_slice(grad);
        optimizer.update(&mut params, &mut store)?;
    }
    let state = optimizer.export(&params)?;
    let buffer = |name: &str| {
        state
            .tensors
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    };
    Ok([params[0].value.as_vec(), buffer("m1/p"), buffer("m2/p")])
}

/// The CPU head on embeddings `e` (`2 * pairs` rows of `units`: left twins, then right)
/// with the head's weights then bias in `head` (empty for the contrastive loss): the mean
/// loss, the scores, and the gradients of `e` and of the head, through dfdx's tape as the
/// network runs them. The GPU's yardstick.
///
/// # Errors
/// dfdx's.
pub fn head(
    (loss, distance): (crate::model::Loss, crate::model::Distance),
    (e, labels, head): (&[f32], &[f32], &[f32]),
    units: usize,
) -> Result<crate::model::head::HeadOutput, ModelError> {
    use crate::model::{ConvLayer, DenseLayer, L2Config, ModelConfig};
    use dfdx::tensor::{TensorFromVec, Trace};
    let config = ModelConfig {
        conv: vec![ConvLayer {
            filters: 1,
            kernel: 1,
            pool: false,
        }],
        dense: DenseLayer {
            units,
            ..DenseLayer::default()
        },
        l2: L2Config {
            conv: 0.0,
            dense: 0.0,
        },
        ..ModelConfig::default()
    };
    let mut net = super::net::SiameseNet::new(&config, distance, loss, (1, 1), 0)?;
    let first = net
        .params
        .iter()
        .position(|p| p.name == "head.weight")
        .unwrap_or(net.params.len());
    let mut offset = 0;
    for p in net.params.iter_mut().skip(first) {
        let n = p.shape.iter().product::<usize>();
        p.value.copy_from(&head[offset..offset + n]);
        offset += n;
    }
    let pairs = labels.len();
    let e0 = net.device().tensor_from_vec(e.to_vec(), (2 * pairs, units));
    let out = net.head(e0.leaky_trace(), labels, first)?;
    let grads = out.loss.backward();
    let mut dhead = Vec::new();
    for p in net.params.iter().skip(first) {
        dhead.extend(grads.get(&p.value).as_vec());
    }
    Ok(crate::model::head::HeadOutput {
        loss: out.data_loss,
        scores: out.scores,
        d_embeddings: grads.get(&e0).as_vec(),
        d_params: dhead,
    })
}

/// The CPU dense layer's bias on a `(rows, columns)` matrix `y` (dfdx's broadcast add, as
/// the network runs it) and its gradient for `dy`: `(y + bias, dbias)`.
pub fn bias(y: &[f32], bias: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    use dfdx::shapes::Axis;
    use dfdx::tensor::{Cpu, TensorFromVec, Trace};
    use dfdx::tensor_ops::{BroadcastTo, SumTo};
    let dev = Cpu::default();
    let (columns, rows) = (bias.len(), y.len() / bias.len().max(1));
    let b = dev.tensor_from_vec(bias.to_vec(), (columns,));
    let out = b
        .leaky_trace()
        .broadcast_like::<_, Axis<0>>(&(rows, columns))
        + dev.tensor_from_vec(y.to_vec(), (rows, columns));
    let values = out.as_vec();
    let loss = (out * dev.tensor_from_vec(dy.to_vec(), (rows, columns))).sum::<(), _>();
    let grads = loss.backward();
    (values, grads.get(&b).as_vec())
}
