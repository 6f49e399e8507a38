//! Timings of the tensor cache on synthetic LFW-a-sized data: build, open, full verify, and
//! random pair gathering into a contiguous batch buffer.
//!
//! Run in release: `cargo run --release --example cache_bench -- [--rows N] [--dtype f32]`.
//! The numbers are warm-page-cache numbers: the file was just written, so nothing is read
//! from disk. The page cache is not dropped because the machine is shared.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use twinflow::cache::{CacheKey, CacheWriter, Dtype, SourceStamp, TensorCache};
use twinflow::data::ImageKey;

/// Benchmark the tensor cache.
#[derive(Debug, Parser)]
struct Args {
    /// Images in the cache (LFW-a has 13,233).
    #[arg(long, default_value_t = 13_233)]
    rows: usize,
    /// Width and height of each image.
    #[arg(long, default_value_t = 125)]
    size: u32,
    /// Element type of the rows.
    #[arg(long, value_enum, default_value_t = Elem::U8)]
    dtype: Elem,
    /// Pairs per gathered batch.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Batches to gather.
    #[arg(long, default_value_t = 2_000)]
    batches: usize,
    /// Directory for the cache file (removed afterwards unless --keep).
    #[arg(long, default_value = "target/cache-bench")]
    dir: PathBuf,
    /// Keep the cache file.
    #[arg(long)]
    keep: bool,
}

/// The element type, as a command-line value.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Elem {
    U8,
    F32,
}

fn image_key(i: usize) -> ImageKey {
    // About 2.3 images per person in LFW-a; 4 keeps names realistic enough.
    ImageKey {
        name: format!("Synthetic_Person_{:05}", i / 4),
        number: (i % 4) as u32 + 1,
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dtype = match args.dtype {
        Elem::U8 => Dtype::U8,
        Elem::F32 => Dtype::F32,
    };
    let path = args.dir.join(format!("bench-{}.tfc", dtype));
    let key = synthetic_key(args.rows, args.size, dtype);

    let started = Instant::now();
    build(&path, &key, args.size)?;
    let build_time = started.elapsed();
    let file_len = std::fs::metadata(&path)?.len();
    println!(
        "build   {:>9.1} ms  ({} rows, {} x {} {dtype}, {:.1} MB, {:.0} MB/s incl. fsync)",
        ms(build_time),
        args.rows,
        args.size,
        args.size,
        file_len as f64 / 1e6,
        file_len as f64 / 1e6 / build_time.as_secs_f64()
    );

    time_opens(&path)?;

    let cache = TensorCache::open(&path)?;
    let started = Instant::now();
    cache.verify_data()?;
    let verify_time = started.elapsed();
    println!(
        "verify  {:>9.1} ms  ({:.0} MB/s)",
        ms(verify_time),
        file_len as f64 / 1e6 / verify_time.as_secs_f64()
    );

    gather(&cache, args.batch, args.batches, false);
    gather(&cache, args.batch, args.batches, true);
    if !args.keep {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// Opens the cache 21 times and prints the median, min and max.
fn time_opens(path: &std::path::Path) -> anyhow::Result<()> {
    let mut opens: Vec<Duration> = (0..21)
        .map(|_| {
            let started = Instant::now();
            let cache = TensorCache::open(path);
            let took = started.elapsed();
            cache.map(|_| took)
        })
        .collect::<Result<_, _>>()?;
    opens.sort();
    println!(
        "open    {:>9.3} ms  median of 21 (min {:.3}, max {:.3})",
        ms(opens[10]),
        ms(opens[0]),
        ms(opens[20])
    );
    Ok(())
}

/// A key with `rows` made-up sources.
fn synthetic_key(rows: usize, size: u32, dtype: Dtype) -> CacheKey {
    let sources = (0..rows)
        .map(|i| {
            let key = image_key(i);
            SourceStamp {
                rel_path: format!("{0}/{0}_{1:04}.jpg", key.name, key.number),
                key,
                size: 10_000 + i as u64,
                mtime_ns: 1_700_000_000_000_000_000,
            }
        })
        .collect();
    CacheKey::new(size, size, "triangle", dtype, sources)
}

/// Writes the cache: each row is a gradient shifted by its index, so rows differ.
fn build(path: &std::path::Path, key: &CacheKey, size: u32) -> anyhow::Result<()> {
    let mut writer = CacheWriter::create(path, key.clone())?;
    let mut pixels = vec![0u8; (size * size) as usize];
    for i in 0..key.sources.len() {
        for (p, px) in pixels.iter_mut().enumerate() {
            *px = (p + i) as u8;
        }
        writer.push(&image_key(i), &pixels)?;
    }
    writer.finish()?;
    Ok(())
}

/// Gathers `batches` batches of `batch` random pairs into one contiguous buffer, by row number
/// or (as a sampler holding `ImageKey`s would) by key, and prints the rate.
fn gather(cache: &TensorCache, batch: usize, batches: usize, by_key: bool) {
    let row_len = cache.width() as usize * cache.height() as usize * cache.dtype().size();
    let mut buffer = vec![0u8; 2 * batch * row_len];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let keys: Vec<ImageKey> = (0..cache.len()).map(image_key).collect();
    let mut checksum = 0u64;
    let started = Instant::now();
    for _ in 0..batches {
        for slot in buffer.chunks_exact_mut(row_len) {
            let i = rng.gen_range(0..cache.len());
            let row = if by_key {
                cache.index_of(&keys[i]).unwrap_or(i)
            } else {
                i
            };
            slot.copy_from_slice(cache.row_bytes(row).unwrap_or(&[]));
        }
        // Touch the batch so the copies cannot be optimised away.
        checksum = checksum.wrapping_add(u64::from(buffer[row_len / 2]));
    }
    let took = started.elapsed();
    let pairs = (batch * batches) as f64;
    println!(
        "gather  {:>9.0} pairs/s  ({} batches of {batch} pairs {}, {:.2} GB/s, {:.1} us/batch) [{checksum}]",
        pairs / took.as_secs_f64(),
        batches,
        if by_key { "by key" } else { "by row" },
        pairs * 2.0 * row_len as f64 / 1e9 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / batches as f64,
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
