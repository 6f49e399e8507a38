//! A small synthetic LFW: procedural faces in the real layout, with real-format pairs files.
//!
//! Tests and CI cannot ship LFW faces, so [`generate`] writes `DIR/lfw2/<Name>/<Name>_NNNN.jpg`
//! plus `DIR/pairsDevTrain.txt` and `DIR/pairsDevTest.txt`, with train and test identities
//! disjoint and some identities unused, exactly as the real dataset is organised. The same
//! options give byte-identical files: every identity draws from its own `ChaCha8` stream.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, GrayImage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{render_pairs, DataError, ImageKey, Pair};

pub mod face;
pub mod names;
pub mod prepare;

pub use prepare::{prepare, Prepared};

/// The file [`generate`] leaves in its output: the options it used, in RON. Its presence
/// is what lets [`remove_previous`] replace the folder.
pub const MARKER: &str = "synth.ron";

/// What to generate. Defaults are small enough for CI: 30 train, 12 test and 6 unused
/// identities of 2-6 images at 250 x 250, written in well under a second. A pipeline's
/// `data.synth` holds these too (`pipelines/demo.ron`), to make its dataset on first use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthOptions {
    /// Seed of every random choice; the same seed gives byte-identical output.
    pub seed: u64,
    /// Identities in all: a quarter go to test, an eighth are unused, the rest train.
    pub identities: usize,
    /// Side of the square images in pixels (LFW-a's is 250).
    pub size: u32,
    /// Fewest images per train or test identity (at least 2, so each can form same pairs).
    pub min_images: u32,
    /// Most images per identity.
    pub max_images: u32,
    /// Extra files of unused identities that are truncated, undecodable JPEGs.
    pub corrupt: usize,
    /// JPEG quality, 1-100.
    pub quality: u8,
}

impl Default for SynthOptions {
    fn default() -> Self {
        Self {
            seed: 7,
            identities: 48,
            size: 250,
            min_images: 2,
            max_images: 6,
            corrupt: 0,
            quality: 90,
        }
    }
}

impl SynthOptions {
    /// Every problem with these options, naming the field; empty when they are usable.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(8..=names::MAX_NAMES).contains(&self.identities) {
            problems.push(format!(
                "`identities` must be 8 to {}, found {}",
                names::MAX_NAMES,
                self.identities
            ));
        }
        if !(32..=1024).contains(&self.size) {
            problems.push(format!("`size` must be 32 to 1024, found {}", self.size));
        }
        if self.min_images < 2 {
            problems.push(format!(
                "`min_images` must be at least 2, found {}",
                self.min_images
            ));
        }
        if !(self.min_images..=99).contains(&self.max_images) {
            problems.push(format!(
                "`max_images` must be from `min_images` ({}) to 99, found {}",
                self.min_images, self.max_images
            ));
        }
        if self.corrupt > 1000 {
            problems.push(format!(
                "`corrupt` must be at most 1000, found {}",
                self.corrupt
            ));
        }
        if !(1..=100).contains(&self.quality) {
            problems.push(format!(
                "`quality` must be 1 to 100, found {}",
                self.quality
            ));
        }
        problems
    }

    /// These options in RON, as [`MARKER`] records them.
    pub fn to_ron(&self) -> String {
        // Written by hand: every field is a plain number, and this cannot fail.
        format!(
            "// Written by `twinflow data synth`; `--force` may replace this folder.\n\
             (seed: {}, identities: {}, size: {}, min_images: {}, max_images: {}, \
             corrupt: {}, quality: {})\n",
            self.seed,
            self.identities,
            self.size,
            self.min_images,
            self.max_images,
            self.corrupt,
            self.quality
        )
    }

    /// How many identities go to train, test and unused.
    pub fn split_counts(&self) -> [usize; 3] {
        let test = (self.identities + 2) / 4;
        let unused = (self.identities + 4) / 8;
        [self.identities.saturating_sub(test + unused), test, unused]
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSummary {
    /// The output folder.
    pub root: PathBuf,
    /// The image folder, `root/lfw2`.
    pub images_dir: PathBuf,
    /// `root/pairsDevTrain.txt`.
    pub train_pairs: PathBuf,
    /// `root/pairsDevTest.txt`.
    pub test_pairs: PathBuf,
    /// Identities per split: train, test, unused.
    pub identities: [usize; 3],
    /// Valid images written.
    pub images: usize,
    /// Same pairs (and as many different pairs) in the train and test files.
    pub pairs_per_side: [usize; 2],
    /// The undecodable files written by `corrupt`.
    pub corrupt: Vec<PathBuf>,
}

/// One synthetic person.
struct Identity {
    name: String,
    images: u32,
}

/// Writes a synthetic dataset into `out` (created if needed).
///
/// # Errors
/// [`DataError::SynthOptions`] listing every problem with `opts`,
/// [`DataError::OutputExists`] when `out/lfw2` is already there (so a stale dataset is
/// never mixed with a new one), and [`DataError::WriteFile`] or
/// [`DataError::EncodeImage`] when a file cannot be written.
pub fn generate(out: &Path, opts: &SynthOptions) -> Result<SynthSummary, DataError> {
    let problems = opts.validate();
    if !problems.is_empty() {
        return Err(DataError::SynthOptions { problems });
    }
    let images_dir = out.join("lfw2");
    if images_dir.exists() {
        return Err(DataError::OutputExists { path: images_dir });
    }
    let mut rng = stream(opts.seed, 0);
    let counts = opts.split_counts();
    let people = plan_identities(opts, &mut rng);
    let (train, rest) = people.split_at(counts[0]);
    let (test, unused) = rest.split_at(counts[1]);
    let train_pairs = make_pairs(train, &mut rng);
    let test_pairs = make_pairs(test, &mut rng);

    let mut images = 0;
    for (index, person) in people.iter().enumerate() {
        images += write_identity(&images_dir, person, index, opts)?;
    }
    let corrupt = write_corrupt(&images_dir, unused, opts)?;
    let summary = SynthSummary {
        root: out.to_path_buf(),
        train_pairs: out.join("pairsDevTrain.txt"),
        test_pairs: out.join("pairsDevTest.txt"),
        images_dir,
        identities: counts,
        images,
        pairs_per_side: [train_pairs.len() / 2, test_pairs.len() / 2],
        corrupt,
    };
    write_file(&summary.train_pairs, render_pairs(&train_pairs).as_bytes())?;
    write_file(&summary.test_pairs, render_pairs(&test_pairs).as_bytes())?;
    write_file(&out.join(MARKER), opts.to_ron().as_bytes())?;
    Ok(summary)
}

/// Removes what an earlier [`generate`] wrote into `out`, so it can run again there.
///
/// Returns whether there was anything to remove. Only a folder holding [`MARKER`] is
/// touched, so a mistyped `--out` can never delete a real dataset.
///
/// # Errors
/// [`DataError::NotSynthetic`] when `out/lfw2` exists without the marker, and
/// [`DataError::WriteFile`] when removing fails.
pub fn remove_previous(out: &Path) -> Result<bool, DataError> {
    let images_dir = out.join("lfw2");
    if !images_dir.exists() {
        return Ok(false);
    }
    if !out.join(MARKER).is_file() {
        return Err(DataError::NotSynthetic {
            path: out.to_path_buf(),
            marker: MARKER,
        });
    }
    fs::remove_dir_all(&images_dir).map_err(|source| DataError::WriteFile {
        path: images_dir,
        source,
    })?;
    Ok(true)
}

/// Random stream `index` of the seed: 0 plans the dataset, `i + 1` draws identity `i`.
fn stream(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Names and image counts, in split order: train, then test, then unused.
fn plan_identities(opts: &SynthOptions, rng: &mut ChaCha8Rng) -> Vec<Identity> {
    let [train, test, _] = opts.split_counts();
    let names = names::generate(opts.identities, rng);
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            // Unused people may have a single image, as most of LFW's do.
            let fewest = if i < train + test { opts.min_images } else { 1 };
            let images = rng.gen_range(fewest..=opts.max_images);
            Identity { name, images }
        })
        .collect()
}

/// LFW-style pairs among `people`: up to two same pairs each, then as many different
/// pairs, each half sorted by name as in the real files.
fn make_pairs(people: &[Identity], rng: &mut ChaCha8Rng) -> Vec<Pair> {
    let mut same = Vec::new();
    for person in people {
        let mut combos: Vec<(u32, u32)> = (1..=person.images)
            .flat_map(|i| (i + 1..=person.images).map(move |j| (i, j)))
            .collect();
        combos.shuffle(rng);
        for &(i, j) in combos.iter().take(2) {
            same.push((
                ImageKey::new(&person.name, i),
                ImageKey::new(&person.name, j),
            ));
        }
    }
    let mut different = BTreeSet::new();
    // Bounded, so a tiny split cannot loop forever; duplicates are simply redrawn.
    for _ in 0..same.len() * 50 {
        if different.len() == same.len() || people.len() < 2 {
            break;
        }
        let a = &people[rng.gen_range(0..people.len())];
        let b = &people[rng.gen_range(0..people.len())];
        if a.name != b.name {
            let ka = ImageKey::new(&a.name, rng.gen_range(1..=a.images));
            let kb = ImageKey::new(&b.name, rng.gen_range(1..=b.images));
            different.insert((ka, kb));
        }
    }
    same.sort();
    same.truncate(different.len());
    let mut pairs: Vec<Pair> = Vec::with_capacity(same.len() * 2);
    for (a, b) in same.into_iter().chain(different) {
        let line = pairs.len() + 2;
        pairs.push(Pair {
            a,
            b,
            line,
            fold: 0,
        });
    }
    pairs
}

/// Draws and writes every image of one identity; returns how many.
fn write_identity(
    images_dir: &Path,
    person: &Identity,
    index: usize,
    opts: &SynthOptions,
) -> Result<usize, DataError> {
    let mut rng = stream(opts.seed, index as u64 + 1);
    let look = face::Face::random(&mut rng);
    let dir = images_dir.join(&person.name);
    create_dir(&dir)?;
    for number in 1..=person.images {
        let jitter = face::Jitter::random(&mut rng);
        let image = face::render(&look, &jitter, opts.size);
        let path = dir.join(ImageKey::new(&person.name, number).file_name());
        write_file(&path, &encode_jpeg(&image, opts.quality, &path)?)?;
    }
    Ok(person.images as usize)
}

/// Writes `opts.corrupt` truncated JPEGs, numbered after the unused identities' images.
fn write_corrupt(
    images_dir: &Path,
    unused: &[Identity],
    opts: &SynthOptions,
) -> Result<Vec<PathBuf>, DataError> {
    let mut written = Vec::new();
    if unused.is_empty() {
        return Ok(written);
    }
    let blank = GrayImage::from_pixel(opts.size, opts.size, image::Luma([128]));
    for k in 0..opts.corrupt {
        let person = &unused[k % unused.len()];
        let number = person.images + 1 + (k / unused.len()) as u32;
        let path = images_dir
            .join(&person.name)
            .join(ImageKey::new(&person.name, number).file_name());
        let bytes = encode_jpeg(&blank, opts.quality, &path)?;
        // Cut inside the headers: a decoder may accept a file cut in the scan data.
        write_file(&path, &bytes[..bytes.len().min(40)])?;
        written.push(path);
    }
    Ok(written)
}

/// Encodes a grayscale image as a baseline JPEG in memory.
fn encode_jpeg(image: &GrayImage, quality: u8, path: &Path) -> Result<Vec<u8>, DataError> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::L8,
        )
        .map_err(|source| DataError::EncodeImage {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

fn create_dir(path: &Path) -> Result<(), DataError> {
    fs::create_dir_all(path).map_err(|source| DataError::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    fs::write(path, bytes).map_err(|source| DataError::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
