//! Crisp text for raster plots.
//!
//! plotters' `ab_glyph` renderer drops each glyph's left side bearing and its sub-pixel
//! position, so letters drift by a pixel or two ("fr action", "AU C") at label sizes.
//! [`CrispText`] wraps a raster backend and draws text itself from the same embedded
//! font, placing every glyph at its exact pen position; everything else, text
//! measurement included, goes to the wrapped backend, so layout is unchanged.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// The embedded font, parsed once. `None` if the bytes are not a font (a build fault).
pub(super) fn font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(ttf_noto_sans::REGULAR).ok())
        .as_ref()
}

/// A raster backend whose text is drawn with exact glyph positions.
pub(super) struct CrispText<B>(pub B);

/// Why the wrapped text could not be drawn: the font failed to parse.
#[derive(Debug, thiserror::Error)]
#[error("the embedded plot font is not a valid font")]
struct NoFont;

impl<B: DrawingBackend> DrawingBackend for CrispText<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        self.0.estimate_text_size(text, style)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let font = font().ok_or_else(|| DrawingErrorKind::FontError(Box::new(NoFont)))?;
        let (width, height) = self.estimate_text_size(text, style)?;
        let (width, height) = (width as i32, height as i32);
        // The same anchoring as plotters' default text drawing, so positions match the
        // layout plotters computed from the same measurements.
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        for (x, y, coverage) in rasterise(font, style.size() as f32, text) {
            let (x, y) = transform.transform(x + dx, y + dy);
            let ink = BackendColor {
                alpha: color.alpha * f64::from(coverage),
                rgb: color.rgb,
            };
            self.0.draw_pixel((pos.0 + x, pos.1 + y), ink)?;
        }
        Ok(())
    }
}

/// The width in pixels of `text` at `size` px, as [`write_on_image`] lays it out; 0 without
/// the font.
pub(crate) fn text_width(text: &str, size: f32) -> f32 {
    let Some(font) = font() else {
        return 0.0;
    };
    let scaled = font.as_scaled(PxScale::from(size));
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        previous = Some(id);
    }
    width
}

/// Writes `text` in `colour` onto `image`, `size` px high with the top of its tallest
/// letters at `at`, blended over what is there (pixels outside the image are dropped).
/// For raster images drawn without plotters, such as the data contact sheet.
pub(crate) fn write_on_image(
    image: &mut image::RgbImage,
    text: &str,
    at: (i32, i32),
    size: f32,
    colour: [u8; 3],
) {
    let Some(font) = font() else {
        return;
    };
    // `rasterise` puts the baseline size / 2 below its top; move it to the font's ascent.
    let ascent = font.as_scaled(PxScale::from(size)).ascent();
    let dy = at.1 + (ascent - size / 2.0).round() as i32;
    for (x, y, coverage) in rasterise(font, size, text) {
        let (x, y) = (at.0 + x, dy + y);
        if x < 0 || y < 0 || x >= image.width() as i32 || y >= image.height() as i32 {
            continue;
        }
        let pixel = image.get_pixel_mut(x as u32, y as u32);
        for (c, ink) in pixel.0.iter_mut().zip(colour) {
            let blended = f32::from(*c) + coverage * (f32::from(ink) - f32::from(*c));
            *c = blended.round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Coverage of every pixel `text` touches, relative to the top-left of its layout box.
/// The baseline sits `size / 2` below the top, where plotters' own renderer puts it.
fn rasterise(font: &FontRef<'static>, size: f32, text: &str) -> Vec<(i32, i32, f32)> {
    let scale = PxScale::from(size);
    let scaled = font.as_scaled(scale);
    let mut pixels = Vec::new();
    let mut caret = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = previous {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scale, ab_glyph::point(caret, size / 2.0));
        if let Some(outline) = font.outline_glyph(glyph) {
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| {
                if coverage > 0.0 {
                    pixels.push((x0 + x as i32, y0 + y as i32, coverage.min(1.0)));
                }
            });
        }
        caret += scaled.h_advance(id);
        previous = Some(id);
    }
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_keep_their_bearings_and_spaces() {
        let font = font().unwrap();
        let ink = |text: &str| {
            let mut columns: Vec<i32> = rasterise(font, 40.0, text).iter().map(|p| p.0).collect();
            columns.sort_unstable();
            columns.dedup();
            columns
        };
        // "l" starts at its left bearing, not at x = 0.
        assert!(ink("l")[0] > 0);
        // A space between two letters leaves blank columns between them.
        let columns = ink("l l");
        assert!(columns.windows(2).any(|w| w[1] - w[0] > 5), "{columns:?}");
        assert!(rasterise(font, 40.0, " ").is_empty());
    }
}
