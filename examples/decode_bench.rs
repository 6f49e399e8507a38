//! Per-core JPEG decode speed on LFW-a: full decode + the 2x resize (`scale: Full`, what
//! pipelines/decode.ron does per image) against decoding straight to half size in the DCT
//! domain (`scale: Half`), and how far apart their pixels are.
//!
//! Run in release: `cargo run --release --example decode_bench -- --data ../shared/lfwa`.
//! One thread, files read into memory first (so no I/O), the two decoders alternating and
//! the best round of each kept, so that other work on the machine hits both alike.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;
use twinflow::data::Dataset;
use twinflow::stages::decode::{Decoder, Scale};
use twinflow::stages::resize::Resize;
use twinflow::stages::Filter;

/// Benchmark the two decode scales.
#[derive(Debug, Parser)]
struct Args {
    /// The LFW-a folder.
    #[arg(long)]
    data: PathBuf,
    /// Rounds per decoder; the best is kept.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Decodes every file at `scale`, resizing full-size images to 125x125 like the pipeline.
fn decode_all(files: &[Vec<u8>], scale: Scale) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut decoder = Decoder::new(scale);
    let resize = Resize::new(125, 125, Filter::Bilinear);
    files
        .iter()
        .map(|bytes| {
            let (w, h, pixels) = decoder.decode(bytes)?;
            Ok(if (w, h) == (125, 125) {
                pixels
            } else {
                resize.apply(&pixels, w, h)
            })
        })
        .collect()
}

fn read_all(root: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let dataset = Dataset::scan(root).with_context(|| format!("scanning {}", root.display()))?;
    dataset
        .images
        .iter()
        .map(|e| std::fs::read(&e.path).with_context(|| format!("reading {}", e.path.display())))
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let files = read_all(&args.data)?;
    let n = files.len() as f64;
    let mut best = [f64::MAX; 2];
    let mut outputs = [Vec::new(), Vec::new()];
    for _ in 0..args.rounds {
        for (i, scale) in [Scale::Full, Scale::Half].into_iter().enumerate() {
            let t = Instant::now();
            outputs[i] = decode_all(&files, scale)?;
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    let (mut sum, mut count, mut max) = (0u64, 0u64, 0u8);
    for (a, b) in outputs[0].iter().zip(&outputs[1]) {
        for (x, y) in a.iter().zip(b) {
            let d = x.abs_diff(*y);
            (sum, count, max) = (sum + u64::from(d), count + 1, max.max(d));
        }
    }
    println!(
        "{} LFW-a images, one thread, best of {}:",
        files.len(),
        args.rounds
    );
    println!("  Full + 2x resize  {:>7.0} images/s", n / best[0]);
    println!(
        "  Half (DCT domain) {:>7.0} images/s  ({:.2}x)",
        n / best[1],
        best[0] / best[1]
    );
    println!(
        "  mean |Full+resize - Half| {:.3} gray levels, max {max}",
        sum as f64 / count.max(1) as f64
    );
    Ok(())
}
