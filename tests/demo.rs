//! The README's first command, `twinflow run pipelines/demo.ron` with nothing downloaded:
//! it makes its synthetic dataset, trains a model that has clearly learnt, and `oneshot`
//! with its default ways works on the run.

use std::path::Path;

use crate::train::run;

#[test]
fn the_demo_makes_its_dataset_and_learns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo.ron");
    let pipeline = pipeline.to_string_lossy().into_owned();
    // In an empty folder, as on a fresh clone: data/demo and runs/ are made there.
    let t = run(dir.path(), &["run", "-q", &pipeline]);
    assert!(
        t.contains("made the synthetic dataset of data.synth in data/demo"),
        "{t}"
    );
    let summary =
        std::fs::read_to_string(dir.path().join("runs/demo-1/summary.json")).expect("summary.json");
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("json");
    let eval = &summary["evaluation"];
    // 480 test pairs of 120 identities the network never saw: a 0.95 bar is far from the
    // 0.5 of a model that learnt nothing, and its bootstrap interval is about +-0.015.
    assert_eq!(eval["test_pairs"].as_u64(), Some(480), "{summary}");
    let auc = eval["auc"].as_f64().expect("auc");
    let accuracy = eval["accuracy"].as_f64().expect("accuracy");
    assert!(auc >= 0.95, "test AUC {auc}: {summary}");
    assert!(accuracy >= 0.9, "test accuracy {accuracy}: {summary}");

    // The dataset is reused, and the default 5-, 10- and 20-way trials fit its test set.
    let t = run(dir.path(), &["oneshot", "--run", "runs/demo-1"]);
    assert!(t.contains("data.synth; reused"), "{t}");
    let report =
        std::fs::read_to_string(dir.path().join("runs/demo-1/oneshot.json")).expect("oneshot.json");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let results = report["results"].as_array().expect("results");
    let ways: Vec<u64> = results.iter().filter_map(|r| r["n_way"].as_u64()).collect();
    assert_eq!(ways, [5, 10, 20], "{report}");
    let five = results[0]["accuracy"].as_f64().expect("accuracy");
    assert!(five > 0.6, "5-way accuracy {five} (chance 0.2): {report}");
}
