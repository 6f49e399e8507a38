//! The CPU backend: the Siamese network on dfdx, with the conv, pool and batch-norm ops that
//! dfdx 0.13 lacks on stable Rust ([`ops`]), dfdx's optimizer kernels ([`optim`]), and the
//! weight average kept as host tensors. dfdx's `Cpu` device is named only in this module.
//!
//! dfdx's own convolution and pooling only exist behind its `nightly` feature, which does not
//! build here, so [`ops`] implements them as custom autodiff operations that plug into dfdx's
//! tape and compose with its elementwise ops, matmul and optimizers.

pub mod head;
pub mod net;
pub mod ops;
pub mod optim;
mod state;

#[cfg(test)]
mod tests;

use std::time::Instant;

use dfdx::tensor_ops::Backward;

use super::backend::{ModelError, NetSpec, Network, OptimizerState, Step, Tensors, Weights};
use net::SiameseNet;
use optim::Optimizer;

/// The weight average, as host tensors in layout order, and the network that carries it,
/// built when first used after an update.
struct Average {
    tensors: Tensors,
    net: Option<SiameseNet>,
}

/// A [`Network`] on the CPU.
pub struct CpuNetwork {
    spec: NetSpec,
    net: SiameseNet,
    optimizer: Optimizer,
    average: Option<Average>,
}

impl CpuNetwork {
    /// Builds and initialises the network.
    ///
    /// # Errors
    /// None today; see [`SiameseNet::new`].
    pub fn new(spec: NetSpec) -> Result<Self, ModelError> {
        let net = SiameseNet::new(&spec.model, spec.distance, spec.loss, spec.input, spec.seed)?;
        let optimizer = Optimizer::new(spec.optimizer);
        Ok(Self {
            spec,
            net,
            optimizer,
            average: None,
        })
    }

    /// The network carrying `which` weights.
    fn net_for(&mut self, which: Weights) -> Result<&SiameseNet, ModelError> {
        match which {
            Weights::Live => Ok(&self.net),
            Weights::Average => {
                let live = &self.net;
                let average = self.average.as_mut().ok_or(ModelError::NoAverage)?;
                Ok(average
                    .net
                    .get_or_insert_with(|| state::with_tensors(live, &average.tensors)))
            }
        }
    }
}

impl Network for CpuNetwork {
    fn spec(&self) -> &NetSpec {
        &self.spec
    }

    fn parameter_count(&self) -> usize {
        self.net.parameter_count()
    }

    fn train_step(
        &mut self,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<Step, ModelError> {
        let t0 = Instant::now();
        let out = self.net.forward_train(left, right, labels)?;
        let t1 = Instant::now();
        let mut grads = out.loss.backward();
        let t2 = Instant::now();
        self.optimizer.update(&mut self.net.params, &mut grads)?;
        let t3 = Instant::now();
        Ok(Step {
            loss: out.data_loss,
            scores: out.scores,
            phases: vec![
                ("forward", t1 - t0),
                ("backward", t2 - t1),
                ("update", t3 - t2),
            ],
        })
    }

    fn steps(&self) -> u64 {
        self.optimizer.steps().max(0) as u64
    }

    fn evaluate(
        &mut self,
        weights: Weights,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<(f32, Vec<f32>), ModelError> {
        self.net_for(weights)?.evaluate(left, right, labels)
    }

    fn embed(&mut self, weights: Weights, pixels: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.net_for(weights)?.embed(pixels)
    }

    fn start_average(&mut self) -> Result<(), ModelError> {
        self.average = Some(Average {
            tensors: state::tensors_of(&self.net),
            net: None,
        });
        Ok(())
    }

    fn update_average(&mut self, decay: f32) -> Result<(), ModelError> {
        let average = self.average.as_mut().ok_or(ModelError::NoAverage)?;
        let live = state::tensors_of(&self.net);
        for ((_, _, avg), (_, _, w)) in average.tensors.iter_mut().zip(&live) {
            for (a, &x) in avg.iter_mut().zip(w) {
                *a = decay * *a + (1.0 - decay) * x;
            }
        }
        average.net = None;
        Ok(())
    }

    fn weights(&self, which: Weights) -> Result<Tensors, ModelError> {
        match which {
            Weights::Live => Ok(state::tensors_of(&self.net)),
            Weights::Average => self
                .average
                .as_ref()
                .map(|a| a.tensors.clone())
                .ok_or(ModelError::NoAverage),
        }
    }

    fn set_weights(&mut self, which: Weights, tensors: &Tensors) -> Result<(), ModelError> {
        match which {
            Weights::Live => state::load(&mut self.net, tensors),
            Weights::Average => {
                // Checked against the network's layout, then kept in layout order.
                let mut net = self.net.clone();
                state::load(&mut net, tensors)?;
                self.average = Some(Average {
                    tensors: state::tensors_of(&net),
                    net: Some(net),
                });
                Ok(())
            }
        }
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState, ModelError> {
        self.optimizer.export(&self.net.params)
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<(), ModelError> {
        self.optimizer.import(&self.net.params, state)
    }
}

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
    Ok(a.try_matmul(b).map_err(net::dev_err)?.as_vec())
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
    let y = net::activate(x.leaky_trace(), activation);
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
/// penalty's gradient `2 * l2 * w` added to each gradient as the loss's penalty term adds it:
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
    let mut params = vec![net::Param {
        name: "p".into(),
        shape: vec![param.len()],
        kind: crate::model::param::ParamKind::DenseWeight,
        value: dev.tensor_from_vec(param.to_vec(), (param.len(),)),
    }];
    let mut optimizer = Optimizer::new(config);
    for grad in grads {
        let w = params[0].value.as_vec();
        let mut store: Gradients<f32, Cpu> = Gradients::leaky();
        let g = store
            .get_or_alloc_mut(&params[0].value)
            .map_err(net::dev_err)?;
        for ((gi, &d), &wi) in g.iter_mut().zip(grad).zip(&w) {
            *gi = d + 2.0 * l2 * wi;
        }
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
