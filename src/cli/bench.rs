//! `twinflow bench train`: training speed of the seed's model, optionally side by side with
//! the same model in TensorFlow-CPU Keras (`scripts/bench/keras_train.py`).

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{build, Device, Distance, Loss, ModelConfig, NetSpec, OptimizerConfig};

/// FLOPs of one training pair of the seed's model at 125x125 (forward of both twins, the
/// backward pass without the first layer's input gradient): 467.5 MFLOP.
const FLOP_PER_PAIR: f64 = 467.5e6;

/// Arguments of `twinflow bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Pairs per second of training steps (forward, backward, Adam) for the seed's model.
    Train {
        /// Batch sizes (pairs) to time.
        #[arg(long = "batch", default_values_t = [32, 128])]
        batches: Vec<usize>,
        /// Timed steps per batch size, after one warm-up step.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// The machine's FMA peak in GFLOP/s, to report the fraction achieved; by default the
        /// measured peak of this 2-core machine class: 340 with AVX-512, 175 with AVX2 only.
        #[arg(long)]
        peak: Option<f64>,
        /// Also time the same model in Keras with this Python (it needs tensorflow-cpu).
        #[arg(long, value_name = "PYTHON")]
        keras: Option<PathBuf>,
        /// The backend to time (`cpu` or `gpu`).
        #[arg(long, default_value = "cpu")]
        device: Device,
    },
}

/// Runs a benchmark.
///
/// # Errors
/// Model errors and a failing Keras script.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let BenchCommand::Train {
        batches,
        steps,
        peak,
        keras,
        device,
    } = &args.command;
    let peak = &peak.unwrap_or_else(default_peak);
    println!("twinflow bench train: the seed's model (8,440,857 parameters), 125x125, Adam 1e-4");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{cores} cores, device {device}, FMA peak taken as {peak} GFLOP/s");
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "batch", "s/step", "forward", "backward", "update", "pairs/s", "GFLOP/s", "of peak"
    );
    let mut ours = Vec::new();
    for &batch in batches {
        let t = time_steps(*device, batch, *steps)?;
        let rate = batch as f64 / t.total;
        let gflops = rate * FLOP_PER_PAIR / 1e9;
        println!(
            "{batch:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {rate:>10.1} {gflops:>10.1} {:>7.1}%",
            t.total,
            t.forward,
            t.backward,
            t.update,
            100.0 * gflops / peak
        );
        ours.push((batch, rate));
    }
    if let Some(python) = keras {
        compare_with_keras(python, batches, *steps, &ours)?;
    }
    let keras_flag = keras
        .as_ref()
        .map_or(String::new(), |p| format!(" --keras {}", p.display()));
    let flags: String = batches.iter().map(|b| format!(" --batch {b}")).collect();
    println!("\nreproduce: cargo run --release -- bench train{flags} --steps {steps}{keras_flag}");
    Ok(ExitCode::SUCCESS)
}

/// The 2-core FMA peak measured on this machine class (docs/performance.md).
fn default_peak() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return 340.0;
    }
    175.0
}

/// Mean seconds per step, in total and per phase.
struct Timing {
    total: f64,
    forward: f64,
    backward: f64,
    update: f64,
}

fn time_steps(device: Device, batch: usize, steps: usize) -> anyhow::Result<Timing> {
    let spec = NetSpec {
        model: ModelConfig::default(),
        loss: Loss::BinaryCrossEntropy,
        distance: Distance::L1,
        optimizer: OptimizerConfig::Adam {
            lr: 1e-4,
            decay: 0.0,
        },
        input: (125, 125),
        seed: 1,
    };
    let mut net = build(device, spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = batch * 125 * 125;
    let left: Vec<f32> = (0..n).map(|_| rng.gen()).collect();
    let right: Vec<f32> = (0..n).map(|_| rng.gen()).collect();
    let labels: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
    let (mut total, mut phases) = (Duration::ZERO, [Duration::ZERO; 3]);
    for step in 0..=steps {
        let t0 = Instant::now();
        let out = net.train_step(&left, &right, &labels)?;
        if step > 0 {
            total += t0.elapsed();
            for (name, d) in out.phases {
                let i = ["forward", "backward", "update"]
                    .iter()
                    .position(|&p| p == name);
                if let Some(i) = i {
                    phases[i] += d;
                }
            }
        }
    }
    let s = steps.max(1) as f64;
    let [forward, backward, update] = phases.map(|d| d.as_secs_f64() / s);
    Ok(Timing {
        total: total.as_secs_f64() / s,
        forward,
        backward,
        update,
    })
}

fn compare_with_keras(
    python: &PathBuf,
    batches: &[usize],
    steps: usize,
    ours: &[(usize, f64)],
) -> anyhow::Result<()> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench/keras_train.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg("--steps").arg(steps.to_string());
    for b in batches {
        cmd.arg("--batch").arg(b.to_string());
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {} {}", python.display(), script.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "the Keras benchmark failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!(
        "\n{:>6} {:>14} {:>14} {:>8}",
        "batch", "twinflow p/s", "keras p/s", "ratio"
    );
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(batch), Some(rate)) = (v["batch"].as_u64(), v["pairs_per_s"].as_f64()) else {
            continue;
        };
        if let Some((_, mine)) = ours.iter().find(|(b, _)| *b as u64 == batch) {
            println!("{batch:>6} {mine:>14.1} {rate:>14.1} {:>7.2}x", mine / rate);
        }
    }
    Ok(())
}
