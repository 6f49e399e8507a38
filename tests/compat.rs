//! Run folders made by earlier versions keep working: `tests/fixtures/run-v0` was trained
//! before the training-backend seam (commit 1e678b9, `twinflow data synth --size 48`, then
//! `twinflow run` of its own `pipeline.ron` with 1 epoch) and is kept as it was written. Its
//! pipeline has no `device` field, its checkpoints are the safetensors layout of that time,
//! with batch norm's running statistics and a weight average.

use std::path::Path;

use crate::train::{run, setup};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// The synthetic dataset and a copy of the fixture run in a temp dir.
fn fixture() -> tempfile::TempDir {
    let dir = setup();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-v0");
    copy_dir(&fixture, &dir.path().join("old"));
    dir
}

#[test]
fn a_run_folder_from_before_the_backend_seam_evaluates_as_it_did() {
    let dir = fixture();
    let t = run(
        dir.path(),
        &[
            "eval",
            "--run",
            "old",
            "--pairs",
            "synth/pairsDevTest.txt",
            "--data",
            "synth",
            "--device",
            "cpu",
        ],
    );
    // What 1e678b9's own `eval` printed for this run and these pairs (52.27%, 0.5424,
    // 0.5455, 58.33% ± 6.80% then), in today's formats: rates as percentages with one
    // decimal, AUC with three.
    for line in [
        "threshold 0.6217 (chosen on validation in training)",
        "accuracy  52.3%",
        "AUC       0.542",
        "EER       54.5%",
        "10-fold accuracy 58.3% ± 6.8%",
    ] {
        assert!(t.contains(line), "`{line}` missing:\n{t}");
    }
}

#[test]
fn a_run_folder_from_before_the_backend_seam_resumes_as_it_did() {
    let dir = fixture();
    let pipeline = dir.path().join("old/pipeline.ron");
    let ron = std::fs::read_to_string(&pipeline).expect("ron");
    assert!(!ron.contains("device"), "the fixture predates the field");
    std::fs::write(&pipeline, ron.replace("epochs: 1,", "epochs: 2,")).expect("rewrite");
    run(
        dir.path(),
        &["run", "-q", "--resume", "old", "--data", "synth"],
    );
    let csv = std::fs::read_to_string(dir.path().join("old/metrics.csv")).expect("metrics");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    // The second epoch as 1e678b9 resumed it: train loss, train accuracy, validation loss,
    // accuracy and AUC (the timing columns differ run to run). Its folder counted epochs
    // from 0; the rewritten metrics.csv numbers both from 1.
    let columns = |row: &str| row.split(',').take(6).collect::<Vec<_>>().join(",");
    assert_eq!(columns(rows[1]), "2,0.719898,0.5000,0.715272,0.5161,0.5125");
    assert!(rows[0].starts_with("1,"), "{csv}");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("old/state.json")).expect("state"),
    )
    .expect("json");
    assert_eq!(state["format"], 2, "{state}");
    assert_eq!(state["history"][0]["epoch"], 1, "{state}");
    assert_eq!(state["history"][1]["epoch"], 2, "{state}");
    let best = state["best"][1].as_u64().expect("best epoch");
    assert!(best == 1 || best == 2, "{state}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("old/summary.json")).expect("summary"),
    )
    .expect("json");
    assert_eq!(summary["best_epoch"].as_u64(), Some(best), "{summary}");
}

#[test]
fn an_old_run_folder_counted_from_zero_reads_from_one_and_resumes_as_finished() {
    let dir = fixture();
    // Its summary.json says `best_epoch: 0` (from 0), without a format.
    let text = std::fs::read_to_string(dir.path().join("old/summary.json")).expect("summary");
    assert!(
        text.contains("\"best_epoch\": 0") && !text.contains("format"),
        "{text}"
    );
    let summary: twinflow::train::session::TrainSummary =
        serde_json::from_str(&text).expect("an old summary parses");
    assert_eq!(summary.best_epoch, Some(1));
    // It ran its one epoch: a resume says so and changes nothing.
    let state = std::fs::read(dir.path().join("old/state.json")).expect("state");
    let t = run(
        dir.path(),
        &["run", "-q", "--resume", "old", "--data", "synth"],
    );
    assert!(
        t.contains("already finished (it ran all 1 of its epochs, best epoch 1)"),
        "{t}"
    );
    let after = std::fs::read(dir.path().join("old/state.json")).expect("state");
    assert!(state == after, "state.json changed");
}
