//! `twinflow cache`: inspect and check tensor cache files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::cache::CacheConfig;
use crate::cache::{Dtype, OpenOptions, TensorCache};
use crate::pipeline::config::Pipeline;
use crate::pipeline::validate::{End, Plan};
use crate::pipeline::StageConfig;
use crate::stages::{DecodeConfig, ResizeConfig, SinkConfig};

/// Arguments of `twinflow cache build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The LFW-a folder (holding `lfw2/` and the pairs files).
    #[arg(long, env = "TWINFLOW_DATA")]
    pub data: Option<PathBuf>,
    /// Side of the square images stored; ignored with `--pipeline`.
    #[arg(long, default_value_t = 125, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub size: u32,
    /// Store f32 pixels in [0, 1] instead of bytes; ignored with `--pipeline`.
    #[arg(long)]
    pub f32: bool,
    /// Build the cache exactly as this pipeline's `run` would use it.
    #[arg(long)]
    pub pipeline: Option<PathBuf>,
    /// Delete an existing cache file first, even a valid one.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The plan `cache build` uses without `--pipeline`: the defaults with the asked size and
/// dtype. Built directly: the model settings a full validation checks play no part here.
fn default_plan(size: u32, f32: bool) -> Plan {
    let dtype = if f32 { Dtype::F32 } else { Dtype::U8 };
    let resize = ResizeConfig {
        width: size,
        height: size,
        ..ResizeConfig::default()
    };
    let pipeline = Pipeline {
        cache: Some(CacheConfig {
            dtype,
            ..CacheConfig::default()
        }),
        stages: vec![
            StageConfig::Decode(DecodeConfig::default()),
            StageConfig::Resize(resize.clone()),
        ],
        ..Pipeline::default()
    };
    Plan {
        pipeline,
        decode: DecodeConfig::default(),
        resize: Some(resize),
        pair_batch: None,
        batch: Vec::new(),
        warnings: Vec::new(),
        end: End::Sink(SinkConfig::Count),
    }
}

fn build_cache(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let plan = match &args.pipeline {
        Some(file) => crate::pipeline::validate::load(file)?,
        None => default_plan(args.size, args.f32),
    };
    let root = super::run_data::data_root(args.data.as_deref(), &plan.pipeline.data)?;
    let settings = crate::pipeline::runner::RunSettings {
        data_root: root.clone(),
        progress: !args.quiet,
        interrupt: Some(super::run::interrupt_flag()),
        ..Default::default()
    };
    let opened = crate::pipeline::runner::build_cache(&plan, &settings, args.force)
        .with_context(|| format!("building the cache for {}", root.display()))?;
    println!("{}", opened.status);
    if let Some(report) = &opened.report {
        println!("{}", report.table());
    }
    for s in opened.skipped.iter().take(SKIPPED_SHOWN) {
        eprintln!("  skipped {}: {}", s.item, s.reason);
    }
    Ok(ExitCode::SUCCESS)
}

/// How many skipped sources `info` lists before summarising the rest.
const SKIPPED_SHOWN: usize = 20;

/// Inspect and check tensor cache files.
#[derive(Debug, clap::Args)]
pub struct CacheArgs {
    /// What to do with the cache.
    #[command(subcommand)]
    pub command: CacheCommand,
}

/// The `cache` subcommands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Decode and resize the train and test images into a cache file (Decode -> Resize ->
    /// cache writer through the stage engine). Does nothing when a valid, current cache exists.
    Build(BuildArgs),
    /// Show what a cache file holds: rows, image size, dtype, the key it was built with and the
    /// sources that were skipped. Checks the file's structure, not its pixel data.
    Info {
        /// The cache file.
        file: PathBuf,
    },
    /// Check every byte of a cache file, pixel data included; exits non-zero if it is damaged.
    Verify {
        /// The cache file.
        file: PathBuf,
    },
}

/// Runs a `cache` subcommand.
///
/// # Errors
/// When the file cannot be opened or fails a check, with the file and the problem named.
pub fn run(args: CacheArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CacheCommand::Build(build) => return build_cache(&build),
        CacheCommand::Info { file } => {
            let cache = TensorCache::open(&file).context("cannot read cache info")?;
            print!("{}", describe(&cache));
        }
        CacheCommand::Verify { file } => {
            let cache = verify(&file)?;
            println!(
                "ok: `{}`: {} rows, every checksum matches",
                file.display(),
                cache.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the cache with every check, the data checksum included.
fn verify(file: &Path) -> anyhow::Result<TensorCache> {
    OpenOptions::new()
        .verify_data(true)
        .open(file)
        .context("cache verification failed")
}

/// The `info` report, one `label value` line per fact, then the skipped sources.
fn describe(cache: &TensorCache) -> String {
    let key = cache.cache_key();
    let (data_crc, meta_crc) = cache.checksums();
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<12}{value}");
    };
    line("file", format!("{}", cache.path().display()));
    line("file size", human_size(cache.file_len()));
    line("format", format!("version {}", key.format_version));
    line("rows", cache.len().to_string());
    line(
        "image size",
        format!("{}x{} (width x height)", cache.width(), cache.height()),
    );
    line("dtype", cache.dtype().to_string());
    line("row stride", format!("{} bytes", cache.row_stride()));
    line("filter", key.filter.clone());
    line(
        "sources",
        format!("{} ({} skipped)", key.sources.len(), cache.skipped().len()),
    );
    line(
        "checksums",
        format!("data {data_crc:#010x}, metadata {meta_crc:#010x} (CRC-32)"),
    );
    for skipped in cache.skipped().iter().take(SKIPPED_SHOWN) {
        let _ = writeln!(out, "  skipped {}: {}", skipped.key, skipped.reason);
    }
    if cache.skipped().len() > SKIPPED_SHOWN {
        let more = cache.skipped().len() - SKIPPED_SHOWN;
        let _ = writeln!(out, "  ... and {more} more skipped");
    }
    out
}

/// `207.5 MB (207497152 bytes)`.
fn human_size(bytes: u64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} bytes");
    }
    format!("{value:.1} {} ({bytes} bytes)", units[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheKey, CacheWriter, Dtype, SourceStamp};
    use crate::data::ImageKey;

    fn small_cache(path: &Path) {
        let sources = (1..=3)
            .map(|number| SourceStamp {
                key: ImageKey {
                    name: "Ann".into(),
                    number,
                },
                rel_path: format!("Ann/Ann_{number:04}.jpg"),
                size: 10,
                mtime_ns: 1,
            })
            .collect::<Vec<_>>();
        let key = CacheKey::new(4, 2, "triangle", Dtype::U8, sources.clone());
        let mut writer = CacheWriter::create(path, key).unwrap();
        writer.push(&sources[0].key, &[1; 8]).unwrap();
        writer.push(&sources[2].key, &[2; 8]).unwrap();
        writer.skip(&sources[1].key, "not a jpeg").unwrap();
        writer.finish().unwrap();
    }

    #[test]
    fn info_reports_rows_size_and_skips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tfc");
        small_cache(&path);
        let text = describe(&TensorCache::open(&path).unwrap());
        assert!(text.contains("rows        2\n"), "{text}");
        assert!(text.contains("image size  4x2"), "{text}");
        assert!(text.contains("sources     3 (1 skipped)"), "{text}");
        assert!(text.contains("skipped Ann_0002: not a jpeg"), "{text}");
    }

    #[test]
    fn verify_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.tfc");
        small_cache(&path);
        verify(&path).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4096] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let message = format!("{:#}", verify(&path).unwrap_err());
        assert!(message.contains("c.tfc"), "{message}");
        assert!(message.contains("data of"), "{message}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(207_497_152), "207.5 MB (207497152 bytes)");
    }
}
