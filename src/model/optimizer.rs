//! The optimizer's settings: Adam, RMSprop or SGD with momentum, each with Keras' legacy
//! per-step learning-rate decay. Every backend implements the update; the settings and the
//! learning-rate schedule are shared, so all backends step alike.

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f64,
        /// Per-step learning-rate decay (Keras' `decay`): lr / (1 + decay * step).
        #[serde(default)]
        decay: f64,
    },
    /// RMSprop.
    RmsProp {
        /// Learning rate.
        lr: f64,
        /// Per-step learning-rate decay.
        #[serde(default)]
        decay: f64,
    },
    /// Stochastic gradient descent.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        #[serde(default)]
        momentum: f64,
        /// Per-step learning-rate decay.
        #[serde(default)]
        decay: f64,
    },
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self::Adam {
            lr: 1e-4,
            decay: 0.0,
        }
    }
}

impl OptimizerConfig {
    /// The base learning rate and decay, whichever the optimizer.
    pub fn lr_and_decay(&self) -> (f64, f64) {
        match *self {
            Self::Adam { lr, decay }
            | Self::RmsProp { lr, decay }
            | Self::Sgd { lr, decay, .. } => (lr, decay),
        }
    }

    /// The learning rate of step `step` (0-based): Keras' legacy `lr / (1 + decay * step)`.
    pub fn lr_at(&self, step: i32) -> f64 {
        let (lr, decay) = self.lr_and_decay();
        lr / (1.0 + decay * f64::from(step))
    }

    /// Appends every problem of the optimizer's settings (`optimizer.*`).
    pub fn problems(&self, out: &mut Vec<Problem>) {
        let o = self;
        let (lr, decay) = o.lr_and_decay();
        if !(lr > 0.0 && lr.is_finite()) {
            out.push(Problem::new(
                "optimizer.lr",
                format!("must be > 0, got {lr}"),
            ));
        }
        if !(decay >= 0.0 && decay.is_finite()) {
            out.push(Problem::new(
                "optimizer.decay",
                format!("must be >= 0, got {decay}"),
            ));
        }
        if let OptimizerConfig::Sgd { momentum, .. } = *o {
            if !(0.0..1.0).contains(&momentum) {
                out.push(Problem::new(
                    "optimizer.momentum",
                    format!("must be in [0, 1), got {momentum}"),
                ));
            }
        }
    }
}
