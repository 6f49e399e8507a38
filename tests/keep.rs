//! `--keep best`: a finished run drops what only a resume reads, still evaluates, and
//! refuses a resume by name.

use crate::faults::{fails, tiny};
use crate::train::{run, setup};

#[test]
fn a_run_kept_as_best_only_is_smaller_still_verifies_and_refuses_a_resume() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("tiny.ron"), tiny(1)).expect("write");
    let t = run(
        d,
        &["run", "-q", "tiny.ron", "--data", "synth", "--keep", "best"],
    );
    assert!(
        t.contains("kept the best weights only (--keep best): freed"),
        "{t}"
    );
    let r = d.join("runs/tiny-1");
    assert!(r.join("best.safetensors").exists() && r.join("summary.json").exists());
    assert!(!r.join("optimizer.safetensors").exists() && !r.join("last.safetensors").exists());
    let image = crate::faults::first_image(d);
    let i = image.to_str().expect("utf-8");
    let t = run(d, &["verify", "--run", "runs/tiny-1", i, i]);
    assert!(t.contains("score"), "{t}");
    // Extended as runs are (more epochs), it has nothing to resume from.
    let ron = r.join("pipeline.ron");
    let text = std::fs::read_to_string(&ron).expect("ron");
    std::fs::write(&ron, text.replace("epochs: 1,", "epochs: 2,")).expect("write");
    let t = fails(
        d,
        &["run", "-q", "--resume", "runs/tiny-1", "--data", "synth"],
    );
    assert!(
        t.contains("was finished with --keep best") && t.contains("cannot be resumed"),
        "{t}"
    );
}
