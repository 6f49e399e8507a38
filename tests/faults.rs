//! Faults a demanding user meets (issue #18): each is found at once, named, and loses
//! nothing. A training run that diverges stops at the first non-finite loss keeping its last
//! good checkpoint; damaged checkpoint files stop a resume before any training.

use std::path::Path;

use crate::train::{setup, tiny_with};
use crate::util::{text, twinflow};

pub fn tiny(epochs: usize) -> String {
    tiny_with(
        "Balanced(same_ratio: 0.5, pairs_per_epoch: 64)",
        epochs,
        "runs",
    )
}

/// Runs `twinflow args` in `dir`; it must fail without a panic. Returns its output.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = twinflow(dir, args);
    let t = text(&out);
    assert!(!out.status.success(), "{args:?} succeeded: {t}");
    assert!(!t.contains("panicked"), "{t}");
    t
}

/// Overwrites the first value of the first tensor of a safetensors file with NaN.
fn poison(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let header = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    bytes[8 + header..][..4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_diverging_run_stops_at_the_first_non_finite_loss_keeping_its_last_good_epoch() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("tiny.ron"), tiny(1)).expect("write");
    let ok = twinflow(d, &["run", "-q", "tiny.ron", "--data", "synth"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let last = std::fs::read(d.join("runs/tiny-1/last.safetensors")).expect("last");
    // Raise the epochs and the learning rate to something absurd, then resume.
    let ron = d.join("runs/tiny-1/pipeline.ron");
    let edited = std::fs::read_to_string(&ron)
        .expect("ron")
        .replace("epochs: 1", "epochs: 3")
        .replace("lr: 1e-3", "lr: 1e30")
        .replace("lr: 0.001", "lr: 1e30");
    assert!(edited.contains("1e30"), "{edited}");
    std::fs::write(&ron, edited).expect("write");
    // A learning-rate edit is more than a resume may change unasked...
    let resume = ["run", "-q", "--resume", "runs/tiny-1", "--data", "synth"];
    let t = fails(d, &resume);
    assert!(
        t.contains(
            "pipeline.ron was edited since the run trained: optimizer.Adam.lr: 0.001 -> 1e+30"
        ) && t.contains("--allow-changes"),
        "{t}"
    );
    // ...and with --allow-changes it trains, and diverges.
    let t = fails(d, &[&resume[..], &["--allow-changes"]].concat());
    assert!(
        t.contains("training diverged in epoch 2, batch") && t.contains("is not finite"),
        "{t}"
    );
    assert!(t.contains("keeps its checkpoint of epoch 1"), "{t}");
    assert_eq!(
        std::fs::read(d.join("runs/tiny-1/last.safetensors")).expect("last"),
        last,
        "the last good checkpoint is untouched"
    );
}

#[test]
fn damaged_checkpoints_stop_a_resume_before_training_naming_the_file() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("tiny.ron"), tiny(1)).expect("write");
    let ok = twinflow(d, &["run", "-q", "tiny.ron", "--data", "synth"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let ron = d.join("runs/tiny-1/pipeline.ron");
    let text_ron = std::fs::read_to_string(&ron).expect("ron");
    std::fs::write(&ron, text_ron.replace("epochs: 1", "epochs: 2")).expect("write");
    let resume = ["run", "-q", "--resume", "runs/tiny-1", "--data", "synth"];

    // NaN in the last weights: named, with the tensor.
    let last = d.join("runs/tiny-1/last.safetensors");
    let good = std::fs::read(&last).expect("read");
    poison(&last);
    let t = fails(d, &resume);
    assert!(
        t.contains("last.safetensors holds a non-finite value (NaN) in tensor"),
        "{t}"
    );
    std::fs::write(&last, &good).expect("restore");

    // A state.json that names another epoch than the weights hold: refused, not mixed.
    let state = d.join("runs/tiny-1/state.json");
    let good_state = std::fs::read_to_string(&state).expect("state");
    assert!(good_state.contains("\"epochs_done\": 1"), "{good_state}");
    std::fs::write(
        &state,
        good_state.replace("\"epochs_done\": 1", "\"epochs_done\": 2"),
    )
    .expect("edit");
    let t = fails(d, &resume);
    assert!(
        t.contains("last.safetensors holds the weights after 1 epoch(s), but state.json says 2"),
        "{t}"
    );
    std::fs::write(&state, good_state).expect("restore");

    // A truncated best checkpoint: found now, not after the remaining epochs.
    let best = d.join("runs/tiny-1/best.safetensors");
    let bytes = std::fs::read(&best).expect("read");
    std::fs::write(&best, &bytes[..bytes.len() / 2]).expect("truncate");
    let t = fails(d, &resume);
    assert!(
        t.contains("best.safetensors is not a safetensors file"),
        "{t}"
    );
    let csv = std::fs::read_to_string(d.join("runs/tiny-1/metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 2, "no epoch trained: {csv}");
}

#[test]
fn small_misuses_are_refused_up_front_and_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let t = fails(d, &["bench", "train", "--batch", "0"]);
    assert!(
        t.contains("--batch") && t.contains("must be at least 1"),
        "{t}"
    );
    let t = fails(d, &["sweep", "x.ron", "--max-epochs", "0"]);
    assert!(
        t.contains("--max-epochs") && t.contains("must be at least 1"),
        "{t}"
    );
    let t = fails(d, &["cache", "verify", "."]);
    assert!(t.contains("is a folder; name a cache file"), "{t}");
    let t = fails(
        d,
        &["run", "x.ron", "--metrics", "/nonexistent/twinflow/m.json"],
    );
    assert!(
        t.contains("--metrics") && t.contains("folder /nonexistent/twinflow does not exist"),
        "{t}"
    );
    // `twinflow stages | head -1`: the reader goes away after one line.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .arg("stages")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("waits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A 32x32 image from a second synthetic set made in `dir/small`.
pub fn small_image(dir: &Path) -> std::path::PathBuf {
    let other = twinflow(dir, &["data", "synth", "--out", "small", "--size", "32"]);
    assert!(other.status.success(), "{}", text(&other));
    std::fs::read_dir(dir.join("small/lfw2"))
        .expect("small")
        .flat_map(|p| std::fs::read_dir(p.expect("entry").path()).expect("person"))
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg"))
        .expect("a small image")
}

/// The first image of the first person of the synthetic set in `dir`.
pub fn first_image(dir: &Path) -> std::path::PathBuf {
    let mut people: Vec<_> = std::fs::read_dir(dir.join("synth/lfw2"))
        .expect("lfw2")
        .map(|e| e.expect("entry").path())
        .collect();
    people.sort();
    let mut files: Vec<_> = std::fs::read_dir(&people[0])
        .expect("person")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files.swap_remove(0)
}

#[test]
fn a_truncated_jpeg_is_bad_input_under_on_error_not_a_face_with_a_gray_half() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("tiny.ron"), tiny(1)).expect("write");
    let ok = twinflow(d, &["run", "-q", "tiny.ron", "--data", "synth"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let image = first_image(d);
    let bytes = std::fs::read(&image).expect("read");
    // `verify` on a 400-byte prefix: an error naming the file, not "same person".
    let prefix = d.join("prefix.jpg");
    std::fs::write(&prefix, &bytes[..400]).expect("write");
    let p = prefix.to_str().expect("utf-8");
    let i = image.to_str().expect("utf-8");
    let t = fails(d, &["verify", "--run", "runs/tiny-1", p, i]);
    assert!(t.contains("prefix.jpg") && t.contains("truncated"), "{t}");
    // A training image cut in half: skipped and reported (exit 1 under `Report`).
    std::fs::write(&image, &bytes[..bytes.len() / 2]).expect("truncate");
    let out = twinflow(d, &["run", "tiny.ron", "--data", "synth"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let name = image.file_name().expect("name").to_str().expect("utf-8");
    assert!(t.contains(name) && t.contains("truncated"), "{t}");
}

/// A safetensors file as (header, data): the header parsed, since its metadata's key order
/// is not fixed; the tensors' bytes as they are.
fn safetensors_of(path: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).expect("header json");
    (header, bytes[8 + n..].to_vec())
}

/// `metrics.csv` without its timing columns (`seconds`, `pairs_per_s`).
fn metrics_without_timing(dir: &Path) -> String {
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv");
    csv.lines()
        .map(|l| {
            let cols: Vec<&str> = l.split(',').collect();
            [&cols[..9], &cols[11..]].concat().join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_kill_at_any_point_of_a_checkpoint_resumes_to_the_uninterrupted_run() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(
        d.join("whole.ron"),
        tiny_with("Balanced(same_ratio: 0.5, pairs_per_epoch: 64)", 3, "whole"),
    )
    .expect("write");
    let ok = twinflow(d, &["run", "-q", "whole.ron", "--data", "synth"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let want = d.join("whole/whole-1");
    let mut points = 0;
    // The first checkpoint before its commit (nothing committed yet), then every point of
    // the second's.
    let faults = std::iter::once((1, 1)).chain((1..=16).map(|p| (2, p)));
    for (i, (epoch, point)) in faults.enumerate() {
        let runs = format!("cut{i}");
        let ron = format!("{runs}.ron");
        let pipeline = tiny_with("Balanced(same_ratio: 0.5, pairs_per_epoch: 64)", 3, &runs);
        std::fs::write(d.join(&ron), pipeline).expect("write");
        let cut = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
            .args(["run", "-q", &ron, "--data", "synth"])
            .current_dir(d)
            .env("TWINFLOW_FAULT", format!("{epoch}:{point}"))
            .output()
            .expect("runs");
        if cut.status.success() {
            break; // past the last point of the sequence
        }
        points = point;
        let folder = format!("{runs}/{runs}-1");
        let out = twinflow(d, &["run", "-q", "--resume", &folder, "--data", "synth"]);
        assert!(out.status.success(), "point {point}: {}", text(&out));
        let got = d.join(&folder);
        for file in [
            "last.safetensors",
            "optimizer.safetensors",
            "best.safetensors",
        ] {
            assert!(
                safetensors_of(&got.join(file)) == safetensors_of(&want.join(file)),
                "point {point}: {file} differs from the uninterrupted run's"
            );
        }
        assert_eq!(
            metrics_without_timing(&got),
            metrics_without_timing(&want),
            "point {point}"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&got)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") || n.contains(".next."))
            .collect();
        assert!(leftovers.is_empty(), "point {point}: {leftovers:?}");
    }
    assert!(
        points >= 5,
        "the sequence has files, the commit and renames: {points}"
    );
}

#[test]
fn ctrl_c_stops_training_within_a_step_and_says_how_to_resume_and_the_folder_is_locked_meanwhile() {
    let dir = setup();
    let d = dir.path();
    // Epochs long enough that a Ctrl-C lands mid-epoch, with batches queued behind it.
    let ron = tiny_with(
        "Balanced(same_ratio: 0.5, pairs_per_epoch: 4000)",
        100,
        "runs",
    );
    std::fs::write(d.join("slow.ron"), ron).expect("write");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .args(["run", "-q", "slow.ron", "--data", "synth"])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let state = d.join("runs/slow-1/state.json");
    let start = std::time::Instant::now();
    while !state.exists() {
        assert!(start.elapsed().as_secs() < 60, "no epoch finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A second process may not train in the same folder meanwhile.
    let t = fails(
        d,
        &["run", "-q", "--resume", "runs/slow-1", "--data", "synth"],
    );
    assert!(
        t.contains("another twinflow process is training in runs/slow-1"),
        "{t}"
    );
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: sends SIGINT to the child this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let sent = std::time::Instant::now();
    let out = child.wait_with_output().expect("waits");
    let took = sent.elapsed();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("interrupted: runs/slow-1 keeps")
            && t.contains("continue with `twinflow run --resume runs/slow-1`"),
        "{t}"
    );
    // A step of this network takes milliseconds; a drained queue took seconds.
    assert!(took.as_secs_f64() < 2.0, "took {took:?} to stop");
}

#[test]
fn eval_lists_an_undecodable_test_image_and_fails_under_report_instead_of_dropping_its_pair() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("tiny.ron"), tiny(1)).expect("write");
    let ok = twinflow(d, &["run", "-q", "tiny.ron", "--data", "synth"]);
    assert!(ok.status.success(), "{}", text(&ok));
    // The first image of the first test pair, made undecodable.
    let pairs = std::fs::read_to_string(d.join("synth/pairsDevTest.txt")).expect("pairs");
    let first: Vec<&str> = pairs.lines().nth(1).expect("a pair").split('\t').collect();
    let number: usize = first[1].trim().parse().expect("number");
    let name = format!("{}_{number:04}.jpg", first[0]);
    let image = d.join("synth/lfw2").join(first[0]).join(&name);
    std::fs::write(&image, b"not a jpeg").expect("damage");
    let eval = [
        "eval",
        "--run",
        "runs/tiny-1",
        "--pairs",
        "synth/pairsDevTest.txt",
        "--data",
        "synth",
        "--out",
        "ev",
    ];
    let out = twinflow(d, &eval);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("1 item(s) skipped") && t.contains(&name), "{t}");
    assert!(t.contains("on_error: Skip"), "{t}");
    // One damaged image leaves it the dataset the run recorded: a warning, not a refusal.
    assert!(t.contains("with some images changed since"), "{t}");
}

#[test]
fn an_image_the_crop_does_not_fit_is_bad_input_under_on_error_not_the_end_of_the_run() {
    let dir = setup();
    let d = dir.path();
    // 48x48 faces cropped to 36x36 from (8, 8); one training image replaced by a 32x32 one.
    let ron = tiny(1).replace(
        "Resize((width: 24, height: 24))",
        "Resize((width: 24, height: 24, crop: Some((x: 8, y: 8, width: 36, height: 36))))",
    );
    assert!(ron.contains("crop"), "{ron}");
    std::fs::write(d.join("crop.ron"), ron).expect("write");
    let image = first_image(d);
    std::fs::copy(small_image(d), &image).expect("replace");
    let out = twinflow(d, &["run", "crop.ron", "--data", "synth"]);
    let t = text(&out);
    // Reported and skipped (exit 1 under Report), and the run trained to its end.
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("32x32 image: crop box") && t.contains("run folder:"),
        "{t}"
    );
}

#[test]
fn cache_build_force_keeps_the_old_cache_until_the_new_one_replaces_it_and_clears_orphans() {
    let dir = setup();
    let d = dir.path();
    let ron = tiny(1).replace("model:", "cache: Some((dir: \"c\")), model:");
    std::fs::write(d.join("c.ron"), ron).expect("write");
    let build = ["cache", "build", "--pipeline", "c.ron", "--data", "synth"];
    let out = twinflow(d, &build);
    assert!(out.status.success(), "{}", text(&out));
    let cache = crate::util::cache_file(&d.join("c"));
    // What a build killed mid-write leaves: a hidden temp file beside the cache.
    let name = cache
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let orphan = d.join("c").join(format!(".{name}.x1y2z3.tmp"));
    std::fs::write(&orphan, b"half a cache").expect("orphan");
    let out = twinflow(d, &[&build[..], &["--force"]].concat());
    let t = text(&out);
    assert!(out.status.success() && t.contains("because --force"), "{t}");
    assert!(!orphan.exists(), "the killed build's temp file is removed");
    let verify = twinflow(d, &["cache", "verify", cache.to_str().expect("utf-8")]);
    assert!(verify.status.success(), "{}", text(&verify));
}
