//! A PNG contact sheet of example pairs, to see at a glance what the network is asked.
//!
//! Same pairs fill the left column, different pairs the right; each pair is two
//! thumbnails side by side behind a green (same) or red (different) stripe.

use std::fs;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

use crate::data::{DataError, Dataset, Pair};

/// Stripe colour of a same pair.
const SAME: Rgb<u8> = Rgb([40, 170, 60]);
/// Stripe colour of a different pair.
const DIFFERENT: Rgb<u8> = Rgb([200, 40, 40]);
/// Sheet background.
const BACKGROUND: Rgb<u8> = Rgb([32, 32, 32]);
/// Width of the coloured stripe left of each pair, and the gap between things.
const STRIPE: u32 = 8;
const GAP: u32 = 6;

/// What goes on the sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SheetOptions {
    /// Same pairs shown (and as many different pairs, when there are that many).
    pub per_kind: usize,
    /// Side of each thumbnail in pixels.
    pub thumb: u32,
}

impl Default for SheetOptions {
    fn default() -> Self {
        Self {
            per_kind: 6,
            thumb: 96,
        }
    }
}

/// Draws example pairs from `pairs` and saves the sheet as PNG at `path` (parent folders
/// are created). Pairs are taken evenly spread over the file. Returns how many pairs
/// were drawn: (same, different).
///
/// # Errors
/// [`DataError::DecodeImage`] when an image cannot be read (a pair naming an image the
/// dataset lacks is reported the same way, with the path it would have),
/// [`DataError::WriteFile`] or [`DataError::EncodeImage`] when the sheet cannot be saved.
pub fn write_contact_sheet(
    path: &Path,
    dataset: &Dataset,
    pairs: &[Pair],
    opts: SheetOptions,
) -> Result<(usize, usize), DataError> {
    let (same, different): (Vec<&Pair>, Vec<&Pair>) = pairs.iter().partition(|p| p.is_same());
    let columns = [
        spread(&same, opts.per_kind),
        spread(&different, opts.per_kind),
    ];
    let rows = columns[0].len().max(columns[1].len()).max(1) as u32;
    let cell_w = STRIPE + 2 * opts.thumb + 2 * GAP;
    let cell_h = opts.thumb + GAP;
    let mut sheet = RgbImage::from_pixel(GAP + 2 * cell_w, GAP + rows * cell_h, BACKGROUND);
    for (col, chosen) in columns.iter().enumerate() {
        for (row, pair) in chosen.iter().enumerate() {
            let x = GAP + col as u32 * cell_w;
            let y = GAP + row as u32 * cell_h;
            draw_pair(&mut sheet, dataset, pair, (x, y), opts.thumb)?;
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| DataError::WriteFile {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    sheet.save(path).map_err(|source| DataError::EncodeImage {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((columns[0].len(), columns[1].len()))
}

/// Up to `count` items evenly spread over `items`, so the sheet is not all `A` names.
fn spread<'a>(items: &[&'a Pair], count: usize) -> Vec<&'a Pair> {
    let shown = count.min(items.len());
    (0..shown).map(|i| items[i * items.len() / shown]).collect()
}

/// Draws the stripe and both thumbnails of one pair with its top-left corner at `at`.
fn draw_pair(
    sheet: &mut RgbImage,
    dataset: &Dataset,
    pair: &Pair,
    at: (u32, u32),
    thumb: u32,
) -> Result<(), DataError> {
    let colour = if pair.is_same() { SAME } else { DIFFERENT };
    for dy in 0..thumb {
        for dx in 0..STRIPE {
            sheet.put_pixel(at.0 + dx, at.1 + dy, colour);
        }
    }
    for (i, key) in [&pair.a, &pair.b].into_iter().enumerate() {
        let path = dataset
            .get(key)
            .map_or_else(|| dataset.root.join(key.file_name()), |e| e.path.clone());
        let image = image::open(&path)
            .map_err(|source| DataError::DecodeImage { path, source })?
            .to_luma8();
        let small = imageops::resize(&image, thumb, thumb, FilterType::Triangle);
        let x = at.0 + STRIPE + GAP / 2 + i as u32 * (thumb + GAP / 2);
        for (px, py, p) in small.enumerate_pixels() {
            sheet.put_pixel(x + px, at.1 + py, Rgb([p[0], p[0], p[0]]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tempfile::TempDir;

    use super::*;
    use crate::data::synth::{generate, SynthOptions};
    use crate::data::{read_pairs, ImageKey};

    #[test]
    fn draws_pairs_with_coloured_stripes() {
        let dir = TempDir::new().expect("temp dir");
        let opts = SynthOptions {
            identities: 8,
            size: 32,
            ..SynthOptions::default()
        };
        let summary = generate(dir.path(), &opts).expect("synth");
        let dataset = Dataset::scan(dir.path()).expect("scan");
        let pairs = read_pairs(&summary.train_pairs).expect("pairs");
        let out = dir.path().join("nested/sheet.png");
        let sheet_opts = SheetOptions {
            per_kind: 3,
            thumb: 24,
        };
        let drawn = write_contact_sheet(&out, &dataset, &pairs, sheet_opts).expect("sheet");
        assert_eq!(drawn, (3, 3));
        let sheet = image::open(&out).expect("png").to_rgb8();
        let cell_w = STRIPE + 2 * 24 + 2 * GAP;
        assert_eq!(sheet.dimensions(), (GAP + 2 * cell_w, GAP + 3 * (24 + GAP)));
        assert_eq!(*sheet.get_pixel(GAP, GAP), SAME);
        assert_eq!(*sheet.get_pixel(GAP + cell_w, GAP), DIFFERENT);
    }

    #[test]
    fn missing_image_is_an_error_naming_it() {
        let dir = TempDir::new().expect("temp dir");
        let dataset = Dataset {
            root: dir.path().to_path_buf(),
            layout: crate::data::Layout::Flat,
            images: Vec::new(),
            skipped: Vec::new(),
        };
        let pair = Pair {
            a: ImageKey::new("Gone_Person", 1),
            b: ImageKey::new("Gone_Person", 2),
            line: 2,
            fold: 0,
        };
        let out = dir.path().join("sheet.png");
        let err = write_contact_sheet(&out, &dataset, &[pair], SheetOptions::default())
            .expect_err("missing");
        assert!(err.to_string().contains("Gone_Person_0001.jpg"), "{err}");
    }
}
