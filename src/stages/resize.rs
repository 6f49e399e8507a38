//! `Resize`: scales grayscale images, by default 250x250 -> 125x125.
//!
//! The default filter, `Bilinear`, samples like TensorFlow's `tf.image.resize` without
//! antialiasing (pixel centres at +0.5), which is what the seed study fed its network; for an
//! exact 2x reduction that is a 2x2 box average, so it gets a dedicated fast path. An image
//! already at the wanted size (e.g. decoded with `scale: Half`) passes through untouched.
//!
//! An optional `crop` box is cut out first: LFW-a's faces fill only the middle of each
//! 250x250 frame, and the background around them is mostly noise for verification.
//!
//! The resize has no threads of its own: each Decode worker resizes what it decoded.

use image::imageops::FilterType;
use serde::{Deserialize, Serialize};

use super::{Build, BuildContext, BuildError};
use crate::engine::{ImageItem, StageContext, StageError, Transform};
use crate::problem::Problem;

/// Settings of the `Resize` stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResizeConfig {
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Resampling filter.
    pub filter: Filter,
    /// A box cut out of the source image before resizing (in source pixels); `None` keeps
    /// the whole image.
    pub crop: Option<Crop>,
    /// Deprecated and ignored: the resize runs inside the Decode workers (a separate stage
    /// cost a channel and a thread wake-up per image). Still read, with a warning, so that
    /// older pipeline files parse.
    #[serde(skip_serializing)]
    pub workers: Option<usize>,
    /// Deprecated and ignored, like `workers`.
    #[serde(skip_serializing)]
    pub capacity: Option<usize>,
}

impl Default for ResizeConfig {
    fn default() -> Self {
        Self {
            width: 125,
            height: 125,
            filter: Filter::Bilinear,
            crop: None,
            workers: None,
            capacity: None,
        }
    }
}

/// A rectangle of the source image, in pixels from its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width of the box.
    pub width: u32,
    /// Height of the box.
    pub height: u32,
}

impl Crop {
    /// A short tag for cache names and keys, e.g. `crop61,61,128x128`.
    pub fn tag(self) -> String {
        format!("crop{},{},{}x{}", self.x, self.y, self.width, self.height)
    }

    /// Whether the box fits inside a `width` x `height` image.
    pub fn fits(self, width: u32, height: u32) -> bool {
        u64::from(self.x) + u64::from(self.width) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(height)
    }

    /// The box's pixels, row-major.
    fn cut(self, src: &[u8], sw: u32) -> Vec<u8> {
        let (x, w, sw) = (self.x as usize, self.width as usize, sw as usize);
        let mut out = Vec::with_capacity(w * self.height as usize);
        for row in self.y as usize..(self.y + self.height) as usize {
            out.extend_from_slice(&src[row * sw + x..][..w]);
        }
        out
    }
}

/// A resampling filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Filter {
    /// TensorFlow-style bilinear without antialiasing (the seed's preprocessing).
    #[default]
    Bilinear,
    /// Nearest neighbour.
    Nearest,
    /// Antialiased linear (the image crate's `Triangle`).
    Triangle,
    /// Antialiased cubic.
    CatmullRom,
    /// Antialiased Lanczos with window 3.
    Lanczos3,
}

impl Filter {
    /// The name recorded in cache keys.
    pub fn name(self) -> &'static str {
        match self {
            Filter::Bilinear => "bilinear",
            Filter::Nearest => "nearest",
            Filter::Triangle => "triangle",
            Filter::CatmullRom => "catmull-rom",
            Filter::Lanczos3 => "lanczos3",
        }
    }
}

impl ResizeConfig {
    /// Appends every problem of this config, each named by its RON path.
    pub fn problems(&self, path: &str, out: &mut Vec<Problem>) {
        for (field, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > 4096 {
                out.push(Problem::new(
                    format!("{path}.{field}"),
                    format!("must be in 1..=4096, got {v}"),
                ));
            }
        }
        if let Some(c) = self.crop {
            for (field, v) in [("width", c.width), ("height", c.height)] {
                if v == 0 {
                    out.push(Problem::new(
                        format!("{path}.crop.{field}"),
                        "must be > 0".to_string(),
                    ));
                }
            }
        }
    }

    /// Appends a warning for every deprecated field this config sets.
    pub fn deprecations(&self, path: &str, out: &mut Vec<Problem>) {
        for (field, set) in [("workers", self.workers), ("capacity", self.capacity)] {
            if set.is_some() {
                out.push(Problem::new(
                    format!("{path}.{field}"),
                    "deprecated and ignored: Resize runs inside the Decode workers (set \
                     Decode's workers and capacity); remove it",
                ));
            }
        }
    }

    /// The resizer these settings describe.
    pub fn resizer(&self) -> Resize {
        Resize {
            width: self.width,
            height: self.height,
            filter: self.filter,
            crop: self.crop,
        }
    }

    /// What the cache records about this resize: the filter, and the crop when there is one.
    pub fn cache_tag(&self) -> String {
        match self.crop {
            Some(c) => format!("{}-{}", self.filter.name(), c.tag()),
            None => self.filter.name().to_string(),
        }
    }
}

impl Build<&BuildContext<'_>> for ResizeConfig {
    type Runtime = Resize;

    /// The resizer; it runs inside the decode workers, each resizing what it decoded (on two
    /// cores a stage of its own costs a channel hand-off and a thread wake-up per image,
    /// more than the resize).
    fn build(&self, _ctx: &BuildContext<'_>) -> Result<Resize, BuildError> {
        Ok(self.resizer())
    }
}

/// The runtime resizer.
#[derive(Debug, Clone)]
pub struct Resize {
    width: u32,
    height: u32,
    filter: Filter,
    crop: Option<Crop>,
}

impl Resize {
    /// A resizer to `width` x `height` with `filter`.
    pub fn new(width: u32, height: u32, filter: Filter) -> Self {
        Self {
            width,
            height,
            filter,
            crop: None,
        }
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
fn box2x(src: &[u8], sw: usize, dw: usize, dh: usize) -> Vec<u8> {
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
fn bilinear(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
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
        _ctx: &StageContext,
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
        let pixels = self
            .crop_and_apply(&img.pixels, img.width, img.height)
            .map_err(|reason| StageError::BadImage {
                key: img.key.to_string(),
                width: img.width,
                height: img.height,
                reason,
            })?;
        out.push(ImageItem {
            key: img.key,
            width: self.width,
            height: self.height,
            pixels,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_halving_is_a_rounded_box_average() {
        let src = [
            10, 20, 30, 41, 50, 60, 70, 80, 0, 0, 255, 255, 0, 1, 255, 255,
        ];
        let out = Resize::new(2, 2, Filter::Bilinear).apply(&src, 4, 4);
        // (10+20+50+60)/4 = 35, (30+41+70+80)/4 = 55.25, (0+0+0+1)/4 = 0.25, 255.
        assert_eq!(out, vec![35, 55, 0, 255]);
    }

    #[test]
    fn general_bilinear_matches_the_fast_path_on_halving_and_keeps_constants() {
        let src: Vec<u8> = (0..36u32).map(|i| (i * 7 % 251) as u8).collect();
        let fast = box2x(&src, 6, 3, 3);
        let slow = bilinear(&src, 6, 6, 3, 3);
        for (a, b) in fast.iter().zip(&slow) {
            assert!(a.abs_diff(*b) <= 1, "{fast:?} vs {slow:?}");
        }
        let flat = vec![77u8; 250 * 250];
        for filter in [
            Filter::Bilinear,
            Filter::Nearest,
            Filter::Triangle,
            Filter::Lanczos3,
        ] {
            let out = Resize::new(125, 100, filter).apply(&flat, 250, 250);
            assert_eq!(out.len(), 125 * 100);
            assert!(out.iter().all(|&p| p == 77), "{filter:?}");
        }
    }

    #[test]
    fn crop_cuts_the_box_before_resizing_and_rejects_boxes_outside() {
        // A 6x4 ramp: pixel (x, y) = 10 * y + x.
        let src: Vec<u8> = (0..4u8)
            .flat_map(|y| (0..6u8).map(move |x| 10 * y + x))
            .collect();
        let crop = Crop {
            x: 2,
            y: 1,
            width: 2,
            height: 2,
        };
        let mut r = Resize::new(2, 2, Filter::Bilinear);
        r.crop = Some(crop);
        assert_eq!(r.crop_and_apply(&src, 6, 4).unwrap(), vec![12, 13, 22, 23]);
        r.width = 1;
        r.height = 1;
        // (12 + 13 + 22 + 23 + 2) / 4 = 18.
        assert_eq!(r.crop_and_apply(&src, 6, 4).unwrap(), vec![18]);
        let err = r.crop_and_apply(&src, 3, 8).unwrap_err();
        assert!(err.contains("does not fit"), "{err}");
        assert_eq!(crop.tag(), "crop2,1,2x2");
    }

    #[test]
    fn a_zero_crop_is_a_problem_with_its_path() {
        let config = ResizeConfig {
            crop: Some(Crop {
                x: 0,
                y: 0,
                width: 0,
                height: 5,
            }),
            ..ResizeConfig::default()
        };
        let mut out = Vec::new();
        config.problems("stages[1]", &mut out);
        assert_eq!(out.len(), 1);
        assert!(
            out[0].to_string().contains("stages[1].crop.width"),
            "{}",
            out[0]
        );
    }

    #[test]
    fn halve_pairs_an_odd_edge_with_itself_and_matches_the_box_on_even_sizes() {
        // 3x3 -> 2x2: the last column and row average with themselves.
        let src = [0, 4, 8, 12, 16, 20, 24, 28, 32];
        assert_eq!(halve(&src, 3, 3), vec![8, 14, 26, 32]);
        let even: Vec<u8> = (0..48u32).map(|i| (i * 11 % 256) as u8).collect();
        assert_eq!(halve(&even, 8, 6), box2x(&even, 8, 4, 3));
    }

    #[test]
    fn an_image_already_at_the_target_size_passes_through() {
        let img = ImageItem {
            key: crate::data::ImageKey {
                name: "A".into(),
                number: 1,
            },
            width: 3,
            height: 2,
            pixels: vec![1, 2, 3, 4, 5, 6],
        };
        let ctx = StageContext::detached("resize");
        let mut out = Vec::new();
        Resize::new(3, 2, Filter::Lanczos3)
            .process(img.clone(), &ctx, &mut out)
            .unwrap();
        assert_eq!(out, vec![img]);
    }

    #[test]
    fn upscaling_works_too() {
        let out = Resize::new(5, 3, Filter::Bilinear).apply(&[0, 100, 200, 50], 2, 2);
        assert_eq!(out.len(), 15);
    }

    #[test]
    fn the_deprecated_thread_settings_still_parse_with_a_warning_each() {
        use crate::pipeline::validate::{parse, plan};
        let ron = "Pipeline(stages: [Decode(()), Resize((workers: 2, capacity: 8)), Sink(Count)])";
        let planned = plan(parse(ron, std::path::Path::new("old.ron")).expect("parses"))
            .expect("still valid");
        let paths: Vec<&str> = planned.warnings.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(paths, ["stages[1].workers", "stages[1].capacity"]);
        assert!(planned.warnings[0].message.contains("ignored"));
        // A run folder's copy of the pipeline is written without them.
        let resize = planned.resize.expect("a Resize stage");
        let text = ron::to_string(&resize).expect("ron");
        assert!(
            !text.contains("workers") && !text.contains("capacity"),
            "{text}"
        );
        let ron = "Pipeline(stages: [Decode(()), Resize(()), Sink(Count)])";
        let planned =
            plan(parse(ron, std::path::Path::new("new.ron")).expect("parses")).expect("valid");
        assert!(planned.warnings.is_empty());
    }
}
