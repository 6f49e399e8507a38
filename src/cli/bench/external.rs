//! The same training step timed by other tools, for side-by-side ratios: TensorFlow-CPU
//! Keras (`scripts/bench/keras_train.py`, on the CPU) and PyTorch eager
//! (`scripts/bench/torch_train.py`, on CUDA when present), each building the network of
//! the benchmarked pipeline from the same JSON spec.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use serde::Serialize;

use crate::model::{Device, NetSpec};

/// Runs `script` with `python` and `args`; returns the JSON lines it printed.
fn run_script(
    python: &Path,
    script: &str,
    args: &[String],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/bench")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("reading `{l}`")))
        .collect()
}

fn batch_args(batches: &[usize], (warmup, steps): (usize, usize)) -> Vec<String> {
    let mut args = vec![
        "--steps".to_string(),
        steps.to_string(),
        "--warmup".to_string(),
        warmup.to_string(),
    ];
    for b in batches {
        args.extend(["--batch".to_string(), b.to_string()]);
    }
    args
}

/// Prints `ours` beside the other tool's pairs/s, batch by batch.
fn compare(tool: &str, mine: &str, lines: &[serde_json::Value], ours: &[(usize, f64)]) {
    println!(
        "\n{:>6} {:>14} {:>14} {:>8}",
        "batch",
        format!("{mine} p/s"),
        format!("{tool} p/s"),
        "ratio"
    );
    for v in lines {
        let (Some(batch), Some(rate)) = (v["batch"].as_u64(), v["pairs_per_s"].as_f64()) else {
            continue;
        };
        if let Some((_, ours)) = ours.iter().find(|(b, _)| *b as u64 == batch) {
            println!("{batch:>6} {ours:>14.1} {rate:>14.1} {:>7.2}x", ours / rate);
        }
    }
}

/// Times `spec`'s network in Keras (TensorFlow on the CPU) and prints the CPU's ratio to it.
///
/// # Errors
/// The script cannot run or fails.
pub fn keras(
    python: &Path,
    spec: &NetSpec,
    (batches, steps): (&[usize], (usize, usize)),
    cpu: &[(usize, f64)],
) -> anyhow::Result<()> {
    let mut args = vec!["--spec".to_string(), spec_json(spec)?];
    args.extend(batch_args(batches, steps));
    let lines = run_script(python, "keras_train.py", &args)?;
    compare("keras", "cpu", &lines, cpu);
    Ok(())
}

/// `spec` as both scripts read it.
fn spec_json(spec: &NetSpec) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&ScriptSpec {
        model: &spec.model,
        dropout_rates: spec.model.dropout_rates(),
        loss: spec.loss,
        distance: spec.distance,
        optimizer: spec.optimizer,
        input: spec.input,
    })?)
}

/// What the Keras and PyTorch scripts build: the network's settings as twinflow's RON names
/// them, with the dropout rates per layer worked out.
#[derive(Serialize)]
struct ScriptSpec<'a> {
    model: &'a crate::model::ModelConfig,
    dropout_rates: Vec<Option<f64>>,
    loss: crate::model::Loss,
    distance: crate::model::Distance,
    optimizer: crate::model::OptimizerConfig,
    input: (usize, usize),
}

/// Times `spec`'s network in PyTorch eager and prints `device`'s ratio to it.
///
/// # Errors
/// The script cannot run or fails.
pub fn torch(
    python: &Path,
    spec: &NetSpec,
    (batches, steps): (&[usize], (usize, usize)),
    (device, ours): (Device, &[(usize, f64)]),
) -> anyhow::Result<()> {
    let mut args = vec!["--spec".to_string(), spec_json(spec)?];
    args.extend(batch_args(batches, steps));
    let lines = run_script(python, "torch_train.py", &args)?;
    if let Some(first) = lines.first() {
        println!("\n# pytorch {} on {}", first["torch"], first["device"]);
    }
    compare("torch", &device.to_string(), &lines, ours);
    Ok(())
}
