//! The memory a pipeline needs, estimated from its settings before it runs, against what
//! the machine has: a setting that cannot fit is refused by `validate` (and so by every
//! command that loads a pipeline) naming its field, instead of a run asking for terabytes
//! and meeting the kernel's out-of-memory killer.
//!
//! The estimate is an upper bound of what the pipeline itself allocates: its channels full,
//! the network with its gradients, optimizer moments and weight copies, and a training
//! step's activations (see [`crate::model::footprint`]). The tensor cache is memory-mapped,
//! so the kernel pages it in and out and it is not counted.

use super::plan::{End, Plan, LFW_SIDE};
use super::StageConfig;
use crate::model::footprint::TRAIN_COPIES;
use crate::model::Device;
use crate::problem::Problem;

/// One part of the estimate: the RON field that sizes it, what it is, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The field to change to shrink it (`stages[2].capacity`, `model.dense.units`).
    pub field: String,
    /// What it holds, for the message.
    pub what: String,
    /// Bytes.
    pub bytes: u64,
}

/// What this machine offers a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Machine {
    /// Physical memory (or the container's limit, when lower), in bytes; `None` when unknown.
    pub memory: Option<u64>,
    /// The GPU adapter's largest storage buffer binding, in bytes, when the pipeline trains
    /// on the GPU and an adapter exists.
    pub gpu_binding: Option<u64>,
}

impl Machine {
    /// This machine, for a pipeline on `device`: the GPU adapter is only asked when the
    /// pipeline trains there (opening Vulkan costs a little).
    pub fn current(device: Device) -> Self {
        // Asked once per process: a sweep validates every pipeline of its grid.
        static BINDING: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        let gpu_binding = match device {
            Device::Gpu => *BINDING
                .get_or_init(|| crate::model::gpu::adapters().first().map(|a| a.max_binding)),
            Device::Cpu => None,
        };
        Self {
            memory: physical_memory(),
            gpu_binding,
        }
    }
}

/// The machine's memory: `MemTotal` of `/proc/meminfo`, or the cgroup's `memory.max` when
/// that is lower (a container sees the host's total but may use only its limit).
pub fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        * 1024;
    let limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    Some(limit.map_or(total, |l| l.min(total)))
}

/// The pipeline's memory, part by part, largest first.
pub fn estimate(plan: &Plan) -> Vec<Part> {
    let mut parts = Vec::new();
    let (w, h) = plan.image_size();
    let decoded = u64::from(plan.decode.scale.apply(LFW_SIDE)).pow(2);
    let at = |kind: &str| plan.pipeline.stage_path(kind);
    let d = at("Decode");
    let slots = (plan.decode.capacity as u64).saturating_add(plan.decode.workers as u64);
    parts.push(Part {
        field: format!("{d}.capacity"),
        what: format!("{slots} decoded images in flight"),
        bytes: slots.saturating_mul(decoded),
    });
    let Some(pb) = &plan.pair_batch else {
        return sorted(parts);
    };
    let p = at("PairBatch");
    let pairs = pb.batch_size as u64;
    let batch = pairs.saturating_mul(2 * 4 * u64::from(w) * u64::from(h));
    let queued = (pb.capacity as u64).saturating_add(1);
    parts.push(Part {
        field: format!("{p}.capacity"),
        what: format!("{queued} batches of {pairs} pairs queued"),
        bytes: queued.saturating_mul(batch),
    });
    for (i, stage) in plan.pipeline.stages.iter().enumerate() {
        if let StageConfig::Augment(a) = stage {
            let held = (a.capacity as u64).saturating_add(a.workers as u64);
            parts.push(Part {
                field: format!("stages[{i}].capacity"),
                what: format!("{held} augmented batches in flight"),
                bytes: held.saturating_mul(batch),
            });
        }
    }
    let End::Train(train) = &plan.end else {
        return sorted(parts);
    };
    let model = plan.pipeline.model.footprint((h as usize, w as usize));
    // Weights, gradients, optimizer moments, the weight average and the best weights.
    let copies = 4 + plan.pipeline.optimizer.moments();
    let params = model.parameters();
    let field = model
        .largest_by(|l| l.parameters)
        .map_or_else(|| "model".to_string(), |l| l.path.clone());
    parts.push(Part {
        field,
        what: format!("{params} parameters, {copies} copies (gradients, optimizer, average, best)"),
        bytes: params.saturating_mul(copies * 4),
    });
    let per_pair = model.activations().saturating_mul(2 * 4);
    parts.push(Part {
        field: format!("{p}.batch_size"),
        what: format!("a training step's activations for {pairs} pairs"),
        bytes: per_pair.saturating_mul(TRAIN_COPIES).saturating_mul(pairs),
    });
    let t = at("Train");
    let eval = train.eval_batch as u64;
    parts.push(Part {
        field: format!("{t}.eval_batch"),
        what: format!("evaluation activations for {eval} pairs"),
        bytes: per_pair.saturating_mul(eval),
    });
    sorted(parts)
}

fn sorted(mut parts: Vec<Part>) -> Vec<Part> {
    parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    parts
}

/// The estimate's total bytes.
pub fn total(parts: &[Part]) -> u64 {
    parts.iter().fold(0, |a, p| a.saturating_add(p.bytes))
}

/// Problems of a plan that cannot fit `machine`: more memory than it has (naming the
/// largest part's field), or a GPU buffer over the adapter's binding limit.
pub fn problems(plan: &Plan, machine: Machine, out: &mut Vec<Problem>) {
    let parts = estimate(plan);
    let need = total(&parts);
    if let (Some(have), Some(top)) = (machine.memory, parts.first()) {
        if need > have {
            out.push(Problem::new(
                top.field.clone(),
                format!(
                    "the pipeline needs about {} of memory, more than this machine's {}; the \
                     largest part is {} for {}",
                    bytes(need),
                    bytes(have),
                    bytes(top.bytes),
                    top.what
                ),
            ));
        }
    }
    gpu_problems(plan, machine, out);
}

/// A layer whose feature maps for one batch exceed the adapter's largest buffer binding.
fn gpu_problems(plan: &Plan, machine: Machine, out: &mut Vec<Problem>) {
    let (Some(limit), Some(pb)) = (machine.gpu_binding, &plan.pair_batch) else {
        return;
    };
    if plan.pipeline.device != Device::Gpu {
        return;
    }
    let (w, h) = plan.image_size();
    let model = plan.pipeline.model.footprint((h as usize, w as usize));
    let images = 2 * pb.batch_size as u64;
    if let Some(l) = model.largest_by(|l| l.largest_map) {
        let need = l.largest_map.saturating_mul(images).saturating_mul(4);
        if need > limit {
            out.push(Problem::new(
                l.path.clone(),
                format!(
                    "its feature maps for a batch of {} pairs take {} in one GPU buffer, over \
                     the adapter's limit of {}: a smaller batch_size, image size or layer fits",
                    pb.batch_size,
                    bytes(need),
                    bytes(limit)
                ),
            ));
        }
    }
}

/// Bytes for people: `512 MiB`, `7.6 TB`-style binary units.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(ron: &str) -> Plan {
        let pipeline = ron::from_str(ron).expect("ron");
        super::super::validate::plan(pipeline).expect("plan")
    }

    const SEED: &str = "Pipeline(stages: [Decode(()), Resize(()), PairBatch(()), Train(())])";

    #[test]
    fn the_seed_pipeline_is_counted_part_by_part_and_fits_a_small_machine() {
        let p = plan(SEED);
        let parts = estimate(&p);
        let need = total(&parts);
        // A step's activations for 128 pairs lead; the whole stays under 2 GiB.
        assert_eq!(parts[0].field, "stages[2].batch_size", "{parts:?}");
        assert!(need > 1 << 29 && need < 2 << 30, "{}", bytes(need));
        let mut out = Vec::new();
        problems(
            &p,
            Machine {
                memory: Some(4 << 30),
                gpu_binding: None,
            },
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn more_than_the_machine_has_names_the_largest_part() {
        let p = plan(SEED);
        let mut out = Vec::new();
        problems(
            &p,
            Machine {
                memory: Some(256 << 20),
                gpu_binding: None,
            },
            &mut out,
        );
        let text = out[0].to_string();
        assert!(
            text.starts_with("stages[2].batch_size: the pipeline needs about")
                && text.contains("more than this machine's 256.0 MiB"),
            "{text}"
        );
    }

    #[test]
    fn a_feature_map_over_the_gpu_binding_limit_names_its_layer() {
        let gpu = SEED.replace("Pipeline(", "Pipeline(device: Gpu, ");
        let p = plan(&gpu);
        let machine = Machine {
            memory: None,
            gpu_binding: Some(64 << 20),
        };
        let mut out = Vec::new();
        problems(&p, machine, &mut out);
        // conv0: 8 x 116 x 116 values per image, 256 images: 110 MB.
        let text = out[0].to_string();
        assert!(
            text.starts_with("model.conv[0]: its feature maps for a batch of 128 pairs")
                && text.contains("over the adapter's limit of 64.0 MiB"),
            "{text}"
        );
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
    }
}
