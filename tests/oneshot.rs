//! `twinflow oneshot` on a tiny network trained on synthetic data: the table, the JSON in
//! the run folder, determinism for a seed, an N the test identities cannot fill, and the
//! default N lowered to fit them.

use crate::train::{run, setup, tiny_with};
use crate::util::{text, twinflow};

#[test]
fn oneshot_reports_accuracy_per_n_with_its_interval_and_chance() {
    let dir = setup();
    let ron = tiny_with("Balanced(same_ratio: 0.5, pairs_per_epoch: 64)", 1, "runs");
    std::fs::write(dir.path().join("tiny.ron"), ron).expect("write");
    run(dir.path(), &["run", "-q", "tiny.ron", "--data", "synth"]);
    let args = [
        "oneshot",
        "--run",
        "runs/tiny-1",
        "--data",
        "synth",
        "--ways",
        "2,5,10",
        "--trials",
        "200",
        "--seed",
        "3",
    ];
    let t = run(dir.path(), &args);
    assert!(t.contains("95% interval") && t.contains("chance"), "{t}");
    // `data synth` makes 12 test identities, all with two or more images.
    assert!(t.contains("12 test identities (12 with two or more"), "{t}");
    let json = dir.path().join("runs/tiny-1/oneshot.json");
    let first = std::fs::read_to_string(&json).expect("oneshot.json");
    let report: serde_json::Value = serde_json::from_str(&first).expect("json");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{report}");
    for (row, n) in results.iter().zip([2.0, 5.0, 10.0]) {
        assert_eq!(row["n_way"].as_f64(), Some(n));
        assert_eq!(row["trials"].as_u64(), Some(200));
        assert_eq!(row["chance"].as_f64(), Some(1.0 / n));
        let acc = row["accuracy"].as_f64().expect("accuracy");
        // The table writes it as every command does: a percentage with one decimal.
        let printed = format!("{:>6}  {:>8}", n as usize, format!("{:.1}%", 100.0 * acc));
        assert!(t.contains(&printed), "`{printed}` missing:\n{t}");
        let (lo, hi) = (row["ci95"][0].as_f64(), row["ci95"][1].as_f64());
        assert!(
            lo.is_some_and(|lo| lo <= acc) && hi.is_some_and(|hi| acc <= hi),
            "{row}"
        );
    }
    let t = run(dir.path(), &args);
    let second = std::fs::read_to_string(&json).expect("oneshot.json");
    assert_eq!(first, second, "the same seed gave different trials");
    // The first result was not overwritten silently: it is kept, and the output says where.
    assert!(t.contains("oneshot.previous.json"), "{t}");
    let kept = dir.path().join("runs/tiny-1/oneshot.previous.json");
    assert_eq!(std::fs::read_to_string(kept).expect("kept"), first);
    let out = twinflow(
        dir.path(),
        &[
            "oneshot",
            "--run",
            "runs/tiny-1",
            "--data",
            "synth",
            "--ways",
            "20",
        ],
    );
    let t = text(&out);
    assert!(
        !out.status.success() && t.contains("--ways 20") && t.contains("2..=12"),
        "{t}"
    );
    // Without --ways, the default 20 is lowered to the 12 test identities, and said so.
    let t = run(
        dir.path(),
        &[
            "oneshot",
            "--run",
            "runs/tiny-1",
            "--data",
            "synth",
            "--trials",
            "50",
        ],
    );
    assert!(t.contains("5,10,20 became 5,10,12"), "{t}");
    let report = std::fs::read_to_string(&json).expect("oneshot.json");
    let report: serde_json::Value = serde_json::from_str(&report).expect("json");
    let ways: Vec<u64> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["n_way"].as_u64())
        .collect();
    assert_eq!(ways, [5, 10, 12], "{report}");
}
