//! Procedural grayscale faces: one [`Face`] per identity, one [`Jitter`] per image.
//!
//! A face is a few shapes (head ellipse, hair, eyes, brows, nose, mouth) plus a striped
//! skin texture; identities differ in every proportion and tone, so a small CNN can tell
//! them apart, and images of one identity differ by shift, scale, tilt, lighting and noise,
//! so it cannot just memorise pixels. All lengths are fractions of the image side, which
//! keeps a face recognisable at any `--size`.

use std::f32::consts::TAU;

use image::GrayImage;
use rand::Rng;

/// The proportions and tones of one identity's face.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    background: f32,
    gradient: f32,
    head_rx: f32,
    head_ry: f32,
    skin: f32,
    hair: f32,
    hairline: f32,
    eye_dx: f32,
    eye_y: f32,
    eye_r: f32,
    brow_lift: f32,
    nose_len: f32,
    mouth_w: f32,
    mouth_y: f32,
    mouth_curve: f32,
    tex_freq: f32,
    tex_dir: (f32, f32),
    tex_amp: f32,
}

impl Face {
    /// Draws a random face from the identity's own random stream.
    pub fn random(rng: &mut impl Rng) -> Self {
        Self {
            background: rng.gen_range(20.0..110.0),
            gradient: rng.gen_range(-60.0..60.0),
            head_rx: rng.gen_range(0.24..0.34),
            head_ry: rng.gen_range(0.32..0.42),
            skin: rng.gen_range(130.0..225.0),
            hair: rng.gen_range(10.0..110.0),
            hairline: rng.gen_range(0.35..0.75),
            eye_dx: rng.gen_range(0.07..0.13),
            eye_y: rng.gen_range(-0.10..-0.02),
            eye_r: rng.gen_range(0.025..0.045),
            brow_lift: rng.gen_range(0.035..0.07),
            nose_len: rng.gen_range(0.06..0.13),
            mouth_w: rng.gen_range(0.05..0.12),
            mouth_y: rng.gen_range(0.13..0.21),
            mouth_curve: rng.gen_range(-0.03..0.03),
            tex_freq: rng.gen_range(3.0..14.0),
            tex_dir: rng.gen_range(0.0..TAU).sin_cos(),
            tex_amp: rng.gen_range(4.0..22.0),
        }
    }
}

/// How one image of an identity differs from the others.
#[derive(Debug, Clone, PartialEq)]
pub struct Jitter {
    dx: f32,
    dy: f32,
    scale: f32,
    tilt: f32,
    brightness: f32,
    contrast: f32,
    noise: f32,
    noise_seed: u64,
}

impl Jitter {
    /// Draws the variation of one image.
    pub fn random(rng: &mut impl Rng) -> Self {
        Self {
            dx: rng.gen_range(-0.03..0.03),
            dy: rng.gen_range(-0.03..0.03),
            scale: rng.gen_range(0.94..1.06),
            tilt: rng.gen_range(-0.08..0.08),
            brightness: rng.gen_range(-18.0..18.0),
            contrast: rng.gen_range(0.85..1.15),
            noise: rng.gen_range(3.0..10.0),
            noise_seed: rng.gen(),
        }
    }
}

/// Renders `face` with `jitter` as a `size` x `size` grayscale image.
pub fn render(face: &Face, jitter: &Jitter, size: u32) -> GrayImage {
    let side = size as f32;
    let (sin, cos) = jitter.tilt.sin_cos();
    // Shape edges blend over about one pixel, so small sizes stay smooth.
    let edge = 1.5 / side;
    GrayImage::from_fn(size, size, |x, y| {
        let u = (x as f32 + 0.5) / side - 0.5 - jitter.dx;
        let v = (y as f32 + 0.5) / side - 0.5 - jitter.dy;
        let (u, v) = (
            (cos * u + sin * v) / jitter.scale,
            (cos * v - sin * u) / jitter.scale,
        );
        let tone = shade(face, u, v, edge);
        let noise = jitter.noise * hash_unit(jitter.noise_seed, x, y);
        let value = (tone - 128.0) * jitter.contrast + 128.0 + jitter.brightness + noise;
        image::Luma([value.clamp(0.0, 255.0) as u8])
    })
}

/// The tone at face coordinates `(u, v)`: origin at the head's centre, v pointing down.
fn shade(face: &Face, u: f32, v: f32, edge: f32) -> f32 {
    let background = face.background + face.gradient * v;
    let head = inside_ellipse(u, v, face.head_rx, face.head_ry, edge);
    let mut tone = background;
    if head > 0.0 {
        let along = u * face.tex_dir.1 + v * face.tex_dir.0;
        let stripes = (TAU * face.tex_freq * along).sin();
        tone = mix(background, face.skin + face.tex_amp * stripes, head);
    }

    // Hair covers the top of the head and a rim around it above the hairline.
    let hair_zone = inside_ellipse(u, v, face.head_rx * 1.08, face.head_ry * 1.06, edge);
    let above = smooth_below(v, -face.head_ry * face.hairline, edge * 2.0);
    tone = mix(tone, face.hair, hair_zone * above);

    for side in [-1.0, 1.0] {
        let ex = u - side * face.eye_dx;
        let eye = inside_ellipse(ex, v - face.eye_y, face.eye_r, face.eye_r * 0.6, edge);
        tone = mix(tone, 35.0, eye);
        let pupil = inside_ellipse(ex, v - face.eye_y, face.eye_r * 0.4, face.eye_r * 0.4, edge);
        tone = mix(tone, 5.0, pupil);
        let brow_v = v - (face.eye_y - face.brow_lift);
        let brow = inside_ellipse(ex, brow_v, face.eye_r * 1.3, 0.008, edge);
        tone = mix(tone, face.hair, brow);
    }

    let nose_v = v - face.eye_y - face.nose_len / 2.0;
    let nose = inside_ellipse(u, nose_v, 0.012, face.nose_len / 2.0, edge);
    tone = mix(tone, face.skin * 0.75, nose);

    let across = (u / face.mouth_w).clamp(-1.0, 1.0);
    let mouth_v = v - face.mouth_y - face.mouth_curve * (across * across - 0.5);
    let mouth = inside_ellipse(u, mouth_v, face.mouth_w, 0.012, edge);
    mix(tone, 50.0, mouth)
}

// The per-pixel helpers are forced inline: the dev profile (opt-level 1) leaves them as
// calls otherwise, which made generation about 1.5x slower.

/// 1 inside the ellipse with radii `rx`, `ry` around the origin, 0 outside, soft at the rim.
#[inline(always)]
fn inside_ellipse(u: f32, v: f32, rx: f32, ry: f32, edge: f32) -> f32 {
    // Most pixels are far from any one feature: skip the square root for them.
    if u.abs() > rx + edge || v.abs() > ry + edge {
        return 0.0;
    }
    let (a, b) = (u / rx, v / ry);
    let r = (a * a + b * b).sqrt();
    // Distance from the rim, approximately, in image-side units.
    let outside = (r - 1.0) * rx.min(ry);
    smooth_below(outside, 0.0, edge)
}

/// 1 well below `limit`, 0 well above, a linear ramp `width` wide around it.
#[inline(always)]
fn smooth_below(value: f32, limit: f32, width: f32) -> f32 {
    (0.5 - (value - limit) / width).clamp(0.0, 1.0)
}

/// Blends from `a` (weight 0) to `b` (weight 1).
#[inline(always)]
fn mix(a: f32, b: f32, weight: f32) -> f32 {
    a + (b - a) * weight
}

/// A reproducible value in [-1, 1) for a pixel, from a SplitMix64-style hash; a per-pixel
/// RNG call would tie the noise to the order pixels are visited in.
fn hash_unit(seed: u64, x: u32, y: u32) -> f32 {
    let mut z = seed ^ ((u64::from(x) << 32) | u64::from(y)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Mean absolute pixel difference between two images of equal size.
    fn distance(a: &GrayImage, b: &GrayImage) -> f64 {
        let sum: f64 = a
            .pixels()
            .zip(b.pixels())
            .map(|(p, q)| (f64::from(p[0]) - f64::from(q[0])).abs())
            .sum();
        sum / f64::from(a.width() * a.height())
    }

    #[test]
    fn images_of_one_face_vary_less_than_images_of_two_faces() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let faces: Vec<Face> = (0..6).map(|_| Face::random(&mut rng)).collect();
        let mut within = 0.0;
        let mut between = 0.0;
        for pair in faces.windows(2) {
            let a1 = render(&pair[0], &Jitter::random(&mut rng), 64);
            let a2 = render(&pair[0], &Jitter::random(&mut rng), 64);
            let b = render(&pair[1], &Jitter::random(&mut rng), 64);
            within += distance(&a1, &a2);
            between += distance(&a1, &b);
        }
        assert!(within > 1.0, "images of one face must not be identical");
        assert!(between > within * 1.5, "within {within}, between {between}");
    }

    #[test]
    fn hash_unit_stays_in_range() {
        for (x, y) in [(0, 0), (1, 0), (0, 1), (249, 249), (u32::MAX, u32::MAX)] {
            let h = hash_unit(42, x, y);
            assert!((-1.0..1.0).contains(&h), "{h}");
        }
    }
}
