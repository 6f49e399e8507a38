//! The training half of the RON schema: network, loss, distance, optimizer and schedule.
//!
//! Defaults are the seed report's best configuration (8/16/32/64 filters with kernels
//! 10/7/4/4, a 2048-unit dense layer, N(0, 1e-2) conv weights, N(0.5, 1e-2) biases,
//! N(0, 0.2) dense weights, L2 2e-4 on convs and 1e-3 on the dense layer, binary
//! cross-entropy on an L1 distance, Adam at 1e-4, early stopping with patience 3).

use serde::{Deserialize, Serialize};

use super::validate::Problem;

/// The Siamese twin's network; both twins share it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The convolutional layers, input side first.
    pub conv: Vec<ConvLayer>,
    /// The dense layer that produces the embedding.
    pub dense: DenseLayer,
    /// Batch normalisation after every convolution.
    pub batch_norm: bool,
    /// The seed's decreasing dropout schedule; `None` disables dropout.
    pub dropout: Option<DropoutSchedule>,
    /// How weights and biases start.
    pub init: InitConfig,
    /// L2 penalties per layer kind.
    pub l2: L2Config,
}

impl Default for ModelConfig {
    fn default() -> Self {
        let layer = |filters, kernel, pool| ConvLayer {
            filters,
            kernel,
            pool,
        };
        Self {
            conv: vec![
                layer(8, 10, true),
                layer(16, 7, true),
                layer(32, 4, true),
                layer(64, 4, false),
            ],
            dense: DenseLayer::default(),
            batch_norm: false,
            dropout: None,
            init: InitConfig::default(),
            l2: L2Config::default(),
        }
    }
}

/// One convolution (stride 1, valid padding) followed by ReLU and optional 2x2 max pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    /// Output channels.
    pub filters: usize,
    /// Square kernel side in pixels.
    pub kernel: usize,
    /// Max-pool 2x2 with stride 2 after the activation.
    #[serde(default = "yes")]
    pub pool: bool,
}

fn yes() -> bool {
    true
}

/// The dense embedding layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DenseLayer {
    /// Embedding size.
    pub units: usize,
    /// Activation applied to the embedding.
    pub activation: Activation,
}

impl Default for DenseLayer {
    fn default() -> Self {
        Self {
            units: 2048,
            activation: Activation::Sigmoid,
        }
    }
}

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Activation {
    /// Koch et al.'s choice for the embedding.
    #[default]
    Sigmoid,
    /// Rectified linear.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// No activation.
    Linear,
}

/// Dropout after each layer, falling by `step` from `first` down to `last`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutSchedule {
    /// Rate after the first layer.
    pub first: f64,
    /// Decrease per layer.
    #[serde(default = "default_dropout_step")]
    pub step: f64,
    /// Rate after the last layer.
    #[serde(default = "default_dropout_last")]
    pub last: f64,
}

fn default_dropout_step() -> f64 {
    0.05
}

fn default_dropout_last() -> f64 {
    0.1
}

/// Initialisers per parameter kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitConfig {
    /// Convolution kernels.
    pub conv_weight: Init,
    /// Dense weights.
    pub dense_weight: Init,
    /// Every bias.
    pub bias: Init,
}

impl Default for InitConfig {
    fn default() -> Self {
        Self {
            conv_weight: Init::Normal {
                mean: 0.0,
                std: 1e-2,
            },
            dense_weight: Init::Normal {
                mean: 0.0,
                std: 0.2,
            },
            bias: Init::Normal {
                mean: 0.5,
                std: 1e-2,
            },
        }
    }
}

/// A weight initialiser.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Normal distribution with a fixed mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// Glorot (Xavier) normal: std = sqrt(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// LeCun normal: std = sqrt(1 / fan_in).
    LecunNormal,
    /// All zeros.
    Zeros,
}

/// L2 penalty coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct L2Config {
    /// On convolution kernels.
    pub conv: f64,
    /// On the dense layer.
    pub dense: f64,
}

impl Default for L2Config {
    fn default() -> Self {
        Self {
            conv: 2e-4,
            dense: 1e-3,
        }
    }
}

/// The training loss.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Loss {
    /// Distance -> dense(1) -> sigmoid, trained as a same/different classifier.
    #[default]
    BinaryCrossEntropy,
    /// Hadsell et al.'s contrastive loss on the distance itself.
    Contrastive {
        /// Different pairs closer than this are penalised.
        margin: f64,
    },
}

/// How two embeddings are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Distance {
    /// Elementwise absolute difference (a vector, for the BCE head) or its sum.
    #[default]
    L1,
    /// Euclidean distance.
    Euclidean,
    /// One minus cosine similarity.
    Cosine,
}

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
}

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// The most epochs to run.
    pub epochs: usize,
    /// Stop when the monitored measure has not improved for this many epochs; `None` never
    /// stops.
    pub patience: Option<usize>,
    /// What picks the best epoch (its weights are kept and evaluated) and what `patience`
    /// waits on.
    pub monitor: Monitor,
    /// Validate, keep as best and evaluate an exponential moving average of the weights,
    /// with this decay per step (e.g. `Some(0.999)`: the last ~1,000 steps weigh most),
    /// instead of the last weights; `None` uses the last weights.
    pub average: Option<f64>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            epochs: 50,
            patience: Some(3),
            monitor: Monitor::ValLoss,
            average: None,
        }
    }
}

/// The validation measure that picks the best epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Monitor {
    /// Lowest validation loss. Rewards calibrated scores as well as ranking.
    #[default]
    ValLoss,
    /// Highest validation AUC. Ranking only: the threshold is chosen on validation anyway,
    /// so scores that are shifted as a whole (as hard-negative mining makes them) do not
    /// count against an epoch.
    ValAuc,
}

impl Monitor {
    /// True when `value` is better than `best` under this measure; a NaN is never better.
    pub fn better(self, value: f64, best: f64) -> bool {
        match self {
            Self::ValLoss => value < best,
            Self::ValAuc => value > best,
        }
    }
}

/// Appends every problem of the training settings, each named by its RON path; `input` is
/// the side of the images the network sees.
pub fn problems(p: &super::Pipeline, input: usize, out: &mut Vec<Problem>) {
    let m = &p.model;
    if m.conv.is_empty() {
        out.push(Problem::new("model.conv", "needs at least one layer"));
    }
    let mut side = input;
    for (i, layer) in m.conv.iter().enumerate() {
        let path = format!("model.conv[{i}]");
        if layer.filters == 0 {
            out.push(Problem::new(format!("{path}.filters"), "must be > 0"));
        }
        if layer.kernel == 0 || layer.kernel > side {
            let msg = format!(
                "must be in 1..={side} (the feature map is {side}x{side} here), got {}",
                layer.kernel
            );
            out.push(Problem::new(format!("{path}.kernel"), msg));
            break;
        }
        side = side - layer.kernel + 1;
        if layer.pool {
            side /= 2;
            if side == 0 {
                out.push(Problem::new(
                    format!("{path}.pool"),
                    "pooling leaves an empty feature map",
                ));
                break;
            }
        }
    }
    if m.dense.units == 0 {
        out.push(Problem::new("model.dense.units", "must be > 0"));
    }
    if let Some(d) = m.dropout {
        for (field, v) in [("first", d.first), ("last", d.last)] {
            if !(0.0..1.0).contains(&v) {
                out.push(Problem::new(
                    format!("model.dropout.{field}"),
                    format!("must be in [0, 1), got {v}"),
                ));
            }
        }
        if !(0.0..1.0).contains(&d.step) {
            out.push(Problem::new(
                "model.dropout.step",
                format!("must be in [0, 1), got {}", d.step),
            ));
        }
    }
    let inits = [
        ("conv_weight", m.init.conv_weight),
        ("dense_weight", m.init.dense_weight),
        ("bias", m.init.bias),
    ];
    for (field, init) in inits {
        if let Init::Normal { mean, std } = init {
            if !(std >= 0.0 && std.is_finite() && mean.is_finite()) {
                out.push(Problem::new(
                    format!("model.init.{field}.std"),
                    format!("must be finite and >= 0, got {std}"),
                ));
            }
        }
    }
    for (field, v) in [("conv", m.l2.conv), ("dense", m.l2.dense)] {
        if !(v >= 0.0 && v.is_finite()) {
            out.push(Problem::new(
                format!("model.l2.{field}"),
                format!("must be >= 0, got {v}"),
            ));
        }
    }
    if let Loss::Contrastive { margin } = p.loss {
        if !(margin > 0.0 && margin.is_finite()) {
            out.push(Problem::new(
                "loss.margin",
                format!("must be > 0, got {margin}"),
            ));
        }
    }
    optimizer_problems(&p.optimizer, out);
    if p.schedule.epochs == 0 {
        out.push(Problem::new("schedule.epochs", "must be > 0"));
    }
    if p.schedule.patience == Some(0) {
        out.push(Problem::new(
            "schedule.patience",
            "must be > 0, or None to never stop early",
        ));
    }
    if let Some(decay) = p.schedule.average {
        if !(decay > 0.0 && decay < 1.0) {
            out.push(Problem::new(
                "schedule.average",
                format!("must be strictly between 0 and 1 (e.g. Some(0.999)), got {decay}"),
            ));
        }
    }
}

fn optimizer_problems(o: &OptimizerConfig, out: &mut Vec<Problem>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_monitor_prefers_its_own_direction_and_never_a_nan() {
        assert!(Monitor::ValLoss.better(0.3, 0.4));
        assert!(!Monitor::ValLoss.better(0.5, 0.4));
        assert!(Monitor::ValAuc.better(0.9, 0.8));
        assert!(!Monitor::ValAuc.better(0.7, 0.8));
        for m in [Monitor::ValLoss, Monitor::ValAuc] {
            assert!(!m.better(f64::NAN, 0.5));
            assert!(!m.better(0.5, 0.5), "{m:?}: a tie keeps the earlier epoch");
        }
    }

    #[test]
    fn the_monitor_is_read_from_ron_and_defaults_to_validation_loss() {
        let s: Schedule = ron::from_str("(monitor: ValAuc)").expect("ron");
        assert_eq!(s.monitor, Monitor::ValAuc);
        let s: Schedule = ron::from_str("()").expect("ron");
        assert_eq!(s.monitor, Monitor::ValLoss);
    }
}
