//! Floating-point operations a network costs, counted from its layers: what `bench train`
//! divides by to report GFLOP/s and the fraction of a machine's peak.
//!
//! Only the multiply-adds of convolutions and the dense layer are counted (two FLOPs each);
//! activations, pooling, batch norm, the head and the optimizer are a few percent at most.

use super::config::ModelConfig;

/// FLOPs of one image through the twin, forward: per conv layer and for the dense layer.
fn forward_layers(model: &ModelConfig, (height, width): (usize, usize)) -> Vec<f64> {
    let (mut c, mut h, mut w) = (1usize, height, width);
    let mut out = Vec::with_capacity(model.conv.len() + 1);
    for layer in &model.conv {
        let k = layer.kernel;
        let (oh, ow) = ((h + 1).saturating_sub(k), (w + 1).saturating_sub(k));
        out.push(2.0 * (layer.filters * oh * ow * c * k * k) as f64);
        (c, h, w) = (layer.filters, oh, ow);
        if layer.pool {
            (h, w) = (h / 2, w / 2);
        }
    }
    out.push(2.0 * (c * h * w * model.dense.units) as f64);
    out
}

/// FLOPs of one training pair: both twins forward, then backward (each layer's weight
/// gradient and input gradient cost what its forward pass costs, except that the first
/// layer needs no input gradient).
pub fn train_per_pair(model: &ModelConfig, input: (usize, usize)) -> f64 {
    let layers = forward_layers(model, input);
    let forward: f64 = layers.iter().sum();
    let first = layers.first().copied().unwrap_or(0.0);
    2.0 * (3.0 * forward - first)
}

/// FLOPs of one image through the twin, forward only (inference).
pub fn forward_per_image(model: &ModelConfig, input: (usize, usize)) -> f64 {
    forward_layers(model, input).iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_model_costs_467_mflop_per_training_pair() {
        // Counted by hand for the seed's model at 125x125 (docs/performance.md).
        let flops = train_per_pair(&ModelConfig::default(), (125, 125));
        assert!((flops - 467.5e6).abs() / 467.5e6 < 1e-3, "{flops}");
        let forward = forward_per_image(&ModelConfig::default(), (125, 125));
        assert!((forward - 85.1e6).abs() / 85.1e6 < 1e-2, "{forward}");
    }
}
