//! An exponential moving average of the weights (Polyak averaging), for `schedule.average`.
//!
//! Late in training the weights still jitter from batch to batch: the per-epoch validation
//! loss of the best pipeline moved by 10% between neighbouring epochs. Evaluating an average
//! of the recent weights instead of the last ones smooths that out. The live weights keep
//! training; the average only decides what is validated, kept as best and evaluated.
//! Batch norm's running statistics are averaged the same way, so they stay close to the
//! statistics of the averaged network.

use std::path::Path;

use crate::model::net::SiameseNet;

use super::checkpoint::{load_net, params_of, CheckpointError, Tensors};

/// The running average of a network's parameters and batch-norm statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightAverage {
    decay: f64,
    /// Training steps taken, counted from the run's start, for the warm-up.
    steps: u64,
    /// Named tensors in [`params_of`]'s order, averaged.
    tensors: Tensors,
}

impl WeightAverage {
    /// An average that starts at `net`'s current weights, `steps` training steps into the
    /// run (0 for a fresh run; a run resumed without an average has trained weights, and
    /// needs no warm-up to forget random ones).
    pub fn new(decay: f64, net: &SiameseNet, steps: u64) -> Self {
        Self {
            decay,
            steps,
            tensors: params_of(net),
        }
    }

    /// An average resumed from what [`Self::tensors`] gave and `path` held, `steps` training
    /// steps into the run.
    ///
    /// # Errors
    /// The tensors do not fit `net` (a missing, extra or misshapen tensor), as
    /// [`load_net`] checks them.
    pub fn resume(
        decay: f64,
        net: &SiameseNet,
        path: &Path,
        tensors: &Tensors,
        steps: u64,
    ) -> Result<Self, CheckpointError> {
        let mut saved = net.clone();
        load_net(path, &mut saved, tensors)?;
        Ok(Self::new(decay, &saved, steps))
    }

    /// The decay used for the next update: `decay`, or less early in the run, so that the
    /// average forgets the random initial weights quickly. The warm-up `(1 + n) / (10 + n)`
    /// after `n` training steps reaches 0.99 after about 900 and 0.999 after about 9,000.
    pub fn current_decay(&self) -> f64 {
        let n = self.steps as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// Moves the average towards `net`'s current weights: `avg = d * avg + (1 - d) * w`.
    pub fn update(&mut self, net: &SiameseNet) {
        let d = self.current_decay() as f32;
        let live = params_of(net);
        for ((_, _, avg), (_, _, w)) in self.tensors.iter_mut().zip(&live) {
            for (a, &x) in avg.iter_mut().zip(w) {
                *a = d * *a + (1.0 - d) * x;
            }
        }
        self.steps += 1;
    }

    /// Training steps taken, counted from the run's start.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The averaged tensors, named as in a checkpoint.
    pub fn tensors(&self) -> &Tensors {
        &self.tensors
    }

    /// A copy of `net` carrying the averaged weights and statistics.
    pub fn averaged(&self, net: &SiameseNet) -> SiameseNet {
        let mut out = net.clone();
        let (params, stats) = self.tensors.split_at(out.params.len());
        for (p, (_, _, v)) in out.params.iter_mut().zip(params) {
            p.value.copy_from(v);
        }
        for (s, pair) in out.bn_stats.iter_mut().zip(stats.chunks_exact(2)) {
            s.mean.copy_from_slice(&pair[0].2);
            s.var.copy_from_slice(&pair[1].2);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConvLayer, Distance, Loss, ModelConfig};

    fn net(seed: u64) -> SiameseNet {
        let config = ModelConfig {
            conv: vec![ConvLayer {
                filters: 2,
                kernel: 3,
                pool: false,
            }],
            batch_norm: true,
            ..ModelConfig::default()
        };
        SiameseNet::new(
            &config,
            Distance::L1,
            Loss::BinaryCrossEntropy,
            (6, 6),
            seed,
        )
        .expect("net")
    }

    fn flat(t: &Tensors) -> Vec<f32> {
        t.iter().flat_map(|(_, _, v)| v.iter().copied()).collect()
    }

    #[test]
    fn warm_up_then_the_configured_decay() {
        let mut avg = WeightAverage::new(0.99, &net(1), 0);
        assert!((avg.current_decay() - 0.1).abs() < 1e-12);
        for _ in 0..2000 {
            avg.update(&net(1));
        }
        assert_eq!(avg.steps(), 2000);
        assert!((avg.current_decay() - 0.99).abs() < 1e-12);
        // Started late in a run (a resume of a run without an average): no warm-up to speak of.
        assert!(WeightAverage::new(0.999, &net(1), 5120).current_decay() > 0.998);
    }

    #[test]
    fn each_update_mixes_in_the_live_weights_by_one_minus_the_decay() {
        let (a, b) = (net(1), net(2));
        let mut avg = WeightAverage::new(0.5, &a, 100); // past the warm-up: d = 0.5
        avg.update(&b);
        let expected: Vec<f32> = flat(&params_of(&a))
            .iter()
            .zip(flat(&params_of(&b)))
            .map(|(x, y)| 0.5 * x + 0.5 * y)
            .collect();
        let got = flat(avg.tensors());
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "{g} vs {e}");
        }
        // The averaged network carries exactly the averaged tensors, statistics included.
        let averaged = avg.averaged(&a);
        assert_eq!(flat(&params_of(&averaged)), got);
        assert_ne!(flat(&params_of(&averaged)), flat(&params_of(&a)));
    }

    #[test]
    fn resume_restores_order_and_refuses_a_different_network() {
        let (a, b) = (net(1), net(2));
        let mut avg = WeightAverage::new(0.9, &a, 0);
        avg.update(&b);
        let mut saved = avg.tensors().clone();
        saved.sort_by(|x, y| x.0.cmp(&y.0));
        let path = Path::new("average.safetensors");
        let back = WeightAverage::resume(0.9, &a, path, &saved, avg.steps()).expect("fits");
        assert_eq!(back, avg);
        saved.pop();
        assert!(WeightAverage::resume(0.9, &a, path, &saved, 1).is_err());
    }
}
