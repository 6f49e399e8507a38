//! The head as one type: how the twins' embeddings become a score and a loss, for every
//! loss and distance a pipeline can name.
//!
//! - Binary cross-entropy with the L1 distance (Koch et al.): `|e1 - e2|` -> dense(1) ->
//!   sigmoid; the score is the sigmoid's output.
//! - Binary cross-entropy with a scalar distance (euclidean, cosine): `d` -> `a d + c` ->
//!   sigmoid, with `a`, `c` learnt.
//! - Contrastive loss (Hadsell et al.): `y d^2 / 2 + (1 - y) max(m - d, 0)^2 / 2` on the
//!   distance itself; the score is `-d`.
//!
//! What a head is on the host lives here (its parameters, its default threshold, its
//! comparison of two embeddings); each backend computes its forward and backward pass
//! (`cpu/head.rs` on the CPU).

use super::compare::Comparator;
use super::config::{Distance, Loss};
use super::param::ParamKind;
use super::tensors::Tensors;

/// A head: the training loss and the distance it compares embeddings with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Head {
    /// The training loss.
    pub loss: Loss,
    /// How the twins' embeddings are compared.
    pub distance: Distance,
}

impl Head {
    /// The head of `loss` on `distance`.
    pub fn new(loss: Loss, distance: Distance) -> Self {
        Self { loss, distance }
    }

    /// The head's own parameters for `units`-wide embeddings: name, shape, kind. Binary
    /// cross-entropy learns a dense(1) layer on the distance (a vector for L1, a scalar
    /// otherwise); the contrastive loss has none.
    pub fn params(&self, units: usize) -> Vec<(&'static str, Vec<usize>, ParamKind)> {
        match self.loss {
            Loss::BinaryCrossEntropy => {
                let inputs = if self.distance.is_vector() { units } else { 1 };
                vec![
                    ("head.weight", vec![inputs, 1], ParamKind::HeadWeight),
                    ("head.bias", vec![1], ParamKind::HeadBias),
                ]
            }
            Loss::Contrastive { .. } => Vec::new(),
        }
    }

    /// The score threshold for per-epoch accuracy: a sigmoid output of 0.5 for binary
    /// cross-entropy, and half the margin for the contrastive loss (whose scores are
    /// negative distances).
    pub fn default_threshold(&self) -> f64 {
        match self.loss {
            Loss::BinaryCrossEntropy => 0.5,
            Loss::Contrastive { margin } => -margin / 2.0,
        }
    }

    /// The network's score of a pair from its [`Comparator::similarity`]: the sigmoid of the
    /// logit for binary cross-entropy, the similarity itself (`-d`) for the contrastive loss.
    pub fn score(&self, similarity: f32) -> f32 {
        match self.loss {
            Loss::BinaryCrossEntropy => 1.0 / (1.0 + (-similarity).exp()),
            Loss::Contrastive { .. } => similarity,
        }
    }

    /// The head's comparison of two embeddings with the head's weights in `tensors`.
    pub fn comparator(&self, tensors: &Tensors) -> Comparator {
        Comparator::from_weights(self.loss, self.distance, tensors)
    }
}

/// A head's results on one batch of embeddings, on the host: what backends compare.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HeadOutput {
    /// The mean loss over the pairs (without penalties).
    pub loss: f32,
    /// One score per pair.
    pub scores: Vec<f32>,
    /// The loss's gradient by the embeddings (left twins, then right ones).
    pub d_embeddings: Vec<f32>,
    /// The loss's gradient by the head's weights then bias (empty without them).
    pub d_params: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loss_has_its_parameters_and_threshold() {
        let bce = Head::new(Loss::BinaryCrossEntropy, Distance::L1);
        assert_eq!(bce.params(8)[0].1, vec![8, 1]);
        assert_eq!(
            Head::new(Loss::BinaryCrossEntropy, Distance::Cosine).params(8)[0].1,
            vec![1, 1]
        );
        assert_eq!(bce.default_threshold(), 0.5);
        assert_eq!(bce.score(0.0), 0.5);
        let contrastive = Head::new(Loss::Contrastive { margin: 2.0 }, Distance::Euclidean);
        assert!(contrastive.params(8).is_empty());
        assert_eq!(contrastive.default_threshold(), -1.0);
        assert_eq!(contrastive.score(-0.3), -0.3);
    }
}
