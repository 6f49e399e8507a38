//! The resizer at run time: crop, then a 2x2 box for exact halving, bilinear sampling as
//! TensorFlow does it, or one of the image crate's filters.

use image::imageops::FilterType;

use super::{Crop, Filter};
use crate::engine::{ImageItem, StageContext, StageError, Transform};
use crate::stages::OnError;

/// The runtime resizer.
#[derive(Debug, Clone)]
pub struct Resize {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) filter: Filter,
    pub(super) crop: Option<Crop>,
    /// What to do with an image the crop box does not fit: the Decode stage's policy, since
    /// such an image is bad input like one that does not decode (`Abort` unless told).
    pub(super) on_error: OnError,
}

impl Resize {
    /// A resizer to `width` x `height` with `filter`.
    pub fn new(width: u32, height: u32, filter: Filter) -> Self {
        Self {
            width,
            height,
            filter,
            crop: None,
            on_error: OnError::Abort,
        }
    }

    /// The same resizer, applying `policy` to images it cannot crop.
    pub fn with_on_error(mut self, policy: OnError) -> Self {
        self.on_error = policy;
        self
    }

    /// Crops one row-major grayscale image (when a box is set), then resizes it.
    ///
    /// # Errors
    /// The crop box does not fit inside the image.
    pub fn crop_and_apply(&self, src: &[u8], sw: u32, sh: u32) -> Result<Vec<u8>, String> {
        match self.crop {
            None => Ok(self.apply(src, sw, sh)),
            Some(c) if c.fits(sw, sh) => Ok(self.apply(&c.cut(src, sw), c.width, c.height)),
            Some(c) => Err(format!(
                "crop box {},{} {}x{} does not fit in the image",
                c.x, c.y, c.width, c.height
            )),
        }
    }

    /// Resizes one row-major grayscale image (no crop).
    pub fn apply(&self, src: &[u8], sw: u32, sh: u32) -> Vec<u8> {
        let (dw, dh) = (self.width, self.height);
        if (sw, sh) == (dw, dh) {
            return src.to_vec();
        }
        match self.filter {
            Filter::Bilinear if sw == 2 * dw && sh == 2 * dh => {
                box2x(src, sw as usize, dw as usize, dh as usize)
            }
            Filter::Bilinear => bilinear(src, sw as usize, sh as usize, dw as usize, dh as usize),
            other => {
                let ty = match other {
                    Filter::Nearest => FilterType::Nearest,
                    Filter::CatmullRom => FilterType::CatmullRom,
                    Filter::Lanczos3 => FilterType::Lanczos3,
                    _ => FilterType::Triangle,
                };
                match image::GrayImage::from_raw(sw, sh, src.to_vec()) {
                    Some(img) => image::imageops::resize(&img, dw, dh, ty).into_raw(),
                    None => Vec::new(),
                }
            }
        }
    }
}

/// 2x2 box average with round-half-up, equal to TF bilinear for an exact 2x reduction.
pub(super) fn box2x(src: &[u8], sw: usize, dw: usize, dh: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(dw * dh);
    for y in 0..dh {
        let r0 = &src[2 * y * sw..][..2 * dw];
        let r1 = &src[(2 * y + 1) * sw..][..2 * dw];
        out.extend(r0.chunks_exact(2).zip(r1.chunks_exact(2)).map(|(a, b)| {
            let sum = u16::from(a[0]) + u16::from(a[1]) + u16::from(b[0]) + u16::from(b[1]);
            ((sum + 2) / 4) as u8
        }));
    }
    out
}

/// Halves a `width x height` image to `ceil(width / 2) x ceil(height / 2)` by 2x2 box
/// averages; an odd last column or row is paired with itself (as JPEG encoders pad).
pub(crate) fn halve(src: &[u8], width: usize, height: usize) -> Vec<u8> {
    if width.is_multiple_of(2) && height.is_multiple_of(2) {
        return box2x(src, width, width / 2, height / 2);
    }
    let at = |x: usize, y: usize| u16::from(src[y.min(height - 1) * width + x.min(width - 1)]);
    let (dw, dh) = (width.div_ceil(2), height.div_ceil(2));
    let mut out = Vec::with_capacity(dw * dh);
    for y in 0..dh {
        out.extend((0..dw).map(|x| {
            let (x, y) = (2 * x, 2 * y);
            ((at(x, y) + at(x + 1, y) + at(x, y + 1) + at(x + 1, y + 1) + 2) / 4) as u8
        }));
    }
    out
}

/// General bilinear with half-pixel centres, clamped at the borders.
pub(super) fn bilinear(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    let taps = |d: usize, s: usize| -> Vec<(usize, usize, f32)> {
        let scale = s as f32 / d as f32;
        (0..d)
            .map(|i| {
                let x = ((i as f32 + 0.5) * scale - 0.5).clamp(0.0, (s - 1) as f32);
                let x0 = x.floor() as usize;
                (x0, (x0 + 1).min(s - 1), x - x0 as f32)
            })
            .collect()
    };
    let (xs, ys) = (taps(dw, sw), taps(dh, sh));
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &ys {
        let (r0, r1) = (&src[y0 * sw..][..sw], &src[y1 * sw..][..sw]);
        out.extend(xs.iter().map(|&(x0, x1, fx)| {
            let top = f32::from(r0[x0]) * (1.0 - fx) + f32::from(r0[x1]) * fx;
            let bottom = f32::from(r1[x0]) * (1.0 - fx) + f32::from(r1[x1]) * fx;
            (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
        }));
    }
    out
}

impl Transform<ImageItem, ImageItem> for Resize {
    fn process(
        &mut self,
        img: ImageItem,
        ctx: &StageContext,
        out: &mut Vec<ImageItem>,
    ) -> Result<(), StageError> {
        if img.pixels.len() != img.width as usize * img.height as usize
            || img.width == 0
            || img.height == 0
        {
            return Err(StageError::BadImage {
                key: img.key.to_string(),
                width: img.width,
                height: img.height,
                reason: format!("{} bytes of pixels", img.pixels.len()),
            });
        }
        if self.crop.is_none() && (img.width, img.height) == (self.width, self.height) {
            // Already the size wanted (e.g. decoded at half scale): pass it on, no copy.
            out.push(img);
            return Ok(());
        }
        let pixels = match self.crop_and_apply(&img.pixels, img.width, img.height) {
            Ok(pixels) => pixels,
            Err(reason) => return self.on_error.bad_image(&img, reason, ctx),
        };
        out.push(ImageItem {
            key: img.key,
            width: self.width,
            height: self.height,
            pixels,
        });
        Ok(())
    }
}
