//! Training end to end on generated data: a tiny network trains, evaluates on test with the
//! validation threshold, writes its run folder, and a resumed run equals an uninterrupted one.

use std::path::Path;

use crate::util::{text, twinflow};

fn tiny(epochs: usize, runs: &str) -> String {
    tiny_with(
        "Balanced(same_ratio: 0.5, pairs_per_epoch: 64)",
        epochs,
        runs,
    )
}

/// A tiny network trained with `sampler` on 64 pairs per epoch in batches of 16.
pub fn tiny_with(sampler: &str, epochs: usize, runs: &str) -> String {
    format!(
        "Pipeline(stages: [Decode(()), Resize((width: 24, height: 24)), \
         PairBatch((sampler: {sampler}, batch_size: 16)), \
         Train((runs: \"{runs}\", eval_flip: true))], \
         model: (conv: [(filters: 4, kernel: 5), (filters: 8, kernel: 3, pool: false)], dense: (units: 32)), \
         optimizer: Adam(lr: 1e-3), schedule: (epochs: {epochs}, patience: None))"
    )
}

/// A temp dir holding `synth/`, a small synthetic dataset.
pub fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = twinflow(
        dir.path(),
        &["data", "synth", "--out", "synth", "--size", "48"],
    );
    assert!(out.status.success(), "{}", text(&out));
    dir
}

/// Raises the finished run `runs/<name>` in `dir` from `from` to `to` epochs and resumes it.
pub fn resume_to(dir: &Path, name: &str, from: usize, to: usize) {
    let pipeline = dir.join("runs").join(name).join("pipeline.ron");
    let ron = std::fs::read_to_string(&pipeline).expect("ron");
    let ron = ron.replace(&format!("epochs: {from}"), &format!("epochs: {to}"));
    std::fs::write(&pipeline, ron).expect("rewrite");
    let folder = format!("runs/{name}");
    run(dir, &["run", "-q", "--resume", &folder, "--data", "synth"]);
}

/// The values of the column `name` of a `metrics.csv`, row by row.
pub fn column<'a>(csv: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = csv.lines();
    let header = lines.next().expect("a header");
    let at = header.split(',').position(|h| h == name).expect(name);
    lines
        .map(|l| l.split(',').nth(at).expect("a full row"))
        .collect()
}

/// Runs twinflow in `dir`, asserting success; returns its output.
pub fn run(dir: &Path, args: &[&str]) -> String {
    let out = twinflow(dir, args);
    let t = text(&out);
    assert!(out.status.success(), "{args:?}: {t}");
    t
}

#[test]
fn a_tiny_network_trains_and_evaluates_with_the_validation_threshold() {
    let dir = setup();
    std::fs::write(dir.path().join("tiny.ron"), tiny(3, "runs")).expect("write");
    let t = run(dir.path(), &["run", "-q", "tiny.ron", "--data", "synth"]);
    assert!(
        t.contains("chosen on") && t.contains("95% CI") && t.contains("plot:"),
        "{t}"
    );
    let run_dir = dir.path().join("runs/tiny-1");
    for file in [
        "pipeline.ron",
        "best.safetensors",
        "last.safetensors",
        "metrics.csv",
        "summary.json",
        "state.json",
        "roc.png",
        "loss.png",
    ] {
        assert!(
            run_dir.join(file).exists(),
            "{file} missing in {}",
            run_dir.display()
        );
    }
    let csv = std::fs::read_to_string(run_dir.join("metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    // Balanced(same_ratio: 0.5) with batches of 16: exactly 8 same pairs in every batch.
    for name in ["same_ratio_min", "same_ratio_max"] {
        assert_eq!(
            column(&csv, name),
            ["0.5000"; 3],
            "per-batch ratio not held: {csv}"
        );
    }
    // The accuracy at each epoch's best validation threshold is the last column (existing
    // readers keep their positions), a fraction, and at least the fixed threshold's.
    assert!(csv
        .lines()
        .next()
        .is_some_and(|h| h.ends_with(",val_acc_best_threshold")));
    for (best, fixed) in column(&csv, "val_acc_best_threshold")
        .iter()
        .zip(column(&csv, "val_acc"))
    {
        let (best, fixed): (f64, f64) = (best.parse().expect(best), fixed.parse().expect(fixed));
        assert!((fixed..=1.0).contains(&best), "{csv}");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("summary.json")).expect("summary"),
    )
    .expect("json");
    let acc = summary["evaluation"]["accuracy"]
        .as_f64()
        .expect("test accuracy");
    assert!((0.0..=1.0).contains(&acc), "{summary}");
    // Read by a person: accuracy as a percentage with one decimal, AUC with three, and the
    // stage table's columns explained right under it.
    let printed = format!("accuracy   {:.1}%", 100.0 * acc);
    assert!(t.contains(&printed), "`{printed}` missing:\n{t}");
    let auc = summary["evaluation"]["auc"].as_f64().expect("test AUC");
    assert!(t.contains(&format!("AUC        {auc:.3}")), "{t}");
    assert!(t.contains("key: wkr worker threads;"), "{t}");
    assert!(
        summary["evaluation"]["val_pairs"].as_u64().unwrap_or(0) > 0,
        "{summary}"
    );
    // The run folder's pipeline is complete and valid on its own.
    run(
        dir.path(),
        &[
            "validate",
            run_dir.join("pipeline.ron").to_str().expect("utf-8"),
        ],
    );
}

#[test]
fn a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one() {
    let dir = setup();
    std::fs::write(dir.path().join("straight.ron"), tiny(4, "runs")).expect("write");
    std::fs::write(dir.path().join("halves.ron"), tiny(2, "runs")).expect("write");
    run(
        dir.path(),
        &["run", "-q", "straight.ron", "--data", "synth"],
    );
    run(dir.path(), &["run", "-q", "halves.ron", "--data", "synth"]);
    let halves = dir.path().join("runs/halves-1");
    resume_to(dir.path(), "halves-1", 2, 4);
    let a = std::fs::read(dir.path().join("runs/straight-1/last.safetensors")).expect("straight");
    let b = std::fs::read(halves.join("last.safetensors")).expect("resumed");
    assert!(a == b, "resumed weights differ from the uninterrupted run");
    let csv = std::fs::read_to_string(halves.join("metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
}

#[test]
fn eval_and_verify_use_the_validation_threshold_of_a_trained_run() {
    let dir = setup();
    std::fs::write(dir.path().join("tiny.ron"), tiny(2, "runs")).expect("write");
    run(dir.path(), &["run", "-q", "tiny.ron", "--data", "synth"]);
    let t = run(
        dir.path(),
        &[
            "eval",
            "--run",
            "runs/tiny-1",
            "--pairs",
            "synth/pairsDevTest.txt",
            "--data",
            "synth",
        ],
    );
    assert!(t.contains("10-fold accuracy") && t.contains("AUC"), "{t}");
    let out = dir.path().join("runs/tiny-1/eval-pairsDevTest");
    for file in ["roc.csv", "roc.png", "scores.png", "eval.json"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    // eval on the test file reproduces the run's own test accuracy (same weights, same threshold).
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny-1/summary.json")).expect("read"),
    )
    .expect("json");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).expect("read"))
            .expect("json");
    assert_eq!(summary["evaluation"]["accuracy"], report["accuracy"]);
    let acc = report["accuracy"].as_f64().expect("accuracy");
    let printed = format!("accuracy  {:.1}%", 100.0 * acc);
    assert!(t.contains(&printed), "`{printed}` missing:\n{t}");
    let img = |name: &str| {
        let folder = dir.path().join("synth/lfw2").join(name);
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        files
    };
    let names: Vec<String> = std::fs::read_dir(dir.path().join("synth/lfw2"))
        .expect("lfw2")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let a = img(&names[0]);
    let b = img(&names[1]);
    let t = run(
        dir.path(),
        &[
            "verify",
            "--run",
            "runs/tiny-1",
            a[0].to_str().expect("utf-8"),
            b[0].to_str().expect("utf-8"),
        ],
    );
    assert!(
        t.contains("score") && (t.contains("same person") || t.contains("different people")),
        "{t}"
    );
    assert!(
        t.contains("the run's validation: accuracy") && t.contains("AUC"),
        "{t}"
    );
    // A model at chance says so beside its verdict.
    let state = dir.path().join("runs/tiny-1/state.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("json");
    for m in json["history"].as_array_mut().expect("history") {
        m["val"]["auc"] = serde_json::json!(0.51);
    }
    std::fs::write(&state, json.to_string()).expect("write");
    let pair = [
        "verify",
        "--run",
        "runs/tiny-1",
        a[0].to_str().expect("utf-8"),
        b[0].to_str().expect("utf-8"),
    ];
    let t = run(dir.path(), &pair);
    assert!(t.contains("AUC 0.510") && t.contains("near chance"), "{t}");
    let folder = dir.path().join("synth/lfw2").join(&names[0]);
    let t = run(
        dir.path(),
        &[
            "embed",
            "--run",
            "runs/tiny-1",
            "--images",
            folder.to_str().expect("utf-8"),
            "--out",
            "e.csv",
        ],
    );
    assert!(t.contains("of 32 values"), "{t}");
    let csv = std::fs::read_to_string(dir.path().join("e.csv")).expect("embeddings");
    assert_eq!(csv.lines().count(), a.len());
    assert!(csv.lines().all(|l| l.split(',').count() == 33), "{csv}");
    // A second embed into the same file refuses without --force, and keeps the file.
    let again = [
        "embed",
        "--run",
        "runs/tiny-1",
        "--images",
        folder.to_str().expect("utf-8"),
        "--out",
        "e.csv",
    ];
    let refused = twinflow(dir.path(), &again);
    assert!(
        !refused.status.success() && text(&refused).contains("e.csv exists; pass --force"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("e.csv")).expect("kept"),
        csv
    );
    run(dir.path(), &[&again[..], &["--force"]].concat());
    let bad = twinflow(
        dir.path(),
        &[
            "verify",
            "--run",
            "runs/tiny-1",
            a[0].to_str().expect("utf-8"),
            "missing.jpg",
        ],
    );
    assert!(
        !bad.status.success() && text(&bad).contains("missing.jpg"),
        "{}",
        text(&bad)
    );
}

/// Mines every third step from a pool of 16; four 16-pair batches per epoch, so epochs
/// end between refreshes.
const HARD: &str = "HardNegative(same_ratio: 0.5, pairs_per_epoch: 64, refresh_every: 3, \
                    pool: 16, mode: SemiHard, random_negatives: 0.25)";

#[test]
fn a_hard_negative_run_trains_deterministically_and_resumes_exactly() {
    let dir = setup();
    std::fs::write(dir.path().join("hard.ron"), tiny_with(HARD, 4, "runs")).expect("write");
    std::fs::write(dir.path().join("half.ron"), tiny_with(HARD, 2, "runs")).expect("write");
    let t = run(dir.path(), &["run", "-q", "hard.ron", "--data", "synth"]);
    assert!(t.contains("trained") && t.contains("run folder"), "{t}");
    run(dir.path(), &["run", "-q", "hard.ron", "--data", "synth"]);
    let first = dir.path().join("runs/hard-1");
    let weights = |run: &Path| std::fs::read(run.join("last.safetensors")).expect("weights");
    assert!(
        weights(&first) == weights(&dir.path().join("runs/hard-2")),
        "two runs of one pipeline and seed trained different weights"
    );
    let csv = std::fs::read_to_string(first.join("metrics.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    for name in ["same_ratio_min", "same_ratio_max"] {
        assert_eq!(column(&csv, name), ["0.5000"; 4], "per-batch ratio: {csv}");
    }
    run(
        dir.path(),
        &[
            "validate",
            first.join("pipeline.ron").to_str().expect("utf-8"),
        ],
    );
    // Resuming after epoch 2 starts at step 8, between refreshes (every 3 steps): the
    // checkpoint kept refresh 2, embedded after step 6, and the resume publishes it as it
    // was, so the weights match the uninterrupted run's exactly.
    run(dir.path(), &["run", "-q", "half.ron", "--data", "synth"]);
    let half = dir.path().join("runs/half-1");
    resume_to(dir.path(), "half-1", 2, 4);
    assert!(
        weights(&first) == weights(&half),
        "resumed weights differ from the uninterrupted run"
    );
}

#[test]
fn a_hard_negative_pipeline_must_end_in_train() {
    let dir = setup();
    let ron = tiny_with(HARD, 1, "runs")
        .replace("Train((runs: \"runs\", eval_flip: true))", "Sink(Count)");
    std::fs::write(dir.path().join("sink.ron"), ron).expect("write");
    let out = twinflow(dir.path(), &["validate", "sink.ron"]);
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("stages[2].sampler"),
        "{t}"
    );
}

#[test]
fn an_averaged_run_keeps_the_average_as_best_and_resumes_exactly() {
    use twinflow::train::checkpoint::read;
    let averaged = |epochs| {
        tiny(epochs, "runs").replace("patience: None)", "patience: None, average: Some(0.9))")
    };
    let dir = setup();
    std::fs::write(dir.path().join("straight.ron"), averaged(3)).expect("write");
    std::fs::write(dir.path().join("halves.ron"), averaged(1)).expect("write");
    run(
        dir.path(),
        &["run", "-q", "straight.ron", "--data", "synth"],
    );
    run(dir.path(), &["run", "-q", "halves.ron", "--data", "synth"]);
    // After one epoch the best weights are that epoch's average, not the live weights.
    let halves = dir.path().join("runs/halves-1");
    let tensors = |file: &str| read(&halves.join(file)).expect(file);
    let best = tensors("best.safetensors");
    assert_eq!(best, tensors("average.safetensors"));
    assert_ne!(best, tensors("last.safetensors"));
    // Resuming continues the average where it stopped.
    resume_to(dir.path(), "halves-1", 1, 3);
    let straight = dir.path().join("runs/straight-1");
    for file in ["last.safetensors", "average.safetensors"] {
        let a = std::fs::read(straight.join(file)).expect("straight");
        let b = std::fs::read(halves.join(file)).expect("resumed");
        assert!(a == b, "resumed {file} differs from the uninterrupted run");
    }
}

/// The index (from 0) in `run`'s history of the epoch of the highest validation AUC, among
/// indices `from..`.
fn best_auc_epoch(run: &Path, from: usize) -> (usize, serde_json::Value) {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).expect("state"))
            .expect("json");
    let history = state["history"].as_array().expect("history");
    let auc = |m: &serde_json::Value| m["val"]["auc"].as_f64().expect("auc");
    let mut best = from;
    for (epoch, m) in history.iter().enumerate().skip(from) {
        if auc(m) > auc(&history[best]) {
            best = epoch;
        }
    }
    (best, state)
}

#[test]
fn a_run_monitoring_validation_auc_keeps_the_epoch_of_the_highest_auc() {
    let dir = setup();
    let by_auc = tiny(4, "runs").replace("patience: None)", "patience: None, monitor: ValAuc)");
    std::fs::write(dir.path().join("auc.ron"), by_auc).expect("write");
    std::fs::write(dir.path().join("halves.ron"), tiny(2, "runs")).expect("write");
    run(dir.path(), &["run", "-q", "auc.ron", "--data", "synth"]);
    let auc = dir.path().join("runs/auc-1");
    let (best, state) = best_auc_epoch(&auc, 0);
    // Files number epochs from 1; `best` is an index into the history.
    assert_eq!(state["best"][1].as_u64(), Some(best as u64 + 1), "{state}");
    assert_eq!(state["monitor"], "ValAuc");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(auc.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["best_epoch"].as_u64(), Some(best as u64 + 1));
    // A run resumed under another monitor forgets the best the old one chose: only the
    // epochs run since can be best.
    run(dir.path(), &["run", "-q", "halves.ron", "--data", "synth"]);
    let halves = dir.path().join("runs/halves-1");
    let pipeline = halves.join("pipeline.ron");
    let ron = std::fs::read_to_string(&pipeline).expect("ron");
    assert!(ron.contains("monitor: ValLoss"), "{ron}");
    std::fs::write(
        &pipeline,
        ron.replace("monitor: ValLoss", "monitor: ValAuc"),
    )
    .expect("edit");
    resume_to(dir.path(), "halves-1", 2, 4);
    let (best, state) = best_auc_epoch(&halves, 2);
    assert_eq!(state["best"][1].as_u64(), Some(best as u64 + 1), "{state}");
    assert_eq!(state["monitor"], "ValAuc");
}
