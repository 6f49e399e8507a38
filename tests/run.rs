//! `twinflow run` and `twinflow cache` end to end on generated data: both image paths, the
//! error policy for corrupt files, and cache damage and staleness.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use twinflow::cache::CacheConfig;
use twinflow::cache::ImageStore;
use twinflow::data::synth::{generate, SynthOptions};
use twinflow::data::Dataset;
use twinflow::pipeline::cache::{open_or_build, Verify};
use twinflow::pipeline::runner::{run_images, RunSettings};
use twinflow::pipeline::validate::{parse, plan, Plan};
use twinflow::stages::store::MemoryStore;

use crate::util::{text, twinflow};

/// A synthetic dataset with small images in a fresh temp dir.
fn synth(corrupt: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = SynthOptions {
        size: 64,
        corrupt,
        ..SynthOptions::default()
    };
    generate(&dir.path().join("lfwa"), &opts).expect("synth");
    dir
}

/// Writes a pipeline file into `dir` and returns its path.
fn pipeline(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write pipeline");
    path
}

const SMALL_MODEL: &str =
    "model: (conv: [(filters: 4, kernel: 5), (filters: 8, kernel: 3, pool: false)])";

fn batches_ron(cache: bool) -> String {
    let cache = if cache {
        "cache: Some((dir: \"cache\")),"
    } else {
        ""
    };
    format!(
        "Pipeline({cache} stages: [Decode(()), Resize((width: 32, height: 32)), \
         PairBatch((sampler: Balanced(same_ratio: 0.25, pairs_per_epoch: 40), batch_size: 8)), Sink(Count)], \
         {SMALL_MODEL}, schedule: (epochs: 3))"
    )
}

fn sink_line(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("sink:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn cached_and_streamed_runs_feed_the_same_batches() {
    let dir = synth(0);
    let data = dir.path().join("lfwa");
    let data = data.to_str().expect("utf-8 path");
    let streamed = pipeline(dir.path(), "streamed.ron", &batches_ron(false));
    let cached = pipeline(dir.path(), "cached.ron", &batches_ron(true));
    let a = twinflow(
        dir.path(),
        &[
            "run",
            "-q",
            streamed.to_str().expect("utf-8"),
            "--data",
            data,
        ],
    );
    assert!(a.status.success(), "{}", text(&a));
    let b = twinflow(
        dir.path(),
        &["run", "-q", cached.to_str().expect("utf-8"), "--data", data],
    );
    assert!(b.status.success(), "{}", text(&b));
    assert!(text(&b).contains("cache: built"), "{}", text(&b));
    // 3 epochs x 5 batches of 8 pairs, 2 same pairs in each (round(8 x 0.25)).
    assert!(
        sink_line(&a).contains("\"train_batches\":15"),
        "{}",
        sink_line(&a)
    );
    assert!(
        sink_line(&a).contains("\"min_same_ratio\":0.25,\"max_same_ratio\":0.25"),
        "{}",
        sink_line(&a)
    );
    assert_eq!(sink_line(&a), sink_line(&b));
    let again = twinflow(
        dir.path(),
        &["run", "-q", cached.to_str().expect("utf-8"), "--data", data],
    );
    assert!(text(&again).contains("cache: reused"), "{}", text(&again));
    assert_eq!(sink_line(&again), sink_line(&b));
}

fn load_plan(ron: &str) -> Plan {
    plan(parse(ron, Path::new("test.ron")).expect("parses")).expect("valid")
}

#[test]
fn the_cache_and_a_direct_decode_give_identical_tensors() {
    let dir = synth(0);
    let root = dir.path().join("lfwa");
    let plan = load_plan(&batches_ron(true));
    let settings = RunSettings {
        data_root: root.clone(),
        ..RunSettings::default()
    };
    let entries = Dataset::scan(&root).expect("scan").images;
    let (memory, _) = run_images(
        &plan,
        &settings,
        entries.clone(),
        "memory",
        MemoryStore::new(),
    )
    .expect("decode");
    let config = CacheConfig {
        dir: dir.path().join("cache"),
        ..CacheConfig::default()
    };
    let opened = open_or_build(
        &plan,
        &config,
        &settings,
        entries,
        Verify::Now { force: false },
    )
    .expect("cache");
    let cache: Arc<dyn ImageStore> = opened.cache;
    assert_eq!(cache.len(), memory.len());
    let n = 32 * 32;
    let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
    for row in 0..memory.len() {
        let key = memory.key(row);
        let cached_row = cache.row_of(key).expect("every decoded image is cached");
        memory.copy_f32(row, &mut a);
        cache.copy_f32(cached_row, &mut b);
        assert!(a == b, "{key} differs");
    }
}

/// Cuts a train image short so it no longer decodes; returns its path.
fn corrupt_a_train_image(root: &Path) -> PathBuf {
    let pairs = std::fs::read_to_string(root.join("pairsDevTrain.txt")).expect("pairs");
    let name = pairs
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("a pair")
        .to_string();
    let path = root
        .join("lfw2")
        .join(&name)
        .join(format!("{name}_0001.jpg"));
    std::fs::write(&path, b"\xff\xd8\xff\xe0 cut short").expect("corrupt");
    path
}

#[test]
fn a_corrupt_image_is_reported_skipped_and_fails_the_run_unless_skip() {
    let dir = synth(0);
    let root = dir.path().join("lfwa");
    let bad = corrupt_a_train_image(&root);
    let data = root.to_str().expect("utf-8");
    let report = pipeline(dir.path(), "report.ron", &batches_ron(false));
    let out = twinflow(
        dir.path(),
        &["run", "-q", report.to_str().expect("utf-8"), "--data", data],
    );
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains(&bad.display().to_string()) && t.contains("cannot decode"),
        "{t}"
    );
    assert!(
        t.contains("\"train_batches\":15"),
        "the run still went to the end: {t}"
    );
    let skip = batches_ron(false).replace("Decode(())", "Decode((on_error: Skip))");
    let skip = pipeline(dir.path(), "skip.ron", &skip);
    let out = twinflow(
        dir.path(),
        &["run", "-q", skip.to_str().expect("utf-8"), "--data", data],
    );
    assert!(out.status.success(), "{}", text(&out));
    let abort = batches_ron(false).replace("Decode(())", "Decode((on_error: Abort))");
    let abort = pipeline(dir.path(), "abort.ron", &abort);
    let out = twinflow(
        dir.path(),
        &["run", "-q", abort.to_str().expect("utf-8"), "--data", data],
    );
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("stage `decode+resize`") && !t.contains("sink:"),
        "{t}"
    );
    // The decoder's complaint follows the file's name, once (image's error prints its cause
    // and also returns it as its source).
    let named = format!("cannot decode {}: ", bad.display());
    let cause = t
        .split_once(&named)
        .and_then(|(_, rest)| rest.lines().next())
        .unwrap_or_else(|| panic!("no `{named}`: {t}"));
    assert!(!cause.is_empty(), "{t}");
    assert_eq!(t.matches(cause).count(), 1, "{t}");
}

#[test]
fn a_truncated_or_stale_cache_is_rebuilt_and_says_why() {
    let dir = synth(0);
    let root = dir.path().join("lfwa");
    let data = root.to_str().expect("utf-8");
    let ron = pipeline(dir.path(), "cached.ron", &batches_ron(true));
    let ron = ron.to_str().expect("utf-8");
    let first = twinflow(dir.path(), &["run", "-q", ron, "--data", data]);
    assert!(first.status.success(), "{}", text(&first));
    let file = crate::util::cache_file(&dir.path().join("cache"));
    let len = std::fs::metadata(&file).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .expect("open")
        .set_len(len / 2)
        .expect("truncate");
    let out = twinflow(dir.path(), &["run", "-q", ron, "--data", data]);
    assert!(
        out.status.success() && text(&out).contains("truncated"),
        "{}",
        text(&out)
    );
    // A source rewritten (new size and mtime) makes the cache stale.
    let entry = Dataset::scan(&root).expect("scan").images[0].clone();
    let img = image::GrayImage::from_pixel(64, 64, image::Luma([9]));
    img.save(&entry.path).expect("rewrite");
    let out = twinflow(dir.path(), &["run", "-q", ron, "--data", data]);
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("cache: built") && t.contains(&entry.key.to_string()),
        "{t}"
    );
}

#[test]
fn data_commands_and_cache_commands_work_end_to_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = twinflow(
        dir.path(),
        &["data", "synth", "--out", "synth", "--size", "64"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = twinflow(
        dir.path(),
        &["data", "stats", "--data", "synth", "--sheet", "sheet.png"],
    );
    let t = text(&out);
    assert!(
        out.status.success()
            && t.contains("Train pairs by first letter of the (first) name, A-M [seed Table 1]")
            && t.contains("[seed Table 2]")
            && t.contains("the TensorFlow/Keras report this project rebuilds"),
        "{t}"
    );
    let sheet = image::open(dir.path().join("sheet.png")).expect("a readable contact sheet");
    assert!(sheet.width() > 64 && sheet.height() > 64);
    let out = twinflow(
        dir.path(),
        &["cache", "build", "--data", "synth", "--size", "48", "-q"],
    );
    assert!(
        out.status.success() && text(&out).contains("built"),
        "{}",
        text(&out)
    );
    let file = "cache/synth-used-48x48-bilinear-u8.twc";
    let out = twinflow(dir.path(), &["cache", "verify", file]);
    assert!(out.status.success(), "{}", text(&out));
    let out = twinflow(
        dir.path(),
        &["cache", "build", "--data", "synth", "--size", "48", "-q"],
    );
    assert!(text(&out).contains("reused"), "{}", text(&out));
    let out = twinflow(dir.path(), &["run", "missing.ron"]);
    assert!(
        !out.status.success() && text(&out).contains("missing.ron"),
        "{}",
        text(&out)
    );
}

#[test]
fn devices_lists_the_gpu_adapters_or_says_what_to_install() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = twinflow(dir.path(), &["devices"]);
    let t = text(&out);
    if out.status.success() {
        assert!(t.contains("Vulkan") && t.contains("storage binding"), "{t}");
    } else {
        assert!(
            std::env::var("TWINFLOW_REQUIRE_GPU").as_deref() != Ok("1"),
            "TWINFLOW_REQUIRE_GPU=1 but no adapter: {t}"
        );
        assert!(t.contains("mesa-vulkan-drivers"), "{t}");
    }
}
