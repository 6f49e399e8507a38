//! The runtime augmenter: per-image draws, the affine map, bilinear sampling and jitter.
//!
//! Pixel centres sit at integer coordinates and the map turns about the image centre
//! `((w - 1) / 2, (h - 1) / 2)`. Each output pixel samples the input at the inverse map of
//! its position. Samples outside the image are clamped to the edge: a constant fill (even the
//! image mean) draws a hard frame that conv filters answer strongly and that is never in a
//! real photo, while clamping continues the background, which in LFW-a runs to the border.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::AugmentConfig;
use crate::engine::{PairBatch, Phase, StageContext, StageError, Transform};

/// The runtime augmenter; one per worker, each with its own scratch buffer.
#[derive(Debug, Clone)]
pub struct Augment {
    config: AugmentConfig,
    seed: u64,
    scratch: Vec<f32>,
}

/// The seven affine parameters of one image, as Koch et al. name them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Distortion {
    /// Rotation θ, in radians.
    pub theta: f64,
    /// Shear ρx (x moves by ρx·y).
    pub shear_x: f64,
    /// Shear ρy (y moves by ρy·x).
    pub shear_y: f64,
    /// Scale sx.
    pub scale_x: f64,
    /// Scale sy.
    pub scale_y: f64,
    /// Translation tx in pixels; positive moves the content right.
    pub tx: f64,
    /// Translation ty in pixels; positive moves the content down.
    pub ty: f64,
}

/// Everything drawn for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Draw {
    /// The affine distortion.
    pub distortion: Distortion,
    /// Mirror left-right.
    pub flip: bool,
    /// Added to every pixel.
    pub shift: f32,
    /// Contrast factor about the image mean.
    pub factor: f32,
}

/// Where output pixel `(x, y)` samples the input: `(m[0]x + m[1]y + b[0], m[2]x + m[3]y + b[1])`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct InverseMap {
    m: [f32; 4],
    b: [f32; 2],
}

impl Distortion {
    /// The inverse map for a `w` x `h` image, or `None` when the distortion is the identity.
    pub fn inverse_map(&self, w: usize, h: usize) -> Option<InverseMap> {
        let identity = self.theta == 0.0
            && self.shear_x == 0.0
            && self.shear_y == 0.0
            && self.scale_x == 1.0
            && self.scale_y == 1.0
            && self.tx == 0.0
            && self.ty == 0.0;
        if identity {
            return None;
        }
        let (sin, cos) = self.theta.sin_cos();
        // A = rotation · shear · scale, so the forward map is p' = A (p - c) + c + t.
        let shear_scale = [
            self.scale_x,
            self.shear_x * self.scale_y,
            self.shear_y * self.scale_x,
            self.scale_y,
        ];
        let a = mul([cos, -sin, sin, cos], shear_scale);
        let det = a[0] * a[3] - a[1] * a[2];
        let inv = [a[3] / det, -a[1] / det, -a[2] / det, a[0] / det];
        let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        let (ux, uy) = (cx + self.tx, cy + self.ty);
        let b = [
            cx - (inv[0] * ux + inv[1] * uy),
            cy - (inv[2] * ux + inv[3] * uy),
        ];
        Some(InverseMap {
            m: inv.map(|v| v as f32),
            b: b.map(|v| v as f32),
        })
    }
}

/// The product of two row-major 2x2 matrices.
fn mul(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
    ]
}

/// Draws one image's augmentation. Every draw happens whatever the settings, in a fixed
/// order, so changing one strength never reshuffles the others.
pub(super) fn draw(config: &AugmentConfig, rng: &mut ChaCha8Rng) -> Draw {
    let mut param = |neutral: f64, lo: f64, hi: f64| {
        let on = rng.gen::<f64>() < config.p;
        let u = rng.gen::<f64>();
        if on {
            lo + u * (hi - lo)
        } else {
            neutral
        }
    };
    let (r, s, t) = (
        config.rotation_deg.to_radians(),
        config.shear,
        config.translate_px,
    );
    let distortion = Distortion {
        theta: param(0.0, -r, r),
        shear_x: param(0.0, -s, s),
        shear_y: param(0.0, -s, s),
        scale_x: param(1.0, config.scale_min, config.scale_max),
        scale_y: param(1.0, config.scale_min, config.scale_max),
        tx: param(0.0, -t, t),
        ty: param(0.0, -t, t),
    };
    let flip = rng.gen::<f64>() < config.flip;
    let shift = (rng.gen::<f64>() * 2.0 - 1.0) * config.brightness;
    let factor = 1.0 + (rng.gen::<f64>() * 2.0 - 1.0) * config.contrast;
    Draw {
        distortion,
        flip,
        shift: shift as f32,
        factor: factor as f32,
    }
}

/// The generator of one image, keyed by everything that names it and nothing else.
pub(super) fn image_rng(
    seed: u64,
    epoch: usize,
    index: usize,
    pair: usize,
    twin: usize,
) -> ChaCha8Rng {
    let words = [
        seed,
        epoch as u64,
        index as u64,
        (pair as u64) << 1 | twin as u64,
    ];
    let mut key = [0u8; 32];
    for (bytes, word) in key.chunks_exact_mut(8).zip(words) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Bilinear sampling of `src` through `map` into `dst`, clamping to the edge.
pub(super) fn warp(src: &[f32], dst: &mut [f32], w: usize, map: &InverseMap) {
    let h = src.len() / w;
    let (xmax, ymax) = ((w - 1) as f32, (h - 1) as f32);
    let [m0, m1, m2, m3] = map.m;
    for (y, row) in dst.chunks_exact_mut(w).enumerate() {
        let yf = y as f32;
        let (bx, by) = (m1 * yf + map.b[0], m3 * yf + map.b[1]);
        for (x, out) in row.iter_mut().enumerate() {
            let xf = x as f32;
            let sx = (m0 * xf + bx).clamp(0.0, xmax);
            let sy = (m2 * xf + by).clamp(0.0, ymax);
            let (x0, y0) = (sx as usize, sy as usize);
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let x1 = (x0 + 1).min(w - 1);
            let (r0, r1) = (&src[y0 * w..][..w], &src[(y0 + 1).min(h - 1) * w..][..w]);
            let top = r0[x0] * (1.0 - fx) + r0[x1] * fx;
            let bottom = r1[x0] * (1.0 - fx) + r1[x1] * fx;
            *out = top * (1.0 - fy) + bottom * fy;
        }
    }
}

/// Mirrors every row of a row-major image.
pub(super) fn flip_rows(img: &mut [f32], w: usize) {
    for row in img.chunks_exact_mut(w) {
        row.reverse();
    }
}

/// Brightness and contrast: `(v - mean) * factor + mean + shift`, clamped to [0, 1].
fn jitter(img: &mut [f32], shift: f32, factor: f32) {
    let mean = (img.iter().map(|&v| f64::from(v)).sum::<f64>() / img.len() as f64) as f32;
    for v in img {
        *v = ((*v - mean) * factor + mean + shift).clamp(0.0, 1.0);
    }
}

impl Augment {
    /// An augmenter drawing from `seed`, the pipeline's seed.
    pub fn new(config: AugmentConfig, seed: u64) -> Self {
        Self {
            config,
            seed,
            scratch: Vec::new(),
        }
    }

    /// Augments a train batch in place; other batches, or a disabled stage, change nothing.
    ///
    /// # Errors
    /// [`StageError::BadImage`] when a tensor's length does not match the batch's shape.
    pub fn augment(&mut self, batch: &mut PairBatch) -> Result<(), StageError> {
        if !self.config.enabled || batch.phase != Phase::Train {
            return Ok(());
        }
        let n = batch.height * batch.width;
        let want = batch.len() * n;
        for (side, tensor) in [("left", &batch.left), ("right", &batch.right)] {
            if tensor.len() != want {
                return Err(StageError::BadImage {
                    key: format!("in train batch {} of epoch {}", batch.index, batch.epoch),
                    width: batch.width as u32,
                    height: batch.height as u32,
                    reason: format!(
                        "the {side} tensor holds {} values for {} pairs",
                        tensor.len(),
                        batch.len()
                    ),
                });
            }
        }
        if n == 0 {
            return Ok(());
        }
        let PairBatch {
            epoch,
            index,
            width,
            left,
            right,
            ..
        } = batch;
        for (twin, tensor) in [left, right].into_iter().enumerate() {
            for (pair, img) in tensor.chunks_exact_mut(n).enumerate() {
                let mut rng = image_rng(self.seed, *epoch, *index, pair, twin);
                self.image(img, *width, &draw(&self.config, &mut rng));
            }
        }
        Ok(())
    }

    /// Applies one draw to one image: warp, flip, then brightness and contrast.
    pub(super) fn image(&mut self, img: &mut [f32], w: usize, d: &Draw) {
        if let Some(map) = d.distortion.inverse_map(w, img.len() / w) {
            self.scratch.clear();
            self.scratch.extend_from_slice(img);
            warp(&self.scratch, img, w, &map);
            for v in img.iter_mut() {
                *v = v.clamp(0.0, 1.0);
            }
        }
        if d.flip {
            flip_rows(img, w);
        }
        if d.shift != 0.0 || d.factor != 1.0 {
            jitter(img, d.shift, d.factor);
        }
    }
}

impl Transform<PairBatch, PairBatch> for Augment {
    fn process(
        &mut self,
        mut batch: PairBatch,
        _ctx: &StageContext,
        out: &mut Vec<PairBatch>,
    ) -> Result<(), StageError> {
        self.augment(&mut batch)?;
        out.push(batch);
        Ok(())
    }
}
