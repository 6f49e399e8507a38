//! The GPU backend's [`Network`]: parameters, optimizer state, batch norm's running
//! statistics and every activation stay on the device; a train step uploads the batch,
//! records forward, head, backward and the optimizer's step into one command buffer, submits
//! it once and reads back only the per-pair losses and scores.
//!
//! Results repeat run after run on one adapter: every reduction runs in a fixed order and no
//! float atomics feed a result. Dropout's masks are drawn on the device from a hash of the
//! network's seed, the step and the layer, so they differ from the CPU backend's (which
//! draws them from dfdx's generator); everything else matches the CPU within float
//! rounding (see `tests.rs`).

mod encode;
mod params;
mod pass;
mod record;
#[cfg(test)]
mod tests;

use std::time::Instant;

use super::buffers::Tensor;
use super::head::PER_PAIR;
use super::{Gpu, GpuError};
use crate::model::backend::{NetSpec, Network, OptimizerState, Step, Weights};
use crate::model::device::Device;
use crate::model::error::ModelError;
use crate::model::tensors::Tensors;
use encode::{Kernels, Moments, WeightSet};
use params::{HostWeights, Slots};
use pass::Pass;
use record::Recorder;

/// Images per inference pass: evaluation and embedding run in chunks of this many, which
/// bounds the device memory they hold (batch norm uses its running statistics there, so
/// chunking changes nothing).
const INFER_IMAGES: usize = 128;

/// A [`Network`] on a GPU.
pub struct GpuNetwork {
    spec: NetSpec,
    gpu: Gpu,
    kernels: Kernels,
    slots: Slots,
    live: WeightSet,
    average: Option<WeightSet>,
    moments: Moments,
    step: i32,
    /// The training pass for the last batch size, and the inference pass.
    train_pass: Option<Pass>,
    infer_pass: Option<Pass>,
    /// Time each op group of a train step on its own ([`Network::set_profiling`]).
    profile: bool,
}

/// A device error as the backend seam reports it.
fn gpu_err(e: GpuError) -> ModelError {
    ModelError::Device {
        device: Device::Gpu,
        source: Box::new(e),
    }
}

impl GpuNetwork {
    /// Opens the GPU (shared by every network of the process), uploads the initial weights
    /// and compiles the kernels.
    ///
    /// # Errors
    /// No adapter (the message says which driver to install), a device that cannot be
    /// opened, or parameters over its binding limit.
    pub fn new(spec: NetSpec) -> Result<Self, ModelError> {
        let gpu = Gpu::shared().map_err(gpu_err)?;
        let (slots, values) = Slots::new(
            &spec.model,
            (spec.loss, spec.distance),
            spec.input,
            spec.seed,
        );
        let host = HostWeights {
            params: values,
            running: slots.initial_running(),
        };
        let built = gpu.checked("building the network", || -> Result<_, GpuError> {
            let kernels = Kernels::new(&gpu)?;
            let live = upload(&gpu, &slots, &host)?;
            let zeros = |what: &str| -> Result<Vec<Tensor>, GpuError> {
                slots
                    .slots
                    .iter()
                    .map(|s| {
                        Tensor::zeros(&gpu, &format!("{what} of {}", s.members[0].name), s.len)
                    })
                    .collect()
            };
            let moments = Moments {
                grads: zeros("the gradient")?,
                m1: zeros("the first moment")?,
                m2: zeros("the second moment")?,
            };
            Ok((kernels, live, moments))
        });
        let (kernels, live, moments) = built.and_then(|r| r).map_err(gpu_err)?;
        Ok(Self {
            spec,
            gpu,
            kernels,
            slots,
            live,
            average: None,
            moments,
            step: 0,
            train_pass: None,
            infer_pass: None,
            profile: false,
        })
    }

    /// A pass of `images` images, reused while the size and mode stay the same.
    fn pass(&mut self, images: usize, train: bool) -> Result<(), ModelError> {
        let slot = if train {
            &mut self.train_pass
        } else {
            &mut self.infer_pass
        };
        if slot.as_ref().is_some_and(|p| p.images == images) {
            return Ok(());
        }
        // The old pass goes first, so the two never hold device memory together.
        *slot = None;
        let built = self.gpu.checked("allocating a pass", || {
            Pass::new(&self.gpu, &self.spec.model, self.spec.input, images, train)
        });
        *slot = Some(built.and_then(|r| r).map_err(gpu_err)?);
        Ok(())
    }

    fn check_pairs(&self, left: &[f32], right: &[f32], pairs: usize) -> Result<(), ModelError> {
        let (height, width) = self.spec.input;
        let n = pairs * height * width;
        if left.len() != n || right.len() != n || pairs == 0 {
            return Err(ModelError::BadBatch {
                got: left.len().min(right.len()),
                pairs,
                height,
                width,
            });
        }
        Ok(())
    }

    fn set(&self, which: Weights) -> Result<&WeightSet, ModelError> {
        match which {
            Weights::Live => Ok(&self.live),
            Weights::Average => self.average.as_ref().ok_or(ModelError::NoAverage),
        }
    }

    /// Scores one chunk of pairs with `which` weights: the summed loss and the scores.
    fn score_chunk(
        &mut self,
        which: Weights,
        (left, right, labels): (&[f32], &[f32], &[f32]),
    ) -> Result<(f32, Vec<f32>), ModelError> {
        let pairs = labels.len();
        self.pass(2 * pairs, false)?;
        let (gpu, kernels, slots) = (&self.gpu, &self.kernels, &self.slots);
        let set = self.set(which)?;
        let pass = self.infer_pass.as_ref().expect("allocated above");
        let spec = &self.spec;
        let per_pair = gpu
            .checked("scoring pairs", || {
                upload_pairs(gpu, pass, (left, right, labels));
                let mut rec = Recorder::new(gpu, false);
                kernels.forward(&mut rec, (spec, slots), pass, set, 0);
                kernels.head(&mut rec, (spec, slots), pass, set, None);
                rec.submit();
            })
            .and_then(|()| pass.per_pair.read(gpu, "scoring pairs"))
            .map_err(gpu_err)?;
        Ok(summarise(&per_pair))
    }
}

/// Copies host values into a new weight set.
fn upload(gpu: &Gpu, slots: &Slots, host: &HostWeights) -> Result<WeightSet, GpuError> {
    let named = |k: usize| slots.slots[k].members[0].name.clone();
    Ok(WeightSet {
        params: host
            .params
            .iter()
            .enumerate()
            .map(|(k, v)| Tensor::from_host(gpu, &named(k), v))
            .collect::<Result<_, _>>()?,
        running: host
            .running
            .iter()
            .enumerate()
            .map(|(i, v)| Tensor::from_host(gpu, &format!("conv{i}'s running statistics"), v))
            .collect::<Result<_, _>>()?,
    })
}

/// Overwrites a weight set's values.
fn overwrite(gpu: &Gpu, set: &WeightSet, host: &HostWeights) {
    for (t, v) in set.params.iter().zip(&host.params) {
        t.write(gpu, v);
    }
    for (t, v) in set.running.iter().zip(&host.running) {
        t.write(gpu, v);
    }
}

/// A weight set's values on the host.
fn download(gpu: &Gpu, set: &WeightSet) -> Result<HostWeights, GpuError> {
    let read = |ts: &[Tensor]| -> Result<Vec<Vec<f32>>, GpuError> {
        ts.iter()
            .map(|t| t.read(gpu, "reading the weights"))
            .collect()
    };
    Ok(HostWeights {
        params: read(&set.params)?,
        running: read(&set.running)?,
    })
}

/// Queues the twins' pixels (left, then right) and the labels.
fn upload_pairs(gpu: &Gpu, pass: &Pass, (left, right, labels): (&[f32], &[f32], &[f32])) {
    pass.input.write_at(gpu, 0, left);
    pass.input.write_at(gpu, left.len(), right);
    pass.labels.write(gpu, labels);
}

/// The summed loss and the scores from the head's per-pair results.
fn summarise(per_pair: &[f32]) -> (f32, Vec<f32>) {
    let rows = per_pair.chunks_exact(PER_PAIR);
    let loss = rows.clone().map(|r| r[0]).sum();
    (loss, rows.map(|r| r[1]).collect())
}

impl Network for GpuNetwork {
    fn spec(&self) -> &NetSpec {
        &self.spec
    }

    fn parameter_count(&self) -> usize {
        self.slots.parameter_count()
    }

    fn device_label(&self) -> String {
        format!("gpu: {}", self.gpu.adapter)
    }

    fn train_step(
        &mut self,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<Step, ModelError> {
        let pairs = labels.len();
        self.check_pairs(left, right, pairs)?;
        let t0 = Instant::now();
        self.pass(2 * pairs, true)?;
        let (gpu, kernels, slots, spec) = (&self.gpu, &self.kernels, &self.slots, &self.spec);
        let (set, moments, step) = (&self.live, &self.moments, self.step);
        let pass = self.train_pass.as_ref().expect("allocated above");
        let profile = gpu
            .checked("a train step", || {
                upload_pairs(gpu, pass, (left, right, labels));
                let mut rec = Recorder::new(gpu, self.profile);
                let both = (spec, slots);
                kernels.forward(&mut rec, both, pass, set, step);
                let d_head = slots.head.map(|h| &moments.grads[h]);
                kernels.head(&mut rec, both, pass, set, d_head);
                kernels.backward(&mut rec, both, pass, set, moments, step);
                kernels.update(&mut rec, both, set, moments, step);
                rec.submit()
            })
            .map_err(gpu_err)?;
        let t1 = Instant::now();
        let per_pair = pass.per_pair.read(gpu, "a train step").map_err(gpu_err)?;
        let t2 = Instant::now();
        self.step += 1;
        let (loss, scores) = summarise(&per_pair);
        let phases = if profile.is_empty() {
            vec![("record".into(), t1 - t0), ("run".into(), t2 - t1)]
        } else {
            profile
        };
        Ok(Step {
            loss: loss / pairs as f32,
            scores,
            phases,
        })
    }

    fn steps(&self) -> u64 {
        self.step.max(0) as u64
    }

    fn prepare(&mut self, pairs: usize) -> Result<(), ModelError> {
        self.pass(2 * pairs, true)
    }

    fn set_profiling(&mut self, on: bool) {
        self.profile = on;
    }

    fn evaluate(
        &mut self,
        weights: Weights,
        left: &[f32],
        right: &[f32],
        labels: &[f32],
    ) -> Result<(f32, Vec<f32>), ModelError> {
        let pairs = labels.len();
        self.check_pairs(left, right, pairs)?;
        self.set(weights)?;
        let per = self.spec.input.0 * self.spec.input.1;
        let chunk = INFER_IMAGES / 2;
        let (mut total, mut scores) = (0.0, Vec::with_capacity(pairs));
        for start in (0..pairs).step_by(chunk) {
            let end = (start + chunk).min(pairs);
            let (l, r) = (
                &left[start * per..end * per],
                &right[start * per..end * per],
            );
            let (loss, s) = self.score_chunk(weights, (l, r, &labels[start..end]))?;
            total += loss;
            scores.extend(s);
        }
        Ok((total / pairs as f32, scores))
    }

    fn embed(&mut self, weights: Weights, pixels: &[f32]) -> Result<Vec<Vec<f32>>, ModelError> {
        let (height, width) = self.spec.input;
        let per = height * width;
        if per == 0 || pixels.is_empty() || !pixels.len().is_multiple_of(per) {
            return Err(ModelError::BadBatch {
                got: pixels.len(),
                pairs: 0,
                height,
                width,
            });
        }
        self.set(weights)?;
        let units = self.spec.model.dense.units;
        let mut out = Vec::with_capacity(pixels.len() / per);
        for chunk in pixels.chunks(INFER_IMAGES * per) {
            // An even count of images: a pass holds pairs. A last odd image gets a blank twin.
            let images = (chunk.len() / per).div_ceil(2) * 2;
            self.pass(images, false)?;
            let (gpu, kernels, slots, spec) = (&self.gpu, &self.kernels, &self.slots, &self.spec);
            let set = self.set(weights)?;
            let pass = self.infer_pass.as_ref().expect("allocated above");
            let embedded = gpu
                .checked("embedding images", || {
                    let mut padded = chunk.to_vec();
                    padded.resize(images * per, 0.0);
                    pass.input.write(gpu, &padded);
                    let mut rec = Recorder::new(gpu, false);
                    kernels.forward(&mut rec, (spec, slots), pass, set, 0);
                    rec.submit();
                })
                .and_then(|()| pass.dense.embedding().read(gpu, "embedding images"))
                .map_err(gpu_err)?;
            let real = chunk.len() / per;
            out.extend(embedded.chunks(units).take(real).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    fn start_average(&mut self) -> Result<(), ModelError> {
        let host = download(&self.gpu, &self.live).map_err(gpu_err)?;
        let gpu = &self.gpu;
        let set = gpu
            .checked("starting the average", || upload(gpu, &self.slots, &host))
            .and_then(|r| r)
            .map_err(gpu_err)?;
        self.average = Some(set);
        Ok(())
    }

    fn update_average(&mut self, decay: f32) -> Result<(), ModelError> {
        let average = self.average.as_ref().ok_or(ModelError::NoAverage)?;
        let (gpu, kernels, live) = (&self.gpu, &self.kernels, &self.live);
        gpu.checked("updating the average", || {
            let mut rec = Recorder::new(gpu, false);
            kernels.average(&mut rec, decay, average, live);
            rec.submit();
        })
        .map_err(gpu_err)
    }

    fn weights(&self, which: Weights) -> Result<Tensors, ModelError> {
        let host = download(&self.gpu, self.set(which)?).map_err(gpu_err)?;
        Ok(self.slots.to_tensors(&host))
    }

    fn set_weights(&mut self, which: Weights, tensors: &Tensors) -> Result<(), ModelError> {
        let host = self.slots.load(tensors)?;
        let gpu = &self.gpu;
        match which {
            Weights::Live => overwrite(gpu, &self.live, &host),
            Weights::Average => match &self.average {
                Some(set) => overwrite(gpu, set, &host),
                None => {
                    let set = gpu
                        .checked("loading the average", || upload(gpu, &self.slots, &host))
                        .and_then(|r| r)
                        .map_err(gpu_err)?;
                    self.average = Some(set);
                }
            },
        }
        Ok(())
    }

    fn optimizer_state(&mut self) -> Result<OptimizerState, ModelError> {
        let read = |ts: &[Tensor]| -> Result<Vec<Vec<f32>>, ModelError> {
            ts.iter()
                .map(|t| t.read(&self.gpu, "reading the optimizer state"))
                .collect::<Result<_, _>>()
                .map_err(gpu_err)
        };
        let (m1, m2) = (read(&self.moments.m1)?, read(&self.moments.m2)?);
        // The CPU backend keeps a third buffer (RMSprop's centred average, never used here):
        // it is saved as zeros so either backend resumes from the other's checkpoint.
        let m3: Vec<Vec<f32>> = self.slots.slots.iter().map(|s| vec![0.0; s.len]).collect();
        let mut tensors = self.slots.split("m1/", &m1);
        tensors.extend(self.slots.split("m2/", &m2));
        tensors.extend(self.slots.split("m3/", &m3));
        Ok(OptimizerState {
            step: self.step,
            tensors,
        })
    }

    fn set_optimizer_state(&mut self, state: &OptimizerState) -> Result<(), ModelError> {
        let m1 = self.slots.gather("m1/", &state.tensors)?;
        let m2 = self.slots.gather("m2/", &state.tensors)?;
        for (t, v) in self.moments.m1.iter().zip(&m1) {
            t.write(&self.gpu, v);
        }
        for (t, v) in self.moments.m2.iter().zip(&m2) {
            t.write(&self.gpu, v);
        }
        self.step = state.step;
        Ok(())
    }
}
