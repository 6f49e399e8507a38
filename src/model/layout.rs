//! The network's parameters as every backend and every checkpoint names and orders them,
//! and their initial values.
//!
//! Order: per conv layer its kernel `(out, in, k, k)` and bias; the dense layer's weights
//! `(in, units)` and bias; the head's weights and bias (binary cross-entropy only); then, with
//! batch norm, per conv layer its scale and shift. Batch norm's running statistics follow the
//! parameters in checkpoints (`conv{i}.bn.running_mean`, `conv{i}.bn.running_var`). The
//! initial values are drawn here, on the host, from one seeded generator, so every backend
//! starts from the same weights.

use super::config::{Distance, Init, Loss, ModelConfig};
use super::head::Head;
pub use super::param::ParamKind;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Suffixes of batch norm's running statistics, saved after the parameters.
pub const RUNNING: [&str; 2] = [".running_mean", ".running_var"];

/// One parameter with its initial values.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// Unique name, used in checkpoints (`conv0.weight`).
    pub name: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// What it is.
    pub kind: ParamKind,
    /// Initial values, flat.
    pub values: Vec<f32>,
}

/// The network's parameters in layout order, with their initial values; `(height, width)`
/// is the input size. The same seed gives the same values.
pub fn initial(
    config: &ModelConfig,
    distance: Distance,
    loss: Loss,
    (height, width): (usize, usize),
    seed: u64,
) -> Vec<Drawn> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut add = |name: String, shape, kind, init, fans, rng: &mut ChaCha8Rng| {
        out.push(draw(name, shape, kind, init, fans, rng));
    };
    let (c, h, w) = conv_params(config, (height, width), &mut rng, &mut add);
    let (flat, units) = (c * h * w, config.dense.units);
    let dense = [(flat, units), (flat, units)];
    add(
        "dense.weight".into(),
        vec![flat, units],
        ParamKind::DenseWeight,
        config.init.dense_weight,
        dense[0],
        &mut rng,
    );
    add(
        "dense.bias".into(),
        vec![units],
        ParamKind::DenseBias,
        config.init.bias,
        dense[1],
        &mut rng,
    );
    let head = Head::new(loss, distance).params(units);
    // Both head tensors take the fans of the head's weights, `(inputs, 1)`.
    let fans = (head.first().map_or(1, |(_, shape, _)| shape[0]), 1);
    for (name, shape, kind) in head {
        add(
            name.into(),
            shape,
            kind,
            head_init(kind, config),
            fans,
            &mut rng,
        );
    }
    if config.batch_norm {
        let one = Init::Normal {
            mean: 1.0,
            std: 0.0,
        };
        for (i, layer) in config.conv.iter().enumerate() {
            let f = layer.filters;
            add(
                format!("conv{i}.bn.gamma"),
                vec![f],
                ParamKind::BnGamma,
                one,
                (f, f),
                &mut rng,
            );
            add(
                format!("conv{i}.bn.beta"),
                vec![f],
                ParamKind::BnBeta,
                Init::Zeros,
                (f, f),
                &mut rng,
            );
        }
    }
    out
}

/// The head's initialisers: its weights as the dense layer's, its bias as every bias.
fn head_init(kind: ParamKind, config: &ModelConfig) -> Init {
    match kind {
        ParamKind::HeadBias => config.init.bias,
        _ => config.init.dense_weight,
    }
}

/// Adds each conv layer's kernel and bias; returns the last feature map's `(c, h, w)`.
fn conv_params(
    config: &ModelConfig,
    (height, width): (usize, usize),
    rng: &mut ChaCha8Rng,
    add: &mut impl FnMut(String, Vec<usize>, ParamKind, Init, (usize, usize), &mut ChaCha8Rng),
) -> (usize, usize, usize) {
    let (mut c, mut h, mut w) = (1, height, width);
    for (i, layer) in config.conv.iter().enumerate() {
        let (f, k) = (layer.filters, layer.kernel);
        let fans = (c * k * k, f * k * k);
        add(
            format!("conv{i}.weight"),
            vec![f, c, k, k],
            ParamKind::ConvWeight,
            config.init.conv_weight,
            fans,
            rng,
        );
        add(
            format!("conv{i}.bias"),
            vec![f],
            ParamKind::ConvBias,
            config.init.bias,
            fans,
            rng,
        );
        (c, h, w) = (f, h + 1 - k, w + 1 - k);
        if layer.pool {
            (h, w) = (h / 2, w / 2);
        }
    }
    (c, h, w)
}

/// The name of conv layer `layer`'s running statistic `which` (0: mean, 1: variance).
pub fn running_name(layer: usize, which: usize) -> String {
    format!("conv{layer}.bn{}", RUNNING[which])
}

/// True for the name of a running statistic rather than a parameter.
pub fn is_running(name: &str) -> bool {
    RUNNING.iter().any(|s| name.ends_with(s))
}

fn draw(
    name: String,
    shape: Vec<usize>,
    kind: ParamKind,
    init: Init,
    (fan_in, fan_out): (usize, usize),
    rng: &mut ChaCha8Rng,
) -> Drawn {
    let n: usize = shape.iter().product();
    let (mean, std) = match init {
        Init::Normal { mean, std } => (mean, std),
        Init::GlorotNormal => (0.0, (2.0 / (fan_in + fan_out) as f64).sqrt()),
        Init::LecunNormal => (0.0, (1.0 / fan_in as f64).sqrt()),
        Init::Zeros => (0.0, 0.0),
    };
    let values = match Normal::new(mean, std) {
        Ok(dist) if std > 0.0 => (0..n).map(|_| dist.sample(rng) as f32).collect(),
        _ => vec![mean as f32; n],
    };
    Drawn {
        name,
        shape,
        kind,
        values,
    }
}
