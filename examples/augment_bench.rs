//! Timing of the `Augment` stage on one worker, and an optional before/after sheet.
//!
//! Run in release: `cargo run --release --example augment_bench -- [--pairs 128] [--size 125]`.
//! With `--data DIR --sheet FILE` it also augments the first faces of a dataset (e.g. one
//! made by `twinflow data synth`) and writes a PNG: originals on the top row, the left
//! twin's augmentation below, the right twin's (same image, its own draw) at the bottom.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use twinflow::data::Dataset;
use twinflow::engine::{PairBatch, Phase};
use twinflow::stages::augment::Augment;
use twinflow::stages::decode::decode_gray;
use twinflow::stages::resize::Resize;
use twinflow::stages::{AugmentConfig, Filter};

/// Benchmark the augmenter.
#[derive(Debug, Parser)]
struct Args {
    /// Pairs per batch.
    #[arg(long, default_value_t = 128)]
    pairs: usize,
    /// Width and height of each image.
    #[arg(long, default_value_t = 125)]
    size: usize,
    /// Batches to time.
    #[arg(long, default_value_t = 50)]
    batches: usize,
    /// A dataset to take faces from for the sheet.
    #[arg(long, requires = "sheet")]
    data: Option<PathBuf>,
    /// Where to write the before/after PNG.
    #[arg(long, requires = "data")]
    sheet: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.size * args.size;
    let pixels: Vec<f32> = (0..args.pairs * n)
        .map(|i| ((i * 37 + i / args.size) % 256) as f32 / 255.0)
        .collect();
    let mut augment = Augment::new(AugmentConfig::default(), 42);
    let mut times = Vec::with_capacity(args.batches);
    for index in 0..args.batches {
        let mut batch = train_batch(index, args.size, pixels.clone(), pixels.clone());
        let started = Instant::now();
        augment.augment(&mut batch)?;
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "augment {} pairs of {}x{} (default settings, 1 worker): median {:.2} ms/batch \
         (min {:.2}, max {:.2}), {:.1} us/image",
        args.pairs,
        args.size,
        args.size,
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        ms(times[times.len() / 2]) * 1e3 / (2 * args.pairs) as f64
    );
    if let (Some(data), Some(sheet)) = (&args.data, &args.sheet) {
        write_sheet(data, sheet, args.size)?;
    }
    Ok(())
}

fn train_batch(index: usize, size: usize, left: Vec<f32>, right: Vec<f32>) -> PairBatch {
    let pairs = left.len() / (size * size);
    PairBatch {
        phase: Phase::Train,
        epoch: 0,
        index,
        height: size,
        width: size,
        rows: vec![(0, 0); pairs],
        left,
        right,
        labels: vec![1.0; pairs],
    }
}

/// Augments the dataset's first eight faces as twins of themselves and writes the sheet.
fn write_sheet(data: &std::path::Path, sheet: &std::path::Path, size: usize) -> anyhow::Result<()> {
    let dataset = Dataset::scan(data)?;
    let resize = Resize::new(size as u32, size as u32, Filter::Bilinear);
    let mut faces = Vec::new();
    for entry in dataset.images.iter().step_by(7).take(8) {
        let bytes = std::fs::read(&entry.path)
            .with_context(|| format!("reading {}", entry.path.display()))?;
        let img = decode_gray(&bytes)?;
        let small = resize.apply(img.as_raw(), img.width(), img.height());
        faces.extend(small.iter().map(|&v| f32::from(v) / 255.0));
    }
    let cols = faces.len() / (size * size);
    let mut batch = train_batch(0, size, faces.clone(), faces.clone());
    Augment::new(AugmentConfig::default(), 42).augment(&mut batch)?;
    let gap = 4;
    let (w, h) = (cols * (size + gap), 3 * (size + gap));
    let mut out = image::GrayImage::from_pixel(w as u32, h as u32, image::Luma([255]));
    for (row, tensor) in [&faces, &batch.left, &batch.right].into_iter().enumerate() {
        for (i, v) in tensor.iter().enumerate() {
            let (col, y, x) = (i / (size * size), i / size % size, i % size);
            let (px, py) = (col * (size + gap) + x, row * (size + gap) + y);
            out.put_pixel(
                px as u32,
                py as u32,
                image::Luma([(v * 255.0).round() as u8]),
            );
        }
    }
    out.save(sheet)
        .with_context(|| format!("writing {}", sheet.display()))?;
    println!("wrote {} ({cols} faces)", sheet.display());
    Ok(())
}
