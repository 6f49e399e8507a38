//! The network's settings as written in RON: layers, batch norm, dropout, initialisation,
//! L2 penalties, the loss and the distance. Defaults are the seed report's best
//! configuration (8/16/32/64 filters with kernels 10/7/4/4, a 2048-unit dense layer,
//! N(0, 1e-2) conv weights, N(0.5, 1e-2) biases, N(0, 0.2) dense weights, L2 2e-4 on convs
//! and 1e-3 on the dense layer, binary cross-entropy on an L1 distance).

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// The most filters a conv layer may have (the study's largest has 64, best.ron's 128).
pub const MAX_FILTERS: usize = 4096;

/// The most units the dense layer may have (the study's has 2,048).
pub const MAX_UNITS: usize = 65_536;

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

/// Keras' batch-norm momentum: running statistics keep 99% of their value per step. Every
/// backend normalises alike.
pub const BN_MOMENTUM: f32 = 0.99;
/// Keras' batch-norm epsilon, added to the variance.
pub const BN_EPS: f32 = 1e-3;

impl ModelConfig {
    /// The seed's decreasing dropout rate after each layer, one entry per conv layer and
    /// one for the dense layer (`None` where no dropout runs): `first` after layer 0, minus
    /// `step` per layer, never below `last`, and `last` after the dense layer.
    pub fn dropout_rates(&self) -> Vec<Option<f64>> {
        let layers = self.conv.len() + 1;
        match self.dropout {
            None => vec![None; layers],
            Some(d) => (0..layers)
                .map(|i| {
                    let rate = if i + 1 == layers {
                        d.last
                    } else {
                        (d.first - d.step * i as f64).max(d.last)
                    };
                    (rate > 0.0).then_some(rate)
                })
                .collect(),
        }
    }

    /// Appends every problem of the network's settings, each named by its RON path
    /// (`model.*`); `input` is the side of the images the network sees.
    pub fn problems(&self, input: usize, out: &mut Vec<Problem>) {
        let m = self;
        if m.conv.is_empty() {
            out.push(Problem::new("model.conv", "needs at least one layer"));
        }
        let mut side = input;
        for (i, layer) in m.conv.iter().enumerate() {
            let path = format!("model.conv[{i}]");
            if layer.filters == 0 || layer.filters > MAX_FILTERS {
                out.push(Problem::new(
                    format!("{path}.filters"),
                    format!("must be in 1..={MAX_FILTERS}, got {}", layer.filters),
                ));
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
        if m.dense.units == 0 || m.dense.units > MAX_UNITS {
            out.push(Problem::new(
                "model.dense.units",
                format!("must be in 1..={MAX_UNITS}, got {}", m.dense.units),
            ));
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
    }
}

impl Loss {
    /// Appends every problem of the loss's settings (`loss.*`).
    pub fn problems(&self, out: &mut Vec<Problem>) {
        if let Loss::Contrastive { margin } = *self {
            if !(margin > 0.0 && margin.is_finite()) {
                out.push(Problem::new(
                    "loss.margin",
                    format!("must be > 0, got {margin}"),
                ));
            }
        }
    }
}

impl Distance {
    /// True when the distance is a vector (L1's elementwise `|a - b|`, which binary
    /// cross-entropy weighs per unit), false for a scalar.
    pub fn is_vector(self) -> bool {
        matches!(self, Distance::L1)
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loss::BinaryCrossEntropy => f.write_str("BCE"),
            Loss::Contrastive { margin } => write!(f, "contrastive({margin})"),
        }
    }
}
