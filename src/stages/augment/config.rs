//! The RON settings of `Augment`, their checks, and building the per-worker runtime.

use serde::{Deserialize, Serialize};

use super::runtime::Augment;
use crate::engine::{PairBatch, TransformStage};
use crate::problem::Problem;
use crate::stages::{check_parallelism, Build, BuildContext, BuildError};

/// Settings of the `Augment` stage. Setting every strength to zero (or `enabled: false`)
/// makes the stage the identity, bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Augment at all; `false` passes every batch through untouched.
    pub enabled: bool,
    /// Probability that each affine parameter (θ, ρx, ρy, sx, sy, tx, ty) takes part.
    pub p: f64,
    /// Rotation, uniform in ±`rotation_deg` degrees.
    pub rotation_deg: f64,
    /// Shear, ρx and ρy each uniform in ±`shear`; below 1 so the map stays invertible.
    pub shear: f64,
    /// Smallest scale factor, drawn uniformly per axis in [`scale_min`, `scale_max`].
    pub scale_min: f64,
    /// Largest scale factor.
    pub scale_max: f64,
    /// Translation, tx and ty each uniform in ±`translate_px` pixels.
    pub translate_px: f64,
    /// Probability of a horizontal flip.
    pub flip: f64,
    /// Brightness jitter: a shift uniform in ±`brightness`, added to every pixel.
    pub brightness: f64,
    /// Contrast jitter: a factor uniform in [1 - `contrast`, 1 + `contrast`] about the mean.
    pub contrast: f64,
    /// Augmenting threads.
    pub workers: usize,
    /// Capacity of the output channel, in batches.
    pub capacity: usize,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            p: 0.5,
            rotation_deg: 10.0,
            shear: 0.3,
            scale_min: 0.8,
            scale_max: 1.2,
            translate_px: 2.0,
            flip: 0.5,
            brightness: 0.1,
            contrast: 0.1,
            workers: 2,
            capacity: 4,
        }
    }
}

/// Largest scale factor accepted, either way; more would leave little of a face.
const MAX_SCALE: f64 = 4.0;

impl AugmentConfig {
    /// The same settings with every strength zero: the identity.
    pub fn identity() -> Self {
        Self {
            p: 0.0,
            rotation_deg: 0.0,
            shear: 0.0,
            scale_min: 1.0,
            scale_max: 1.0,
            translate_px: 0.0,
            flip: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            ..Self::default()
        }
    }

    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        let mut range = |field: &str, v: f64, lo: f64, hi: f64, open_hi: bool| {
            let ok = v >= lo && if open_hi { v < hi } else { v <= hi };
            if !ok {
                let close = if open_hi { ')' } else { ']' };
                out.push(Problem::new(
                    format!("{path}.{field}"),
                    format!("must be in [{lo}, {hi}{close}, got {v}"),
                ));
            }
        };
        range("p", self.p, 0.0, 1.0, false);
        range("rotation_deg", self.rotation_deg, 0.0, 180.0, false);
        range("shear", self.shear, 0.0, 1.0, true);
        range(
            "scale_min",
            self.scale_min,
            1.0 / MAX_SCALE,
            MAX_SCALE,
            false,
        );
        range(
            "scale_max",
            self.scale_max,
            1.0 / MAX_SCALE,
            MAX_SCALE,
            false,
        );
        range("translate_px", self.translate_px, 0.0, 1000.0, false);
        range("flip", self.flip, 0.0, 1.0, false);
        range("brightness", self.brightness, 0.0, 1.0, false);
        range("contrast", self.contrast, 0.0, 1.0, false);
        if self.scale_min > self.scale_max {
            out.push(Problem::new(
                format!("{path}.scale_min"),
                format!(
                    "must be <= scale_max ({}), got {}",
                    self.scale_max, self.scale_min
                ),
            ));
        }
        check_parallelism(path, self.workers, self.capacity, out);
    }
}

impl Build<&BuildContext<'_>> for AugmentConfig {
    type Runtime = TransformStage<PairBatch, PairBatch>;

    /// One augmenter per worker, each drawing from the pipeline's seed.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Self::Runtime, BuildError> {
        Ok(TransformStage {
            name: "augment".into(),
            capacity: self.capacity,
            workers: (0..self.workers)
                .map(|_| Box::new(Augment::new(self.clone(), ctx.seed)) as Box<_>)
                .collect(),
        })
    }
}
