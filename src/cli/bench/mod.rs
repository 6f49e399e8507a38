//! `twinflow bench train`: training speed of a network on each backend side by side, the
//! CPU first as the baseline, with FLOPs counted from the network; optionally beside the
//! same model in TensorFlow-CPU Keras (`scripts/bench/keras_train.py`) or PyTorch eager
//! (`scripts/bench/torch_train.py`).

mod external;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::cpu::ops::isa::ISA_VAR;
use crate::model::cpu::ops::measure_fma_peak;
use crate::model::{build, flops, Device, Distance, Loss, ModelConfig, NetSpec, OptimizerConfig};
use crate::pipeline::validate::load;

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
    /// Pairs per second of training steps (forward, backward, optimizer) on random pixels.
    Train(TrainBench),
}

/// Settings of `bench train`.
#[derive(Debug, Args)]
pub struct TrainBench {
    /// Time this pipeline's network, loss, optimizer and input size instead of the seed's
    /// model at 125x125 with Adam 1e-4.
    #[arg(long, value_name = "FILE")]
    pipeline: Option<PathBuf>,
    /// Batch sizes (pairs) to time.
    #[arg(long = "batch", default_values_t = [32, 128],
          value_parser = super::at_least_one)]
    batches: Vec<usize>,
    /// Timed steps per batch size.
    #[arg(long, default_value_t = 5,
          value_parser = super::at_least_one)]
    steps: usize,
    /// Untimed steps before them, on every side alike (Keras and PyTorch too): the first
    /// step traces Keras's graph and builds ours; the allocator keeps mapping fresh memory
    /// for two more (first touches the kernel must zero), which is not the speed of training.
    #[arg(long, default_value_t = 3,
          value_parser = super::at_least_one)]
    warmup: usize,
    /// The backends to time (`cpu`, `gpu`); the CPU always runs first, as the baseline.
    #[arg(long = "device", default_values_t = [Device::Cpu])]
    devices: Vec<Device>,
    /// The CPU's FMA peak in GFLOP/s, to report the fraction achieved; by default measured
    /// at start (FMA chains on every core, on the kernels' instruction-set path).
    #[arg(long)]
    peak: Option<f64>,
    /// Time each op group of a GPU step on its own and list them, slowest first (the GPU
    /// waits after each group, so the step itself runs slower).
    #[arg(long)]
    profile: bool,
    /// Also time the same network in TensorFlow-CPU Keras with this Python (it needs
    /// tensorflow-cpu).
    #[arg(long, value_name = "PYTHON")]
    keras: Option<PathBuf>,
    /// Also time the same network in PyTorch eager (cuDNN on CUDA) with this Python.
    #[arg(long, value_name = "PYTHON")]
    torch: Option<PathBuf>,
}

/// One timed configuration.
struct Row {
    device: Device,
    batch: usize,
    timing: Timing,
}

/// Runs a benchmark.
///
/// # Errors
/// An unreadable pipeline, model errors (a missing GPU driver among them) and a failing
/// Keras or PyTorch script.
pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let BenchCommand::Train(bench) = &args.command;
    let spec = spec_of(bench)?;
    let mut devices = vec![Device::Cpu];
    devices.extend(bench.devices.iter().filter(|d| **d != Device::Cpu));
    let isa = crate::model::cpu_isa()?;
    let (peak, how) = match bench.peak {
        Some(peak) => (peak, "--peak"),
        None => (measure_fma_peak(isa, 0.3), "measured"),
    };
    let per_pair = flops::train_per_pair(&spec.model, spec.input);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (h, w) = spec.input;
    println!(
        "twinflow bench train: {}, {h}x{w}, {:?}, {:.1} MFLOP per training pair",
        bench
            .pipeline
            .as_ref()
            .map_or("the seed's model".into(), |p| p.display().to_string()),
        spec.optimizer,
        per_pair / 1e6
    );
    println!(
        "{cores} CPU cores, kernels on the {} path ({ISA_VAR} picks another), FMA peak {peak:.0} GFLOP/s ({how})",
        isa.name()
    );
    println!(
        "{:<6} {:>6} {:>9} {:>10} {:>10} {:>8} {:>8}  phases (s/step)",
        "device", "batch", "s/step", "pairs/s", "GFLOP/s", "of peak", "vs cpu"
    );
    let mut rows: Vec<Row> = Vec::new();
    for &device in &devices {
        let mut net = build(device, spec.clone())
            .with_context(|| format!("building the network on the {device}"))?;
        if device != Device::Cpu {
            println!("# {}", net.device_label());
            net.set_profiling(bench.profile);
        }
        for &batch in &bench.batches {
            let timing = time_steps(net.as_mut(), batch, (bench.warmup, bench.steps))?;
            let rate = batch as f64 / timing.total;
            let gflops = rate * per_pair / 1e9;
            let of_peak = match device {
                Device::Cpu => format!("{:.1}%", 100.0 * gflops / peak),
                Device::Gpu => "-".into(),
            };
            let cpu = rows
                .iter()
                .find(|r| r.device == Device::Cpu && r.batch == batch)
                .map(|r| batch as f64 / r.timing.total);
            let ratio = cpu.map_or("1.00x".into(), |c| format!("{:.2}x", rate / c));
            let profiled = bench.profile && device != Device::Cpu;
            let phases: Vec<String> = match profiled {
                true => vec!["profiled below".into()],
                false => timing
                    .phases
                    .iter()
                    .map(|(name, s)| format!("{name} {s:.3}"))
                    .collect(),
            };
            println!(
                "{:<6} {batch:>6} {:>9.4} {rate:>10.1} {gflops:>10.1} {of_peak:>8} {ratio:>8}  {}",
                device.to_string(),
                timing.total,
                phases.join(", ")
            );
            if profiled {
                print_profile(&timing);
            }
            rows.push(Row {
                device,
                batch,
                timing,
            });
        }
    }
    let rates = |device: Device| -> Vec<(usize, f64)> {
        rows.iter()
            .filter(|r| r.device == device)
            .map(|r| (r.batch, r.batch as f64 / r.timing.total))
            .collect()
    };
    if let Some(python) = &bench.keras {
        let batches = (bench.batches.as_slice(), (bench.warmup, bench.steps));
        external::keras(python, &spec, batches, &rates(Device::Cpu))?;
    }
    if let Some(python) = &bench.torch {
        let best = devices.last().copied().unwrap_or(Device::Cpu);
        external::torch(
            python,
            &spec,
            (&bench.batches, (bench.warmup, bench.steps)),
            (best, &rates(best)),
        )?;
    }
    println!("\nreproduce: {}", reproduce(bench, &devices));
    Ok(ExitCode::SUCCESS)
}

/// A profiled step's op groups, slowest first, with their share of the step.
fn print_profile(timing: &Timing) {
    let total: f64 = timing.phases.iter().map(|(_, s)| s).sum();
    let mut phases = timing.phases.clone();
    phases.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, s) in phases {
        println!(
            "    {name:<28} {s:>9.4} s {:>6.1}%",
            100.0 * s / total.max(1e-12)
        );
    }
}

/// The command line that reruns this benchmark.
fn reproduce(bench: &TrainBench, devices: &[Device]) -> String {
    let mut line = String::from("cargo run --release -- bench train");
    if let Some(p) = &bench.pipeline {
        line.push_str(&format!(" --pipeline {}", p.display()));
    }
    for d in devices.iter().filter(|d| **d != Device::Cpu) {
        line.push_str(&format!(" --device {d}"));
    }
    for b in &bench.batches {
        line.push_str(&format!(" --batch {b}"));
    }
    line.push_str(&format!(" --steps {}", bench.steps));
    if bench.warmup != 3 {
        line.push_str(&format!(" --warmup {}", bench.warmup));
    }
    if bench.profile {
        line.push_str(" --profile");
    }
    for (flag, python) in [("keras", &bench.keras), ("torch", &bench.torch)] {
        if let Some(p) = python {
            line.push_str(&format!(" --{flag} {}", p.display()));
        }
    }
    line
}

/// The network to time: the pipeline's, or the seed's model.
fn spec_of(bench: &TrainBench) -> anyhow::Result<NetSpec> {
    let Some(file) = &bench.pipeline else {
        return Ok(NetSpec {
            model: ModelConfig::default(),
            loss: Loss::BinaryCrossEntropy,
            distance: Distance::L1,
            optimizer: OptimizerConfig::Adam {
                lr: 1e-4,
                decay: 0.0,
            },
            input: (125, 125),
            seed: 1,
        });
    };
    Ok(load(file)?.net_spec())
}

/// Mean seconds per step, in total and per phase the backend reports.
struct Timing {
    total: f64,
    phases: Vec<(String, f64)>,
}

fn time_steps(
    net: &mut dyn crate::model::Network,
    batch: usize,
    (warmup, steps): (usize, usize),
) -> anyhow::Result<Timing> {
    let (h, w) = net.spec().input;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = batch * h * w;
    let left: Vec<f32> = (0..n).map(|_| rng.gen()).collect();
    let right: Vec<f32> = (0..n).map(|_| rng.gen()).collect();
    let labels: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
    let mut total = Duration::ZERO;
    let mut phases: Vec<(String, Duration)> = Vec::new();
    for step in 0..warmup + steps {
        let t0 = Instant::now();
        let out = net.train_step(&left, &right, &labels)?;
        if step < warmup {
            continue;
        }
        total += t0.elapsed();
        for (name, d) in out.phases {
            match phases.iter_mut().find(|(n, _)| *n == name) {
                Some((_, sum)) => *sum += d,
                None => phases.push((name, d)),
            }
        }
    }
    let s = steps.max(1) as f64;
    Ok(Timing {
        total: total.as_secs_f64() / s,
        phases: phases
            .into_iter()
            .map(|(n, d)| (n, d.as_secs_f64() / s))
            .collect(),
    })
}
