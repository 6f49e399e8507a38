//! `twinflow sweep` end to end on generated data: a grid runs every combination, writes its
//! tables and figures, skips finished runs, and resumes an unfinished one.

use std::path::Path;

use crate::util::{text, twinflow};

const GRID: &str = r##"// Two same/different ratios of a tiny network.
Grid(
    axes: [(name: "ratio", values: ["0.25", "0.75"])],
    pipeline: r#"Pipeline(
        stages: [
            Decode(()),
            Resize((width: 24, height: 24)),
            PairBatch((sampler: Balanced(same_ratio: ${ratio}, pairs_per_epoch: 64), batch_size: 16)),
            Train(()),
        ],
        model: (conv: [(filters: 4, kernel: 5), (filters: 8, kernel: 3, pool: false)], dense: (units: 32)),
        optimizer: Adam(lr: 1e-3),
        schedule: (epochs: 5, patience: None),
    )"#,
)
"##;

/// Runs the test's sweep with an epoch cap of `cap` and `extra` arguments.
fn sweep_capped(dir: &Path, cap: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sweep",
        "-q",
        "grid.ron",
        "--data",
        "synth",
        "--out",
        "sw",
        "--max-epochs",
        cap,
    ];
    args.extend(extra);
    twinflow(dir, &args)
}

/// Runs the test's sweep (2 epochs at most) and expects it to succeed.
fn sweep(dir: &Path, extra: &[&str]) -> String {
    let out = sweep_capped(dir, "2", extra);
    let t = text(&out);
    assert!(out.status.success(), "{extra:?}: {t}");
    t
}

#[test]
fn a_grid_sweep_runs_tabulates_skips_and_resumes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = twinflow(
        dir.path(),
        &["data", "synth", "--out", "synth", "--size", "48"],
    );
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(dir.path().join("grid.ron"), GRID).expect("write");
    let ok = twinflow(dir.path(), &["validate", "grid.ron"]);
    assert!(text(&ok).contains("grid of 2 pipelines"), "{}", text(&ok));

    let t = sweep(dir.path(), &[]);
    assert!(t.contains("[2/2] ratio-0.75"), "{t}");
    let sw = dir.path().join("sw");
    let csv = std::fs::read_to_string(sw.join("results.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("ratio-0.25,identity,Balanced,0.25,")),
        "{csv}"
    );
    let md = std::fs::read_to_string(sw.join("results.md")).expect("md");
    assert!(md.contains("| run | same_ratio |"), "{md}");
    for f in [
        "val-accuracy.png",
        "val-loss.png",
        "accuracy-by-same_ratio.png",
        "sweep.json",
    ] {
        assert!(sw.join(f).is_file(), "{f} missing");
    }
    // The epoch cap is recorded in the run's own pipeline.
    let ron = std::fs::read_to_string(sw.join("ratio-0.25-1/pipeline.ron")).expect("ron");
    assert!(ron.contains("epochs: 2"), "{ron}");

    // Everything is done: a rerun trains nothing.
    let t = sweep(dir.path(), &[]);
    assert!(t.contains("2 done") && !t.contains("[1/2]"), "{t}");

    // An unfinished run (no summary yet) is resumed, not restarted.
    let run = sw.join("ratio-0.75-1");
    std::fs::remove_file(run.join("summary.json")).expect("rm");
    let t = sweep(dir.path(), &["--dry-run"]);
    assert!(t.contains("Partial\tratio-0.75"), "{t}");
    let t = sweep(dir.path(), &[]);
    assert!(
        t.contains("[2/2] ratio-0.75") && t.contains("resuming"),
        "{t}"
    );
    assert!(run.join("summary.json").is_file());

    // A different epoch cap is another sweep: refused, nothing mixed.
    let out = sweep_capped(dir.path(), "3", &[]);
    assert!(
        !out.status.success() && text(&out).contains("another sweep"),
        "{}",
        text(&out)
    );
}
