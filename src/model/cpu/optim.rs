//! Optimizers over the network's flat parameters, using dfdx's update kernels per tensor.
//!
//! dfdx's `Optimizer` trait needs compile-time-shaped modules, so this keeps the moment
//! buffers itself (one dfdx `Gradients` store per buffer kind, keyed by parameter id) and
//! calls `AdamConfig::try_update` and its siblings on each parameter. Learning-rate decay
//! follows Keras' legacy `decay`: `lr / (1 + decay * step)`.
//!
//! The L2 penalties (Keras' `kernel_regularizer`, `l2 * sum(w^2)` per kernel) are applied
//! here, as dfdx's coupled weight decay `g + 2 l2 w`, instead of as taped ops on the loss:
//! the gradient is the same to the bit (`(w + w) * l2` and `(2 l2) * w` round the same
//! product, and the two terms are added in either order), while the taped penalty squared,
//! summed and back-propagated the seed's 8.4M dense weights serially on the main thread
//! through three temporary 34 MB buffers: ~100 ms a step, whatever the batch size.

use dfdx::tensor::{Cpu, Gradients};
use dfdx::tensor_ops::{AdamConfig, Momentum, RMSpropConfig, SgdConfig, WeightDecay};

use super::net::{dev_err as err, Param};
use crate::model::backend::OptimizerState;
use crate::model::error::ModelError;
use crate::model::layout::ParamKind;
use crate::model::{L2Config, OptimizerConfig};

/// An optimizer with its state.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    l2: L2Config,
    step: i32,
    first: Gradients<f32, Cpu>,
    second: Gradients<f32, Cpu>,
    third: Gradients<f32, Cpu>,
}

impl Optimizer {
    /// A fresh optimizer that also applies the L2 penalties `l2` on the kernels.
    pub fn new(config: OptimizerConfig, l2: L2Config) -> Self {
        Self {
            config,
            l2,
            step: 0,
            first: Gradients::leaky(),
            second: Gradients::leaky(),
            third: Gradients::leaky(),
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i32 {
        self.step
    }

    /// The learning rate the next step uses.
    pub fn current_lr(&self) -> f64 {
        self.config.lr_at(self.step)
    }

    /// The optimizer's buffers and step, for a checkpoint.
    ///
    /// # Errors
    /// dfdx allocation failures.
    pub fn export(&mut self, params: &[Param]) -> Result<OptimizerState, ModelError> {
        let mut tensors = Vec::new();
        for (kind, store) in [
            ("m1", &mut self.first),
            ("m2", &mut self.second),
            ("m3", &mut self.third),
        ] {
            for p in params {
                let buf = store.get_or_alloc_mut(&p.value).map_err(err)?;
                tensors.push((format!("{kind}/{}", p.name), p.shape.clone(), buf.to_vec()));
            }
        }
        Ok(OptimizerState {
            step: self.step,
            tensors,
        })
    }

    /// Restores what [`Optimizer::export`] saved.
    ///
    /// # Errors
    /// A buffer missing or of the wrong size.
    pub fn import(&mut self, params: &[Param], state: &OptimizerState) -> Result<(), ModelError> {
        self.step = state.step;
        for (kind, store) in [
            ("m1", &mut self.first),
            ("m2", &mut self.second),
            ("m3", &mut self.third),
        ] {
            for p in params {
                let name = format!("{kind}/{}", p.name);
                let found = state.tensors.iter().find(|(n, _, _)| *n == name);
                let buf = store.get_or_alloc_mut(&p.value).map_err(err)?;
                match found {
                    Some((_, _, data)) if data.len() == buf.len() => buf.copy_from_slice(data),
                    _ => {
                        return Err(ModelError::Mismatch {
                            reason: format!("the optimizer state lacks {name}"),
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// The weight decay that adds the gradient of `p`'s L2 penalty `l2 * sum(w^2)`.
    fn weight_decay(&self, p: &Param) -> Option<WeightDecay> {
        let l2 = match p.kind {
            ParamKind::ConvWeight => self.l2.conv,
            ParamKind::DenseWeight => self.l2.dense,
            _ => 0.0,
        };
        (l2 > 0.0).then_some(WeightDecay::L2(2.0 * l2))
    }

    /// Applies one update to every parameter from `grads` (the data loss's gradients; the
    /// L2 penalties' are added here).
    ///
    /// # Errors
    /// dfdx kernel failures.
    pub fn update(
        &mut self,
        params: &mut [Param],
        grads: &mut Gradients<f32, Cpu>,
    ) -> Result<(), ModelError> {
        let lr = self.current_lr();
        self.step += 1;
        for p in params.iter_mut() {
            let weight_decay = self.weight_decay(p);
            let g = grads.get_or_alloc_mut(&p.value).map_err(err)?;
            let m1 = self.first.get_or_alloc_mut(&p.value).map_err(err)?;
            match self.config {
                OptimizerConfig::Adam { .. } => {
                    let v = self.second.get_or_alloc_mut(&p.value).map_err(err)?;
                    let cfg = AdamConfig {
                        lr,
                        weight_decay,
                        ..AdamConfig::default()
                    };
                    cfg.try_update(self.step, &mut p.value, m1, v, g)
                        .map_err(err)?;
                }
                OptimizerConfig::RmsProp { .. } => {
                    let sq = self.second.get_or_alloc_mut(&p.value).map_err(err)?;
                    let avg = self.third.get_or_alloc_mut(&p.value).map_err(err)?;
                    // Keras' RMSprop: rho 0.9, epsilon 1e-7, no momentum, not centred.
                    let cfg = RMSpropConfig {
                        lr,
                        alpha: 0.9,
                        eps: 1e-7,
                        momentum: None,
                        centered: false,
                        weight_decay,
                    };
                    cfg.try_update(&mut p.value, m1, sq, avg, g).map_err(err)?;
                }
                OptimizerConfig::Sgd { momentum, .. } => {
                    let momentum = (momentum > 0.0).then_some(Momentum::Classic(momentum));
                    let cfg = SgdConfig {
                        lr,
                        momentum,
                        weight_decay,
                    };
                    cfg.try_update(&mut p.value, m1, g).map_err(err)?;
                }
            }
        }
        Ok(())
    }
}
