//! A run remembers its dataset (`data.json`): `eval`, `oneshot` and `run --resume` find it
//! without `--data`, accept it at another path, refuse another dataset unless
//! `--other-data` is given, and `eval --pairs NAME` finds the pairs file in it.

use std::path::Path;

use crate::faults::fails;
use crate::train::{run, setup, tiny_with};

/// `setup()` with a 1-epoch tiny run trained on `synth/`: `runs/tiny-1`.
fn trained() -> tempfile::TempDir {
    let dir = setup();
    let ron = tiny_with("Balanced(same_ratio: 0.5, pairs_per_epoch: 64)", 1, "runs");
    std::fs::write(dir.path().join("tiny.ron"), ron).expect("write");
    run(dir.path(), &["run", "-q", "tiny.ron", "--data", "synth"]);
    dir
}

fn raise_epochs(dir: &Path, to: usize) {
    let pipeline = dir.join("runs/tiny-1/pipeline.ron");
    let ron = std::fs::read_to_string(&pipeline).expect("ron");
    std::fs::write(
        &pipeline,
        ron.replace("epochs: 1", &format!("epochs: {to}")),
    )
    .expect("write");
}

fn epochs_done(dir: &Path) -> usize {
    let csv = std::fs::read_to_string(dir.join("runs/tiny-1/metrics.csv")).expect("metrics");
    csv.lines().count() - 1
}

#[test]
fn eval_oneshot_and_resume_use_the_recorded_dataset() {
    let dir = trained();
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny-1/data.json")).expect("data.json"),
    )
    .expect("json");
    let root = Path::new(record["root"].as_str().expect("root"));
    assert!(root.is_absolute() && root.ends_with("synth"), "{record}");
    // From another folder: neither the data nor the pairs file is there.
    let sub = dir.path().join("elsewhere");
    std::fs::create_dir(&sub).expect("mkdir");
    let t = run(
        &sub,
        &[
            "eval",
            "--run",
            "../runs/tiny-1",
            "--pairs",
            "pairsDevTest.txt",
        ],
    );
    assert!(t.contains("(recorded by ../runs/tiny-1)"), "{t}");
    assert!(
        t.contains("pairs: ") && t.contains("from the dataset"),
        "{t}"
    );
    assert!(t.contains("synth/pairsDevTest.txt"), "{t}");
    let t = run(
        dir.path(),
        &[
            "oneshot",
            "--run",
            "runs/tiny-1",
            "--ways",
            "2",
            "--trials",
            "20",
        ],
    );
    assert!(t.contains("(recorded by runs/tiny-1)"), "{t}");
    raise_epochs(dir.path(), 2);
    let t = run(dir.path(), &["run", "-q", "--resume", "runs/tiny-1"]);
    assert!(t.contains("(recorded by runs/tiny-1)"), "{t}");
    assert_eq!(epochs_done(dir.path()), 2);
}

#[test]
fn another_dataset_is_refused_unless_asked_for_and_a_moved_one_is_used() {
    let dir = trained();
    let d = dir.path();
    run(
        d,
        &[
            "data", "synth", "--out", "other", "--size", "48", "--seed", "8",
        ],
    );
    fn eval(data: &str) -> [&str; 7] {
        [
            "eval",
            "--run",
            "runs/tiny-1",
            "--pairs",
            "pairsDevTest.txt",
            "--data",
            data,
        ]
    }
    let t = fails(d, &eval("other"));
    assert!(
        t.contains("other is not the dataset runs/tiny-1 trained on")
            && t.contains("--other-data")
            && t.contains("synth"),
        "{t}"
    );
    let t = run(d, &[&eval("other")[..], &["--other-data"]].concat());
    assert!(t.contains("using it (--other-data)"), "{t}");
    raise_epochs(d, 2);
    let t = fails(
        d,
        &["run", "-q", "--resume", "runs/tiny-1", "--data", "other"],
    );
    assert!(t.contains("--other-data"), "{t}");
    // The dataset moved: the record's path is gone, the new one is the same dataset.
    std::fs::rename(d.join("synth"), d.join("moved")).expect("move");
    let t = fails(d, &["oneshot", "--run", "runs/tiny-1", "--ways", "2"]);
    assert!(t.contains("pass --data DIR where it is now"), "{t}");
    let t = run(d, &eval("moved"));
    assert!(
        t.contains("moved holds the dataset runs/tiny-1 trained on"),
        "{t}"
    );
    run(
        d,
        &["run", "-q", "--resume", "runs/tiny-1", "--data", "moved"],
    );
    assert_eq!(epochs_done(d), 2);
    // The resume recorded the new place, and said why in changes.log.
    let log = std::fs::read_to_string(d.join("runs/tiny-1/changes.log")).expect("log");
    assert!(log.contains("(the same dataset, moved)"), "{log}");
    let t = run(
        d,
        &[
            "eval",
            "--run",
            "runs/tiny-1",
            "--pairs",
            "pairsDevTest.txt",
        ],
    );
    assert!(t.contains("moved (recorded by runs/tiny-1)"), "{t}");
}

#[test]
fn a_run_without_a_record_resolves_its_data_as_before() {
    let dir = trained();
    let d = dir.path();
    std::fs::remove_file(d.join("runs/tiny-1/data.json")).expect("remove");
    let t = fails(
        d,
        &[
            "eval",
            "--run",
            "runs/tiny-1",
            "--pairs",
            "pairsDevTest.txt",
        ],
    );
    assert!(t.contains("no dataset: pass --data DIR"), "{t}");
    run(
        d,
        &[
            "eval",
            "--run",
            "runs/tiny-1",
            "--pairs",
            "pairsDevTest.txt",
            "--data",
            "synth",
        ],
    );
}
