//! What a person sees while a run trains and in its files: the run folder when training
//! starts, one line per epoch, epochs numbered from 1 everywhere, and `--resume` of a
//! finished run saying so instead of training.

use std::path::Path;

use crate::train::{run, setup, tiny_with};

const BALANCED: &str = "Balanced(same_ratio: 0.5, pairs_per_epoch: 64)";

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

#[test]
fn training_names_its_folder_first_then_says_each_epoch_numbered_from_one() {
    let dir = setup();
    std::fs::write(dir.path().join("tiny.ron"), tiny_with(BALANCED, 3, "runs")).expect("write");
    let t = run(dir.path(), &["run", "tiny.ron", "--data", "synth"]);
    let start = t
        .find("training in runs/tiny-1 (epochs 1..3)")
        .unwrap_or_else(|| panic!("no start line:\n{t}"));
    let lines: Vec<&str> = t.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(lines.len(), 3, "one line per epoch:\n{t}");
    for (k, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("epoch {}/3: train loss ", k + 1)),
            "{line}"
        );
        for part in [
            ", val loss ",
            ", val AUC ",
            "; best epoch ",
            " (val loss ",
            " s",
        ] {
            assert!(line.contains(part), "`{part}` missing: {line}");
        }
    }
    assert!(start < t.find("epoch 1/3:").expect("epoch 1"), "{t}");
    // One numbering: metrics.csv, state.json, summary.json and the console agree.
    let folder = dir.path().join("runs/tiny-1");
    let csv = std::fs::read_to_string(folder.join("metrics.csv")).expect("csv");
    let epochs: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    assert_eq!(epochs, ["1", "2", "3"], "{csv}");
    let state = json(&folder.join("state.json"));
    let best = state["best"][1].as_u64().expect("best");
    assert!((1..=3).contains(&best), "{state}");
    assert_eq!(
        json(&folder.join("summary.json"))["best_epoch"].as_u64(),
        Some(best)
    );
    assert!(t.contains(&format!("; best epoch {best}\n")), "{t}");
    assert!(
        lines[2].contains(&format!("best epoch {best} ")),
        "{}",
        lines[2]
    );
    // `-q` keeps stderr for problems only.
    let quiet = run(dir.path(), &["run", "-q", "tiny.ron", "--data", "synth"]);
    assert!(
        !quiet.contains("epoch 1/3") && !quiet.contains("training in"),
        "{quiet}"
    );
}

#[test]
fn resuming_a_finished_run_says_so_and_trains_nothing_until_it_is_extended() {
    let dir = setup();
    std::fs::write(dir.path().join("tiny.ron"), tiny_with(BALANCED, 2, "runs")).expect("write");
    run(dir.path(), &["run", "-q", "tiny.ron", "--data", "synth"]);
    let folder = dir.path().join("runs/tiny-1");
    let files = || {
        [
            "state.json",
            "metrics.csv",
            "summary.json",
            "last.safetensors",
        ]
        .map(|f| std::fs::read(folder.join(f)).expect(f))
    };
    let before = files();
    let resume = ["run", "--resume", "runs/tiny-1", "--data", "synth"];
    let t = run(dir.path(), &resume);
    assert!(
        t.contains("runs/tiny-1 is already finished (it ran all 2 of its epochs")
            && t.contains("raise schedule.epochs (now 2) in runs/tiny-1/pipeline.ron"),
        "{t}"
    );
    assert!(!t.contains("epoch 3/"), "{t}");
    assert!(files() == before, "a finished run's folder changed");
    // Stopped early: raising the epochs does not extend it, raising the patience does.
    let pipeline = folder.join("pipeline.ron");
    let ron = std::fs::read_to_string(&pipeline).expect("ron");
    let ron = ron
        .replace("epochs: 2", "epochs: 4")
        .replace("patience: None", "patience: Some(1)");
    std::fs::write(&pipeline, &ron).expect("edit");
    let mut state = json(&folder.join("state.json"));
    state["since_best"] = 1.into();
    let state_text = serde_json::to_string_pretty(&state).expect("json");
    std::fs::write(folder.join("state.json"), &state_text).expect("edit state");
    let t = run(dir.path(), &resume);
    assert!(
        t.contains("stopped early after epoch 2") && t.contains("raise schedule.patience (now 1)"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("state.json")).expect("state"),
        state_text
    );
    std::fs::write(
        &pipeline,
        ron.replace("patience: Some(1)", "patience: Some(2)"),
    )
    .expect("edit");
    let t = run(dir.path(), &resume);
    assert!(t.contains("resuming runs/tiny-1 at epoch 3/4"), "{t}");
    assert!(t.contains("epoch 3/4: train loss"), "{t}");
    let csv = std::fs::read_to_string(folder.join("metrics.csv")).expect("csv");
    assert!(
        csv.lines().nth(3).is_some_and(|l| l.starts_with("3,")),
        "{csv}"
    );
}
