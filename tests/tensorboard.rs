//! TensorBoard reads what a run writes: its own reader (Python's `tensorboard` package, via
//! `scripts/tensorboard_read.py`) loads a resumed run's event files, and every scalar equals
//! `metrics.csv`'s column at its epoch, once, and the plots are the run's PNGs.
//!
//! The reader's Python is `TWINFLOW_TB_PYTHON`, else `.venv-tb/bin/python` (which `.ci/run`
//! makes). Without either the test prints why and passes, unless `CI` is set: CI must run it.

use std::path::{Path, PathBuf};

use crate::train::{resume_to, run, setup, tiny_with};

/// The Python with TensorBoard installed, or why there is none.
fn reader() -> Result<PathBuf, String> {
    if let Some(python) = std::env::var_os("TWINFLOW_TB_PYTHON") {
        return Ok(python.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tb/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    Err(format!(
        "no TensorBoard reader: set TWINFLOW_TB_PYTHON, or make {} \
         (python3 -m venv .venv-tb && .venv-tb/bin/pip install tensorboard)",
        venv.display()
    ))
}

/// Whether this is CI, where a missing reader fails the test instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// What the reader prints for `run`.
fn read_events(python: &Path, run: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tensorboard_read.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(run)
        .output()
        .unwrap_or_else(|e| panic!("{} does not run: {e}", python.display()));
    assert!(
        out.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the reader prints JSON")
}

/// How far a value printed as `text` may be from the exact one: half its last digit.
fn printed_precision(text: &str) -> f64 {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len());
    let exponent: i32 = exponent.parse().expect("exponent");
    0.5 * 10f64.powi(exponent - decimals as i32)
}

/// Each `metrics.csv` column and its TensorBoard tag.
const TAGS: [(&str, &str); 13] = [
    ("train_loss", "loss/train"),
    ("val_loss", "loss/validation"),
    ("train_acc", "accuracy/train"),
    ("val_acc", "accuracy/validation"),
    ("val_auc", "auc/validation"),
    ("val_precision", "precision/validation"),
    ("val_recall", "recall/validation"),
    ("lr", "learning_rate"),
    ("seconds", "speed/epoch_seconds"),
    ("pairs_per_s", "speed/pairs_per_s"),
    ("same_ratio_min", "same_ratio/min"),
    ("same_ratio_max", "same_ratio/max"),
    (
        "val_acc_best_threshold",
        "accuracy/validation_best_threshold",
    ),
];

#[test]
fn tensorboard_reads_every_epoch_of_a_resumed_run_once_and_its_plots() {
    let python = match reader() {
        Ok(python) => python,
        Err(why) if in_ci() => panic!("CI is set but: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = setup();
    let d = dir.path();
    let ron = tiny_with("Balanced(same_ratio: 0.5, pairs_per_epoch: 64)", 2, "runs");
    std::fs::write(d.join("tb.ron"), ron).expect("write");
    run(d, &["run", "-q", "tb.ron", "--data", "synth"]);
    let folder = d.join("runs/tb-1");
    let events = folder.join("events.out.tfevents.0.twinflow-epochs");
    let before = std::fs::read(&events).expect("the epochs' event file");
    resume_to(d, "tb-1", 2, 3);
    let after = std::fs::read(&events).expect("the epochs' event file");
    // Appended to, not rewritten: a TensorBoard watching the run reads only the new epoch.
    assert!(
        after.len() > before.len() && after.starts_with(&before),
        "the resume rewrote the event file"
    );

    let got = read_events(&python, &folder);
    assert_eq!(
        got["files"],
        serde_json::json!([
            "events.out.tfevents.0.twinflow-epochs",
            "events.out.tfevents.1.twinflow-plots"
        ])
    );
    let csv = std::fs::read_to_string(folder.join("metrics.csv")).expect("metrics.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let scalars = got["scalars"].as_object().expect("scalars");
    assert_eq!(scalars.len(), TAGS.len(), "{:?}", scalars.keys());
    for (column, tag) in TAGS {
        let c = header.iter().position(|h| *h == column).expect(column);
        let points = scalars[tag].as_array().expect(tag);
        // Rows with a value, by their epoch: the step is the `epoch` column (both from 1).
        let want: Vec<(u64, &str)> = rows
            .iter()
            .filter(|r| !r[c].is_empty())
            .map(|r| (r[0].parse::<u64>().expect("epoch"), r[c]))
            .collect();
        assert_eq!(points.len(), want.len(), "{tag}: {points:?} vs {csv}");
        for (point, (step, text)) in points.iter().zip(want) {
            assert_eq!(point[0].as_u64(), Some(step), "{tag}: {point}");
            let (value, csv_value) = (
                point[1].as_f64().expect("value"),
                text.parse::<f64>().expect(text),
            );
            // The CSV is rounded as printed; TensorBoard holds 32-bit floats.
            let tolerance = printed_precision(text) + csv_value.abs() * 1e-6;
            assert!(
                (value - csv_value).abs() <= tolerance,
                "{tag} at step {step}: TensorBoard {value}, metrics.csv {text}"
            );
        }
    }
    // Wall times: this run's, in epoch order.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let times: Vec<f64> = scalars["loss/train"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p[2].as_f64().expect("wall time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]) && times.iter().all(|t| (now - t).abs() < 600.0),
        "{times:?} (now {now})"
    );

    let images = got["images"].as_object().expect("images");
    assert_eq!(images.len(), 2, "{:?}", images.keys());
    for (tag, file) in [
        ("plots/roc", "roc.png"),
        ("plots/test_scores", "test-scores.png"),
    ] {
        let list = images[tag].as_array().expect(tag);
        assert_eq!(list.len(), 1, "{tag}: one image, the resumed run's end");
        let image = &list[0];
        assert_eq!(image["step"].as_u64(), Some(3), "{tag}: at the last epoch");
        assert!(image["width"].as_u64() > Some(0) && image["height"].as_u64() > Some(0));
        let png = std::fs::read(folder.join(file)).expect(file);
        let hex: String = png.iter().map(|b| format!("{b:02x}")).collect();
        assert!(image["png"].as_str() == Some(&hex), "{tag} is not {file}");
    }
}
