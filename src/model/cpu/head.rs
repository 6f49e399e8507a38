//! The Siamese head: compares the twins' embeddings and turns the comparison into a loss and
//! a score.
//!
//! - Binary cross-entropy with the L1 distance (Koch et al.): `|e1 - e2|` -> dense(1) ->
//!   sigmoid; the score is the sigmoid's output.
//! - Binary cross-entropy with a scalar distance (euclidean, cosine): `d` -> `a d + c` ->
//!   sigmoid, with `a`, `c` learnt.
//! - Contrastive loss (Hadsell et al.): `y d^2 / 2 + (1 - y) max(m - d, 0)^2 / 2` on the
//!   distance itself; the score is `-d`.

use dfdx::shapes::Axis;
use dfdx::shapes::HasShape;
use dfdx::tensor::{AsArray, Cpu, Merge, Tape, Tensor, TensorFromVec, WithEmptyTape};
use dfdx::tensor_ops::{BroadcastTo, MeanTo, ReshapeTo, SumTo, TryMatMul};

use super::net::{dev_err, Output, SiameseNet};
use crate::model::config::{Distance, Loss};
use crate::model::error::ModelError;

/// Keeps square roots and divisions away from 0, where their gradients blow up.
const EPS: f32 = 1e-6;

type M<T> = Tensor<(usize, usize), f32, Cpu, T>;
type V<T> = Tensor<(usize,), f32, Cpu, T>;
type LossAndScores<T> = (Tensor<(), f32, Cpu, T>, Vec<f32>);

impl SiameseNet {
    /// A `(pairs, 2 * pairs)` matrix that maps stacked embeddings `[left; right]` to
    /// `a * left + b * right`.
    fn selector<T: Tape<f32, Cpu>>(&self, pairs: usize, a: f32, b: f32) -> M<T> {
        let n = 2 * pairs;
        let mut m = vec![0.0; pairs * n];
        for i in 0..pairs {
            m[i * n + i] = a;
            m[i * n + pairs + i] = b;
        }
        let t: Tensor<(usize, usize), f32, Cpu> = self.dev.tensor_from_vec(m, (pairs, n));
        t.retaped::<T>()
    }

    /// Loss and scores from the stacked embeddings `e` `(2 * pairs, units)`; `first` is the
    /// index of the head's first parameter.
    pub(super) fn head<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        e: M<T>,
        labels: &[f32],
        first: usize,
    ) -> Result<Output<T>, ModelError> {
        let b = labels.len();
        let y: Tensor<(usize,), f32, Cpu> = self.dev.tensor_from_vec(labels.to_vec(), (b,));
        let (loss, scores) = match (self.loss, self.distance) {
            (Loss::BinaryCrossEntropy, Distance::L1) => {
                let diff = self
                    .selector::<T>(b, 1.0, -1.0)
                    .try_matmul(e)
                    .map_err(dev_err)?
                    .abs();
                self.bce(diff, &y, first)?
            }
            (Loss::BinaryCrossEntropy, distance) => {
                let d = self.distance(e, b, distance)?;
                self.bce(d.reshape_like(&(b, 1)), &y, first)?
            }
            (Loss::Contrastive { margin }, distance) => {
                let d = self.distance(e, b, distance)?;
                let scores = d.as_vec().iter().map(|v| -v).collect();
                let same = d.with_empty_tape().square() * y.clone();
                let gap = (d * -1.0 + margin as f32).relu().square() * (y * -1.0 + 1.0);
                ((same + gap).mean() * 0.5, scores)
            }
        };
        let data_loss = loss.array();
        Ok(Output {
            loss,
            data_loss,
            scores,
        })
    }

    /// The per-pair distance `(pairs,)` between the twins' embeddings.
    fn distance<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        e: M<T>,
        b: usize,
        distance: Distance,
    ) -> Result<V<T>, ModelError> {
        Ok(match distance {
            Distance::L1 => self
                .selector::<T>(b, 1.0, -1.0)
                .try_matmul(e)
                .map_err(dev_err)?
                .abs()
                .sum::<(usize,), Axis<1>>(),
            Distance::Euclidean => {
                let diff = self
                    .selector::<T>(b, 1.0, -1.0)
                    .try_matmul(e)
                    .map_err(dev_err)?;
                (diff.square().sum::<(usize,), Axis<1>>() + EPS).sqrt()
            }
            Distance::Cosine => {
                let left = self
                    .selector::<T>(b, 1.0, 0.0)
                    .try_matmul(e.with_empty_tape())
                    .map_err(dev_err)?;
                let right = self
                    .selector::<T>(b, 0.0, 1.0)
                    .try_matmul(e)
                    .map_err(dev_err)?;
                let nl = (left.with_empty_tape().square().sum::<(usize,), Axis<1>>() + EPS).sqrt();
                let nr = (right.with_empty_tape().square().sum::<(usize,), Axis<1>>() + EPS).sqrt();
                let dot = (left * right).sum::<(usize,), Axis<1>>();
                (dot / (nl * nr)) * -1.0 + 1.0
            }
        })
    }

    /// Dense(1) + sigmoid cross-entropy on `features` `(pairs, k)`.
    fn bce<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        features: M<T>,
        y: &Tensor<(usize,), f32, Cpu>,
        first: usize,
    ) -> Result<LossAndScores<T>, ModelError> {
        let b = y.shape().0;
        let k = self.params[first].shape[0];
        let w = self.param::<T>(first).reshape_like(&(k, 1));
        let bias = self
            .param::<T>(first + 1)
            .reshape_like(&(1,))
            .broadcast_like::<_, Axis<0>>(&(b, 1));
        let logits = (features.try_matmul(w).map_err(dev_err)? + bias).reshape_like(&(b,));
        let scores = logits
            .as_vec()
            .iter()
            .map(|&z| 1.0 / (1.0 + (-z).exp()))
            .collect();
        Ok((logits.bce_with_logits(y.clone()).mean(), scores))
    }
}
