//! The memory a network needs, counted from its layers: what `validate` adds to the
//! pipeline's channels and compares with the machine's memory, so that a setting that
//! cannot fit is refused by name instead of ending in the kernel's out-of-memory killer.
//!
//! Counts are in f32 values and err on the high side: every op of a training step keeps
//! its output for the backward pass and a gradient of the same size, so a step holds about
//! [`TRAIN_COPIES`] values per activation (the seed's model at batch 128: 761 MiB counted
//! for a step; the whole `bench train` process peaked at 737 MiB resident).

use super::config::ModelConfig;
use super::optimizer::OptimizerConfig;

/// Values a training step holds per activation value: the forward output kept for the
/// backward pass and its gradient.
pub const TRAIN_COPIES: u64 = 2;

/// What a network holds, in f32 values, layer by layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    /// Per layer: its RON path (`model.conv[0]`, `model.dense.units`), then its values.
    pub layers: Vec<LayerFootprint>,
}

/// One layer's share of a [`Footprint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFootprint {
    /// The layer's RON path.
    pub path: String,
    /// Its trainable values.
    pub parameters: u64,
    /// Its activation values for one image, forward.
    pub activations: u64,
    /// Its largest single feature map for one image: what one device buffer holds per image.
    pub largest_map: u64,
}

impl Footprint {
    /// Trainable values of the whole network.
    pub fn parameters(&self) -> u64 {
        self.layers
            .iter()
            .fold(0, |a, l| a.saturating_add(l.parameters))
    }

    /// Activation values of one image through the twin, forward.
    pub fn activations(&self) -> u64 {
        self.layers
            .iter()
            .fold(0, |a, l| a.saturating_add(l.activations))
    }

    /// The layer that holds the most by `key`.
    pub fn largest_by(&self, key: impl Fn(&LayerFootprint) -> u64) -> Option<&LayerFootprint> {
        self.layers.iter().max_by_key(|l| key(l))
    }
}

impl ModelConfig {
    /// The network's parameters and per-image activations for `(height, width)` inputs.
    /// Saturates rather than overflows on absurd settings (validation refuses those).
    pub fn footprint(&self, (height, width): (usize, usize)) -> Footprint {
        let n = |v: usize| v as u64;
        let (mut c, mut h, mut w) = (1u64, n(height), n(width));
        let mut layers = Vec::with_capacity(self.conv.len() + 1);
        for (i, layer) in self.conv.iter().enumerate() {
            let (f, k) = (n(layer.filters), n(layer.kernel));
            let mut parameters = f.saturating_mul(c).saturating_mul(k * k).saturating_add(f);
            (h, w) = ((h + 1).saturating_sub(k), (w + 1).saturating_sub(k));
            let map = f.saturating_mul(h).saturating_mul(w);
            // The convolution's output and its activation, and batch norm's normalised copy
            // (with its scale, shift and running statistics).
            let mut activations = map.saturating_mul(2);
            if self.batch_norm {
                activations = activations.saturating_add(map);
                parameters = parameters.saturating_add(4 * f);
            }
            if layer.pool {
                (h, w) = (h / 2, w / 2);
                activations = activations.saturating_add(f.saturating_mul(h).saturating_mul(w));
            }
            c = f;
            layers.push(LayerFootprint {
                path: format!("model.conv[{i}]"),
                parameters,
                activations,
                largest_map: map,
            });
        }
        let flat = c.saturating_mul(h).saturating_mul(w);
        let units = n(self.dense.units);
        // The dense layer, then the head's weight per unit and bias at most.
        layers.push(LayerFootprint {
            path: "model.dense.units".into(),
            parameters: flat
                .saturating_mul(units)
                .saturating_add(units)
                .saturating_add(units + 1),
            activations: units.saturating_mul(2),
            largest_map: flat.max(units),
        });
        Footprint { layers }
    }
}

impl OptimizerConfig {
    /// Values the optimizer keeps per parameter: Adam's two moments, RMSprop's one, SGD's
    /// momentum (when it has one).
    pub fn moments(&self) -> u64 {
        match *self {
            OptimizerConfig::Adam { .. } => 2,
            OptimizerConfig::RmsProp { .. } => 1,
            OptimizerConfig::Sgd { momentum, .. } => u64::from(momentum != 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_model_has_the_parameters_its_layout_draws() {
        let model = ModelConfig::default();
        let f = model.footprint((125, 125));
        let drawn: usize = crate::model::layout::initial(
            &model,
            crate::model::Distance::L1,
            crate::model::Loss::BinaryCrossEntropy,
            (125, 125),
            1,
        )
        .iter()
        .map(|d| d.values.len())
        .sum();
        assert_eq!(f.parameters(), drawn as u64);
        // 8 x 116 x 116 conv values and their activation, then the 8 x 58 x 58 pooled map.
        let largest = f.largest_by(|l| l.activations).expect("layers");
        assert_eq!(largest.path, "model.conv[0]");
        assert_eq!(largest.activations, 2 * 8 * 116 * 116 + 8 * 58 * 58);
        let most = f.largest_by(|l| l.parameters).expect("layers");
        assert_eq!(most.path, "model.dense.units");
    }

    #[test]
    fn absurd_settings_saturate_instead_of_overflowing() {
        let mut model = ModelConfig::default();
        model.dense.units = usize::MAX / 2;
        model.conv[0].filters = usize::MAX / 2;
        let f = model.footprint((125, 125));
        assert_eq!(f.parameters(), u64::MAX);
    }
}
