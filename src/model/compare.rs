//! The head's comparison of two embeddings, in plain Rust and outside the autodiff graph.
//!
//! Hard-negative mining and one-shot identification compare one image with hundreds of
//! others. Running the twin once per image and comparing the embeddings here costs a dot
//! product per pair instead of a forward pass, and ranks pairs exactly as the network's
//! own score does (see [`Comparator::similarity`]).

use super::config::{Distance, Loss};
use super::tensors::Tensors;

/// Keeps square roots and divisions away from 0, as the head does.
const EPS: f32 = 1e-6;

/// How the trained head turns two embeddings into a score, with its weights copied out.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparator {
    /// Binary cross-entropy on the L1 distance (Koch et al.): `w . |a - b| + c`.
    WeightedL1 {
        /// The head's weights, one per embedding unit.
        weights: Vec<f32>,
        /// The head's bias.
        bias: f32,
    },
    /// Binary cross-entropy on a scalar distance: `scale * d(a, b) + bias`.
    ScaledDistance {
        /// The distance.
        distance: Distance,
        /// The head's weight.
        scale: f32,
        /// The head's bias.
        bias: f32,
    },
    /// The contrastive loss, whose score is the negative distance `-d(a, b)`.
    NegativeDistance {
        /// The distance.
        distance: Distance,
    },
}

impl Comparator {
    /// How alike two embeddings are; higher means more likely the same person.
    ///
    /// For binary cross-entropy this is the logit, before the sigmoid: it ranks pairs as the
    /// network's score does, without the ties a saturated sigmoid makes in f32.
    pub fn similarity(&self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Comparator::WeightedL1 { weights, bias } => {
                let dot: f32 = a
                    .iter()
                    .zip(b)
                    .zip(weights)
                    .map(|((x, y), w)| w * (x - y).abs())
                    .sum();
                dot + bias
            }
            Comparator::ScaledDistance {
                distance,
                scale,
                bias,
            } => scale * distance_of(*distance, a, b) + bias,
            Comparator::NegativeDistance { distance } => -distance_of(*distance, a, b),
        }
    }
}

/// The distance the head computes, with its epsilons.
fn distance_of(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::L1 => a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum(),
        Distance::Euclidean => {
            (a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>() + EPS).sqrt()
        }
        Distance::Cosine => {
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let na = (a.iter().map(|x| x * x).sum::<f32>() + EPS).sqrt();
            let nb = (b.iter().map(|x| x * x).sum::<f32>() + EPS).sqrt();
            1.0 - dot / (na * nb)
        }
    }
}

impl Comparator {
    /// The head's comparison with the weights in `tensors` (named as in [`super::layout`]);
    /// a missing head tensor reads as zeros.
    pub fn from_weights(loss: Loss, distance: Distance, tensors: &Tensors) -> Self {
        let values = |name: &str| {
            tensors
                .iter()
                .find(|(n, _, _)| n == name)
                .map_or_else(Vec::new, |(_, _, v)| v.clone())
        };
        match loss {
            Loss::BinaryCrossEntropy => {
                let weights = values("head.weight");
                let bias = values("head.bias").first().copied().unwrap_or(0.0);
                match distance {
                    Distance::L1 => Comparator::WeightedL1 { weights, bias },
                    distance => Comparator::ScaledDistance {
                        distance,
                        scale: weights.first().copied().unwrap_or(0.0),
                        bias,
                    },
                }
            }
            Loss::Contrastive { .. } => Comparator::NegativeDistance { distance },
        }
    }

    /// The head weights this comparator was made from, as [`Comparator::from_weights`]
    /// reads them: what a checkpoint stores to rebuild it exactly.
    pub fn to_weights(&self) -> Tensors {
        let head = |weights: Vec<f32>, bias: f32| {
            vec![
                ("head.weight".to_string(), vec![weights.len(), 1], weights),
                ("head.bias".to_string(), vec![1], vec![bias]),
            ]
        };
        match self {
            Comparator::WeightedL1 { weights, bias } => head(weights.clone(), *bias),
            Comparator::ScaledDistance { scale, bias, .. } => head(vec![*scale], *bias),
            Comparator::NegativeDistance { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{build, Device, NetSpec, Network, Weights};
    use crate::model::{ConvLayer, DenseLayer, ModelConfig, OptimizerConfig};

    fn net(distance: Distance, loss: Loss) -> Box<dyn Network> {
        let config = ModelConfig {
            conv: vec![ConvLayer {
                filters: 3,
                kernel: 3,
                pool: true,
            }],
            dense: DenseLayer {
                units: 8,
                ..DenseLayer::default()
            },
            ..ModelConfig::default()
        };
        let spec = NetSpec {
            model: config,
            loss,
            distance,
            optimizer: OptimizerConfig::default(),
            input: (10, 10),
            seed: 3,
        };
        build(Device::Cpu, spec).expect("builds")
    }

    #[test]
    fn a_comparator_rebuilds_from_its_own_weights() {
        for (distance, loss) in [
            (Distance::L1, Loss::BinaryCrossEntropy),
            (Distance::Cosine, Loss::BinaryCrossEntropy),
            (Distance::Euclidean, Loss::Contrastive { margin: 1.0 }),
        ] {
            let c = net(distance, loss)
                .comparator(Weights::Live)
                .expect("comparator");
            assert_eq!(Comparator::from_weights(loss, distance, &c.to_weights()), c);
        }
    }

    #[test]
    fn the_comparator_ranks_pairs_as_the_network_scores_them() {
        let pixels: Vec<f32> = (0..6 * 100)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        let (left, right) = pixels.split_at(3 * 100);
        for (distance, loss) in [
            (Distance::L1, Loss::BinaryCrossEntropy),
            (Distance::Euclidean, Loss::BinaryCrossEntropy),
            (Distance::Cosine, Loss::BinaryCrossEntropy),
            (Distance::Euclidean, Loss::Contrastive { margin: 1.0 }),
            (Distance::L1, Loss::Contrastive { margin: 1.0 }),
        ] {
            let mut net = net(distance, loss);
            let live = Weights::Live;
            let (_, scores) = net.evaluate(live, left, right, &[0.0; 3]).expect("scores");
            let (el, er) = (
                net.embed(live, left).expect("left"),
                net.embed(live, right).expect("right"),
            );
            let comparator = net.comparator(live).expect("comparator");
            for i in 0..3 {
                let s = comparator.similarity(&el[i], &er[i]);
                let want = crate::model::Head::new(loss, distance).score(s);
                assert!(
                    (want - scores[i]).abs() < 1e-4,
                    "{distance:?} {loss:?}: {want} vs {}",
                    scores[i]
                );
            }
        }
    }
}
