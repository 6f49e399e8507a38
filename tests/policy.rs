//! Error policies applied everywhere (issue #18): `on_error: Abort` holds when a cache built
//! under another policy is reused, a sweep says what its runs skipped and fails like `run`,
//! a crop box that fits none of the dataset's images stops a run before any work, and a
//! cache whose pixels were damaged after it was built is never trained on unawares.

use crate::faults::{fails, first_image, small_image, tiny};
use crate::train::{run, setup};
use crate::util::{text, twinflow};

/// The tiny pipeline with a cache in `c/` and Decode's policy `policy`.
fn cached(policy: &str) -> String {
    let ron = tiny(1)
        .replace("Decode(())", &format!("Decode((on_error: {policy}))"))
        .replace("model:", "cache: Some((dir: \"c\")), model:");
    assert!(ron.contains(policy) && ron.contains("cache"), "{ron}");
    ron
}

#[test]
fn abort_holds_on_a_reused_cache_and_a_sweep_reports_what_it_skipped() {
    let dir = setup();
    let d = dir.path();
    let image = first_image(d);
    std::fs::write(&image, b"not a jpeg").expect("damage");
    let name = image
        .file_stem()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // Built under Skip: one image skipped, the run succeeds.
    std::fs::write(d.join("skip.ron"), cached("Skip")).expect("write");
    run(d, &["run", "-q", "skip.ron", "--data", "synth"]);
    // The same cache under Abort: refused before training, naming the image.
    std::fs::write(d.join("abort.ron"), cached("Abort")).expect("write");
    let t = fails(d, &["run", "-q", "abort.ron", "--data", "synth"]);
    assert!(
        t.contains("1 image(s) skipped") && t.contains(&name) && t.contains("on_error is Abort"),
        "{t}"
    );
    assert!(!d.join("runs/abort-1").exists(), "no run folder: {t}");
    // A sweep under Report trains, lists the skipped image and exits 1.
    std::fs::write(d.join("report.ron"), cached("Report")).expect("write");
    let args = [
        "sweep",
        "-q",
        "report.ron",
        "--data",
        "synth",
        "--out",
        "sw",
        "--max-epochs",
        "1",
    ];
    let out = twinflow(d, &args);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&name) && t.contains("1 run(s) skipped images under on_error: Report"),
        "{t}"
    );
}

#[test]
fn a_crop_that_fits_no_image_of_the_dataset_stops_the_run_before_any_work() {
    let dir = setup();
    let d = dir.path();
    let ron = tiny(1).replace(
        "Resize((width: 24, height: 24))",
        "Resize((width: 24, height: 24, crop: Some((x: 20, y: 20, width: 36, height: 36))))",
    );
    std::fs::write(d.join("crop.ron"), ron).expect("write");
    let t = fails(d, &["run", "crop.ron", "--data", "synth"]);
    assert!(
        t.contains("stages[1].crop: the crop box 20,20 36x36 does not fit")
            && t.contains("is 48x48"),
        "{t}"
    );
    assert!(!t.contains("run folder:"), "nothing started: {t}");
}

/// Flips a byte of the first row of the cache file in `dir`; returns the file.
fn flip_a_pixel(dir: &std::path::Path) -> std::path::PathBuf {
    let cache = crate::util::cache_file(dir);
    let mut bytes = std::fs::read(&cache).expect("read");
    // The rows start at 4 KiB, after the header and its padding (docs/cache-format.md).
    bytes[4096 + 100] ^= 0x5a;
    std::fs::write(&cache, bytes).expect("write");
    cache
}

#[test]
fn damaged_cache_pixels_are_rebuilt_by_cache_build_and_stop_a_run_before_its_checkpoint() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("c.ron"), cached("Report")).expect("write");
    run(d, &["run", "-q", "c.ron", "--data", "synth"]);
    // `cache build` checks the rows of a file it would reuse, and rebuilds a damaged one.
    flip_a_pixel(&d.join("c"));
    let build = ["cache", "build", "--pipeline", "c.ron", "--data", "synth"];
    let t = run(d, &build);
    assert!(
        t.contains("built") && t.contains("fails its checksum"),
        "{t}"
    );
    // `run` starts at once and checks in the background: the first checkpoint waits for
    // the verdict, so the epoch trained on damaged pixels is not kept.
    let cache = flip_a_pixel(&d.join("c"));
    let t = fails(d, &["run", "-q", "c.ron", "--data", "synth"]);
    assert!(
        t.contains("epoch 1 was not kept: the cache it trained on is damaged")
            && t.contains("twinflow run --resume runs/c-2"),
        "{t}"
    );
    assert!(
        !d.join("runs/c-2/state.json").exists(),
        "nothing committed: {t}"
    );
    let mut aside = cache.clone().into_os_string();
    aside.push(".damaged");
    assert!(std::path::Path::new(&aside).exists() && !cache.exists());
    // The command it gives rebuilds the cache and trains the run.
    let t = run(d, &["run", "--resume", "runs/c-2", "--data", "synth"]);
    assert!(t.contains("built") && cache.exists(), "{t}");
}

#[test]
fn without_resize_an_image_of_another_size_is_bad_input_not_the_end_of_the_run() {
    let dir = setup();
    let d = dir.path();
    // The first image of the dataset, the one a store would once take its size from.
    std::fs::copy(small_image(d), first_image(d)).expect("replace");
    let ron = tiny(1).replace("Resize((width: 24, height: 24)), ", "");
    assert!(!ron.contains("Resize"), "{ron}");
    std::fs::write(d.join("plain.ron"), ron).expect("write");
    let out = twinflow(d, &["run", "plain.ron", "--data", "synth"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("32x32 image: the dataset's images are 48x48") && t.contains("run folder:"),
        "{t}"
    );
    // The run's network takes the dataset's 48x48, which the pipeline alone does not say:
    // commands that load the run build it from the size the run recorded.
    let mut people: Vec<_> = std::fs::read_dir(d.join("synth/lfw2"))
        .expect("lfw2")
        .map(|e| e.expect("entry").path())
        .collect();
    people.sort();
    let last = people.last().expect("a person");
    let mut images: Vec<_> = std::fs::read_dir(last)
        .expect("person")
        .map(|e| e.expect("entry").path())
        .collect();
    images.sort();
    let (a, b) = (
        images[0].to_str().expect("utf-8"),
        images[1].to_str().expect("utf-8"),
    );
    let t = run(d, &["verify", "--run", "runs/plain-1", a, b]);
    assert!(t.contains("score"), "{t}");
}
