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

use serde::{Deserialize, Serialize};

mod gate;
mod runtime;
#[cfg(test)]
mod tests;

pub use gate::SizeGate;
pub(crate) use runtime::halve;
pub use runtime::Resize;

use super::{Build, BuildContext, BuildError};
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
            on_error: super::OnError::Abort,
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
