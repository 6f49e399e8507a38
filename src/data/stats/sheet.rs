//! A PNG contact sheet of example pairs, to see at a glance what the network is asked.
//!
//! A title says what the sheet shows; same pairs fill the left column, different pairs the
//! right, each headed by its key (the stripe colour and what it means); each pair is two
//! thumbnails side by side behind a green (same) or red (different) stripe, with the
//! identities' names under them.

use std::fs;
use std::path::Path;

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

use crate::data::{DataError, Dataset, ImageKey, Pair};
use crate::eval::plot::{text_width, write_on_image};

/// Stripe colour of a same pair.
const SAME: Rgb<u8> = Rgb([40, 170, 60]);
/// Stripe colour of a different pair.
const DIFFERENT: Rgb<u8> = Rgb([200, 40, 40]);
/// Sheet background.
const BACKGROUND: Rgb<u8> = Rgb([32, 32, 32]);
/// Width of the coloured stripe left of each pair, and the gap between things.
const STRIPE: u32 = 8;
const GAP: u32 = 6;
/// Text: the title's and the column keys' size, the names' size (px), and the colours.
const TITLE_PX: f32 = 16.0;
const NAME_PX: f32 = 12.0;
const TEXT: [u8; 3] = [235, 235, 235];
const NAME_TEXT: [u8; 3] = [190, 190, 190];
/// Height of the title line, of the column key line, and of the name line under a pair.
const TITLE_H: u32 = 24;
const KEY_H: u32 = 22;
const NAME_H: u32 = 16;
/// Everything above the first pair.
const HEADER: u32 = GAP + TITLE_H + KEY_H;

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
    let cell_h = opts.thumb + NAME_H + GAP;
    let mut sheet = RgbImage::from_pixel(GAP + 2 * cell_w, HEADER + rows * cell_h, BACKGROUND);
    let title = format!(
        "Example train pairs: {} same, {} different",
        columns[0].len(),
        columns[1].len()
    );
    let width = sheet.width() - 2 * GAP;
    write_on_image(
        &mut sheet,
        &fit(&title, TITLE_PX, width),
        (GAP as i32, GAP as i32),
        TITLE_PX,
        TEXT,
    );
    for (col, (colour, meaning)) in [(SAME, "same person"), (DIFFERENT, "different people")]
        .into_iter()
        .enumerate()
    {
        // The key: a patch of the stripe colour and what it means, over its column.
        let (x, y) = (GAP + col as u32 * cell_w, GAP + TITLE_H);
        fill(&mut sheet, (x, y + 3), (STRIPE, KEY_H - 10), colour);
        let label = fit(meaning, TITLE_PX, cell_w - STRIPE - 2 * GAP);
        write_on_image(
            &mut sheet,
            &label,
            ((x + STRIPE + GAP) as i32, y as i32),
            TITLE_PX,
            TEXT,
        );
    }
    for (col, chosen) in columns.iter().enumerate() {
        for (row, pair) in chosen.iter().enumerate() {
            let x = GAP + col as u32 * cell_w;
            let y = HEADER + row as u32 * cell_h;
            draw_pair(&mut sheet, dataset, pair, (x, y), opts.thumb)?;
            draw_names(&mut sheet, pair, (x, y + opts.thumb + 2), opts.thumb);
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

/// Writes the pair's identities under its thumbnails: a same pair's name once across
/// both, a different pair's each under its own.
fn draw_names(sheet: &mut RgbImage, pair: &Pair, at: (u32, u32), thumb: u32) {
    let x = at.0 + STRIPE + GAP / 2;
    let (x, y) = (x as i32, at.1 as i32);
    if pair.is_same() {
        let name = fit(&shown(&pair.a), NAME_PX, 2 * thumb + GAP / 2);
        write_on_image(sheet, &name, (x, y), NAME_PX, NAME_TEXT);
    } else {
        for (i, key) in [&pair.a, &pair.b].into_iter().enumerate() {
            let name = fit(&shown(key), NAME_PX, thumb);
            let x = x + (i as u32 * (thumb + GAP / 2)) as i32;
            write_on_image(sheet, &name, (x, y), NAME_PX, NAME_TEXT);
        }
    }
}

/// An identity as a person reads it: `George_W_Bush` is "George W Bush".
fn shown(key: &ImageKey) -> String {
    key.name.replace('_', " ")
}

/// `text`, cut short with "…" where it would be wider than `width` px at `size` px.
fn fit(text: &str, size: f32, width: u32) -> String {
    let width = width as f32;
    if text_width(text, size) <= width {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>().trim_end().to_string() + "…";
        if text_width(&cut, size) <= width {
            return cut;
        }
    }
    String::new()
}

/// Fills a `size` rectangle with its top-left corner at `at`.
fn fill(sheet: &mut RgbImage, at: (u32, u32), size: (u32, u32), colour: Rgb<u8>) {
    for dy in 0..size.1 {
        for dx in 0..size.0 {
            sheet.put_pixel(at.0 + dx, at.1 + dy, colour);
        }
    }
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
    fill(sheet, at, (STRIPE, thumb), colour);
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
        let cell_h = 24 + NAME_H + GAP;
        assert_eq!(sheet.dimensions(), (GAP + 2 * cell_w, HEADER + 3 * cell_h));
        assert_eq!(*sheet.get_pixel(GAP, HEADER), SAME);
        assert_eq!(*sheet.get_pixel(GAP + cell_w, HEADER), DIFFERENT);
        // The key's colour patches head their columns.
        assert_eq!(*sheet.get_pixel(GAP, GAP + TITLE_H + 5), SAME);
        assert_eq!(*sheet.get_pixel(GAP + cell_w, GAP + TITLE_H + 5), DIFFERENT);
        // Title and names are written: light pixels in the title line and under a pair.
        let light = |x0: u32, y0: u32, w: u32, h: u32| {
            (x0..x0 + w)
                .flat_map(|x| (y0..y0 + h).map(move |y| (x, y)))
                .filter(|&(x, y)| sheet.get_pixel(x, y).0.iter().all(|&c| c > 150))
                .count()
        };
        assert!(
            light(GAP, GAP, sheet.width() - 2 * GAP, TITLE_H) > 30,
            "no title"
        );
        assert!(light(GAP, HEADER + 24, cell_w, NAME_H) > 10, "no names");
    }

    #[test]
    fn long_text_is_cut_to_fit() {
        assert_eq!(fit("Ann", 12.0, 200), "Ann");
        let cut = fit("Arnold Schwarzenegger", 12.0, 60);
        assert!(
            cut.ends_with('…') && text_width(&cut, 12.0) <= 60.0,
            "{cut}"
        );
        assert_eq!(shown(&ImageKey::new("George_W_Bush", 1)), "George W Bush");
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
