//! Training on the GPU backend end to end (any Vulkan adapter, Mesa's lavapipe included):
//! a run trained on the GPU resumes exactly there, continues and evaluates on the CPU with
//! `--device` (an override, not an edit of the run's pipeline), and without a driver
//! `device: Gpu` fails before any work with an error saying what to install.
//!
//! Without an adapter these tests print why and pass, unless `TWINFLOW_REQUIRE_GPU=1`.

use std::path::Path;

use crate::train::{run, setup, tiny_with};
use crate::util::{text, twinflow};

/// True when a GPU adapter exists; panics when one is required and missing.
fn gpu_present(dir: &Path) -> bool {
    let out = twinflow(dir, &["devices"]);
    if out.status.success() {
        return true;
    }
    assert!(
        std::env::var("TWINFLOW_REQUIRE_GPU").as_deref() != Ok("1"),
        "TWINFLOW_REQUIRE_GPU=1 but: {}",
        text(&out)
    );
    eprintln!("skipped: {}", text(&out));
    false
}

fn tiny(epochs: usize) -> String {
    tiny_with(
        "Balanced(same_ratio: 0.5, pairs_per_epoch: 64)",
        epochs,
        "runs",
    )
}

fn file(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn eval_accuracy(dir: &Path, device: &str, out: &str) -> serde_json::Value {
    run(
        dir,
        &[
            "eval",
            "--run",
            "runs/halves-1",
            "--pairs",
            "synth/pairsDevTest.txt",
            "--data",
            "synth",
            "--device",
            device,
            "--out",
            out,
        ],
    );
    let report: serde_json::Value =
        serde_json::from_str(&file(dir, &format!("{out}/eval.json"))).expect("json");
    report["auc"].clone()
}

#[test]
fn a_gpu_run_resumes_exactly_and_moves_to_the_cpu_and_back() {
    let dir = setup();
    let d = dir.path();
    if !gpu_present(d) {
        return;
    }
    std::fs::write(d.join("straight.ron"), tiny(3)).expect("write");
    std::fs::write(d.join("halves.ron"), tiny(2)).expect("write");
    let t = run(
        d,
        &[
            "run",
            "-q",
            "straight.ron",
            "--data",
            "synth",
            "--device",
            "gpu",
        ],
    );
    assert!(t.contains("on gpu: "), "the summary names the adapter: {t}");
    run(
        d,
        &[
            "run",
            "-q",
            "halves.ron",
            "--data",
            "synth",
            "--device",
            "gpu",
        ],
    );
    assert!(file(d, "runs/halves-1/pipeline.ron").contains("device: Gpu"));
    // Resumed on the GPU, the run ends with the uninterrupted run's weights, bit for bit.
    let raise = |to: usize| {
        let path = d.join("runs/halves-1/pipeline.ron");
        let ron = file(d, "runs/halves-1/pipeline.ron");
        let ron = ron.replace(&format!("epochs: {}", to - 1), &format!("epochs: {to}"));
        std::fs::write(path, ron).expect("rewrite");
    };
    raise(3);
    let resume = ["run", "-q", "--resume", "runs/halves-1", "--data", "synth"];
    run(d, &resume);
    let a = std::fs::read(d.join("runs/straight-1/last.safetensors")).expect("straight");
    let b = std::fs::read(d.join("runs/halves-1/last.safetensors")).expect("resumed");
    assert!(
        a == b,
        "a GPU run resumed on the GPU differs from an uninterrupted one"
    );
    // The GPU's weights score alike on either backend.
    let on_gpu = eval_accuracy(d, "gpu", "eval-gpu");
    let on_cpu = eval_accuracy(d, "cpu", "eval-cpu");
    let (g, c) = (on_gpu.as_f64().expect("auc"), on_cpu.as_f64().expect("auc"));
    assert!((g - c).abs() < 1e-3, "AUC on the gpu {g}, on the cpu {c}");
    // The CPU continues the GPU's run without editing its pipeline, and hands it back.
    raise(4);
    let mut on = resume.to_vec();
    on.extend(["--device", "cpu"]);
    run(d, &on);
    assert!(file(d, "runs/halves-1/pipeline.ron").contains("device: Gpu"));
    raise(5);
    run(d, &resume);
    let log = file(d, "runs/halves-1/devices.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4, "one line per invocation: {log}");
    // Each line names the first epoch it trained, counted from 1.
    assert!(lines[2].starts_with("from epoch 4: cpu"), "{log}");
    assert!(lines[3].starts_with("from epoch 5: gpu: "), "{log}");
    let csv = file(d, "runs/halves-1/metrics.csv");
    assert_eq!(csv.lines().count(), 1 + 5, "{csv}");
}

#[test]
fn without_a_vulkan_driver_a_gpu_run_fails_before_any_work_saying_what_to_install() {
    let dir = setup();
    let d = dir.path();
    std::fs::write(d.join("tiny.ron"), tiny(1)).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .args([
            "run", "-q", "tiny.ron", "--data", "synth", "--device", "gpu",
        ])
        .current_dir(d)
        // The Vulkan loader then finds no driver at all.
        .env("VK_ICD_FILENAMES", d.join("no-such-driver.json"))
        .env("VK_DRIVER_FILES", d.join("no-such-driver.json"))
        .output()
        .expect("runs");
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("no GPU adapter found") && t.contains("mesa-vulkan-drivers"),
        "{t}"
    );
    assert!(!t.contains("panicked"), "{t}");
    assert!(!d.join("runs").exists(), "no run folder was made");
}

#[test]
fn a_network_too_large_for_the_adapter_is_refused_before_its_run_folder_naming_the_layer() {
    let dir = setup();
    let d = dir.path();
    if !gpu_present(d) {
        return;
    }
    // conv0's output for 256 images of 250x250 is ~31 GiB: over any adapter's binding limit.
    let ron = "Pipeline(stages: [Decode(()), Resize((width: 250, height: 250)), \
         PairBatch((sampler: Balanced(same_ratio: 0.5, pairs_per_epoch: 128), batch_size: 128)), \
         Train((runs: \"runs\"))], \
         model: (conv: [(filters: 512, kernel: 5), (filters: 1, kernel: 3)], dense: (units: 8)), device: Gpu)";
    std::fs::write(d.join("huge.ron"), ron).expect("write");
    let out = twinflow(d, &["run", "-q", "huge.ron", "--data", "synth"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    // Found by validation, from the layer sizes, before the data is read; `prepare` checks
    // the same at run time for what the estimate cannot see (its own test).
    assert!(
        t.contains("model.conv[0]: its feature maps for a batch of 128 pairs")
            && t.contains("over the adapter's limit"),
        "{t}"
    );
    assert!(t.contains("batch_size"), "says what to change: {t}");
    assert!(!d.join("runs").exists(), "no run folder was made");
}
