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
pub mod yardstick;

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
        let optimizer = Optimizer::new(spec.optimizer, spec.model.l2);
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

    fn device_label(&self) -> String {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        // The path decides the last bits of every result: a resumed run that should repeat
        // bit for bit needs the same one.
        let isa = ops::isa::Isa::current().name();
        format!("cpu ({threads} threads, {isa})")
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
                ("forward".into(), t1 - t0),
                ("backward".into(), t2 - t1),
                ("update".into(), t3 - t2),
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
