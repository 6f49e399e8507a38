//! `Augment`: random distortions of train pairs, each twin image on its own.
//!
//! The geometric part follows Koch, Zemel and Salakhutdinov (2015), *Siamese Neural Networks
//! for One-shot Image Recognition*, section 3.2: an affine map built from a rotation, a
//! shear, a scale and a translation, each of its seven parameters (θ, ρx, ρy, sx, sy, tx, ty)
//! taking part with probability `p`. Scale is per axis (sx and sy are drawn independently), as
//! Koch did; so is shear. The map is composed once per image and applied by bilinear sampling.
//! A horizontal flip and brightness/contrast jitter come after it.
//!
//! Only `Phase::Train` batches change; validation batches pass through untouched, so
//! thresholds and early stopping see the images as they are.
//!
//! Every draw for an image comes from a ChaCha8 generator keyed by (pipeline seed, epoch,
//! batch index, pair index, twin), so a run is the same whichever worker takes a batch.

mod config;
mod runtime;

pub use config::AugmentConfig;
pub use runtime::Augment;

#[cfg(test)]
mod tests;
