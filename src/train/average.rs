//! An exponential moving average of the weights (Polyak averaging), for `schedule.average`.
//!
//! Late in training the weights still jitter from batch to batch: the per-epoch validation
//! loss of the best pipeline moved by 10% between neighbouring epochs. Evaluating an average
//! of the recent weights instead of the last ones smooths that out. The live weights keep
//! training; the average only decides what is validated, kept as best and evaluated.
//! Batch norm's running statistics are averaged the same way, so they stay close to the
//! statistics of the averaged network.
//!
//! The backend keeps the averaged tensors where the weights live ([`Network::update_average`]);
//! this type keeps the warm-up, which is the same on every backend.

use crate::model::{ModelError, Network};

/// The decay schedule of the running average of a network's weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightAverage {
    decay: f64,
    /// Training steps taken, counted from the run's start, for the warm-up.
    steps: u64,
}

impl WeightAverage {
    /// An average `steps` training steps into the run (0 for a fresh run; a run resumed
    /// without an average has trained weights, and needs no warm-up to forget random ones).
    /// The network's average must be started or loaded by the caller.
    pub fn new(decay: f64, steps: u64) -> Self {
        Self { decay, steps }
    }

    /// The decay used for the next update: `decay`, or less early in the run, so that the
    /// average forgets the random initial weights quickly. The warm-up `(1 + n) / (10 + n)`
    /// after `n` training steps reaches 0.99 after about 900 and 0.999 after about 9,000.
    pub fn current_decay(&self) -> f64 {
        let n = self.steps as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// Moves `net`'s average towards its live weights: `avg = d * avg + (1 - d) * w`.
    ///
    /// # Errors
    /// The backend's, e.g. a network without a started average.
    pub fn update(&mut self, net: &mut dyn Network) -> Result<(), ModelError> {
        net.update_average(self.current_decay() as f32)?;
        self.steps += 1;
        Ok(())
    }

    /// Training steps taken, counted from the run's start.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{build, ConvLayer, Device, ModelConfig, NetSpec, Tensors, Weights};
    use crate::model::{Distance, Loss, OptimizerConfig};

    fn net(seed: u64) -> Box<dyn Network> {
        let model = ModelConfig {
            conv: vec![ConvLayer {
                filters: 2,
                kernel: 3,
                pool: false,
            }],
            batch_norm: true,
            ..ModelConfig::default()
        };
        let spec = NetSpec {
            model,
            loss: Loss::BinaryCrossEntropy,
            distance: Distance::L1,
            optimizer: OptimizerConfig::default(),
            input: (6, 6),
            seed,
        };
        build(Device::Cpu, spec).expect("net")
    }

    fn flat(t: &Tensors) -> Vec<f32> {
        t.iter().flat_map(|(_, _, v)| v.iter().copied()).collect()
    }

    #[test]
    fn warm_up_then_the_configured_decay() {
        let mut a = net(1);
        a.start_average().expect("start");
        let mut avg = WeightAverage::new(0.99, 0);
        assert!((avg.current_decay() - 0.1).abs() < 1e-12);
        for _ in 0..2000 {
            avg.update(a.as_mut()).expect("update");
        }
        assert_eq!(avg.steps(), 2000);
        assert!((avg.current_decay() - 0.99).abs() < 1e-12);
        // Started late in a run (a resume of a run without an average): no warm-up to speak of.
        assert!(WeightAverage::new(0.999, 5120).current_decay() > 0.998);
    }

    #[test]
    fn each_update_mixes_in_the_live_weights_by_one_minus_the_decay() {
        let (mut a, b) = (net(1), net(2));
        let (wa, wb) = (
            a.weights(Weights::Live).expect("a"),
            b.weights(Weights::Live).expect("b"),
        );
        a.start_average().expect("start");
        a.set_weights(Weights::Live, &wb).expect("b's weights");
        let mut avg = WeightAverage::new(0.5, 100); // past the warm-up: d = 0.5
        avg.update(a.as_mut()).expect("update");
        let expected: Vec<f32> = flat(&wa)
            .iter()
            .zip(flat(&wb))
            .map(|(x, y)| 0.5 * x + 0.5 * y)
            .collect();
        let got = flat(&a.weights(Weights::Average).expect("average"));
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-6, "{g} vs {e}");
        }
        // The averaged network scores with exactly the averaged tensors, statistics included.
        let pixels = vec![0.5; 36];
        let mut c = net(3);
        c.set_weights(Weights::Live, &a.weights(Weights::Average).expect("avg"))
            .expect("fits");
        assert_eq!(
            a.embed(Weights::Average, &pixels).expect("average"),
            c.embed(Weights::Live, &pixels).expect("live")
        );
        assert_ne!(
            a.embed(Weights::Average, &pixels).expect("average"),
            a.embed(Weights::Live, &pixels).expect("live")
        );
    }

    #[test]
    fn a_loaded_average_is_kept_in_layout_order_and_a_different_network_is_refused() {
        let (mut a, mut b) = (net(1), net(2));
        b.start_average().expect("start");
        let want = b.weights(Weights::Average).expect("average");
        let mut saved = want.clone();
        saved.sort_by(|x, y| x.0.cmp(&y.0));
        a.set_weights(Weights::Average, &saved).expect("fits");
        assert_eq!(a.weights(Weights::Average).expect("average"), want);
        saved.pop();
        assert!(a.set_weights(Weights::Average, &saved).is_err());
        assert!(matches!(
            net(4).update_average(0.5),
            Err(ModelError::NoAverage)
        ));
    }
}
