//! Every pipeline shipped in `pipelines/` must validate, and broken ones must list every problem.

use std::path::{Path, PathBuf};

use twinflow::pipeline::validate::{load, parse, plan};

use crate::util::{text, twinflow};

fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("pipelines/ is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "ron") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_pipeline_validates() {
    let files = shipped();
    assert!(
        files.len() >= 3,
        "expected the shipped pipelines, found {files:?}"
    );
    let mut grids = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        if twinflow::sweep::grid::is_grid(&text) {
            grids += 1;
            if let Err(err) = twinflow::sweep::load_file(&file) {
                panic!("{err}");
            }
        } else if let Err(err) = load(&file) {
            panic!("{err}");
        }
    }
    assert!(grids >= 1, "expected a grid example in pipelines/grids/");
}

#[test]
fn validate_command_accepts_the_shipped_pipelines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<String> = shipped().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = twinflow(root, &args);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_bad_pipeline_lists_every_problem_with_its_path() {
    let ron = r#"Pipeline(stages: [
        Decode((workers: 0)),
        Resize((width: 0)),
        PairBatch((sampler: Balanced(same_ratio: 2.0, pairs_per_epoch: 10), batch_size: 0)),
        Sink(Count),
    ], schedule: (epochs: 0, average: Some(1.0)))"#;
    let parsed = parse(ron, Path::new("bad.ron")).expect("parses");
    let problems = plan(parsed).expect_err("invalid");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "stages[0].workers",
        "stages[1].width",
        "stages[2].batch_size",
        "stages[2].sampler.same_ratio",
        "schedule.epochs",
        "schedule.average",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
}

#[test]
fn stage_order_and_unknown_fields_are_reported() {
    let err = parse(
        "Pipeline(stages: [Decode((wrkers: 2))])",
        Path::new("typo.ron"),
    )
    .expect_err("typo");
    // The message names the place, the parser's error (its cause) names the field.
    let text = twinflow::errors::chain(&err);
    assert!(
        err.to_string().contains("typo.ron:1:") && text.contains("wrkers"),
        "{text}"
    );
    let parsed = parse(
        "Pipeline(stages: [Sink(Count), Decode(())])",
        Path::new("order.ron"),
    )
    .expect("parses");
    let problems = plan(parsed).expect_err("bad order");
    let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        all.iter()
            .any(|p| p.contains("Decode must be the first stage")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|p| p.contains("Sink must be the last stage")),
        "{all:?}"
    );
}

#[test]
fn stages_command_lists_every_kind() {
    let out = twinflow(Path::new(env!("CARGO_MANIFEST_DIR")), &["stages"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for kind in [
        "Decode",
        "Resize",
        "PairBatch",
        "Augment",
        "Sink",
        "Balanced",
        "HardNegative",
        "SemiHard",
        "on_error",
    ] {
        assert!(t.contains(kind), "{kind} missing:\n{t}");
    }
}
