//! Optimizer steps and the weight average on the GPU (`optimizer.wgsl`), as dfdx's CPU
//! kernels compute them, with the L2 penalty's gradient fused into the step.
//!
//! The moment buffers mean what the CPU backend's do, so optimizer state moves between
//! backends as the same named tensors (`m1/<param>`, `m2/<param>`).

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};
use crate::model::OptimizerConfig;

/// The compiled `step` and `average` entry points.
#[derive(Debug)]
pub struct Optimizers {
    kernel: Kernel,
}

/// One parameter's tensors on the device.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    /// The parameter.
    pub param: &'a Tensor,
    /// Its gradient.
    pub grad: &'a Tensor,
    /// First moment (Adam), momentum (RMSprop, unused) or velocity (SGD).
    pub m1: &'a Tensor,
    /// Second moment (Adam) or square average (RMSprop).
    pub m2: &'a Tensor,
}

impl Optimizers {
    /// Compiles both entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, Write};
        Self {
            kernel: Kernel::new(
                gpu,
                "optimizer.wgsl",
                include_str!("optimizer.wgsl"),
                &[Write, Read, Write, Write],
                &["step", "average"],
            ),
        }
    }

    /// Records step `step` (0-based, as the CPU counts) of `config` on one parameter, whose
    /// L2 coefficient is `l2`.
    pub fn encode_step(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (config, step, l2): (&OptimizerConfig, i32, f32),
        slot: Slot<'_>,
    ) {
        let lr = config.lr_at(step) as f32;
        // dfdx counts Adam's steps from 1 and raises its betas in f32.
        let t = step + 1;
        let (kind, has_momentum, c1, c2) = match *config {
            OptimizerConfig::Adam { .. } => (
                0,
                0,
                (1.0f32 - 0.9f32.powi(t)).recip(),
                (1.0f32 - 0.999f32.powi(t)).recip(),
            ),
            OptimizerConfig::RmsProp { .. } => (1, 0, 0.0, 0.0),
            OptimizerConfig::Sgd { momentum, .. } => {
                (2, u32::from(momentum > 0.0), momentum as f32, 0.0)
            }
        };
        let len = slot.param.len;
        let params = [
            len as u32,
            ROW_INVOCATIONS,
            kind,
            has_momentum,
            lr.to_bits(),
            l2.to_bits(),
            c1.to_bits(),
            c2.to_bits(),
        ];
        let buffers = [slot.param, slot.grad, slot.m1, slot.m2];
        self.kernel.encode(
            gpu,
            encoder,
            "step",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
    }

    /// Records `average = decay * average + (1 - decay) * live`. `scratch` fills the two
    /// unused bindings (one tensor each, any size).
    pub fn encode_average(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        decay: f32,
        (average, live): (&Tensor, &Tensor),
        scratch: (&Tensor, &Tensor),
    ) {
        let len = average.len;
        let params = [len as u32, ROW_INVOCATIONS, 0, 0, 0, 0, decay.to_bits(), 0];
        let buffers = [average, live, scratch.0, scratch.1];
        self.kernel.encode(
            gpu,
            encoder,
            "average",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
    }

    /// Runs `grads.len()` steps on host values from step 0: the parameters and both moment
    /// buffers after them. For tests.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        (config, l2): (&OptimizerConfig, f32),
        param: &[f32],
        grads: &[Vec<f32>],
    ) -> Result<[Vec<f32>; 3], GpuError> {
        let p = Tensor::from_host(gpu, "param", param)?;
        let m1 = Tensor::zeros(gpu, "m1", param.len())?;
        let m2 = Tensor::zeros(gpu, "m2", param.len())?;
        let grads = grads
            .iter()
            .map(|g| Tensor::from_host(gpu, "grad", g))
            .collect::<Result<Vec<_>, _>>()?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            for (step, grad) in grads.iter().enumerate() {
                let slot = Slot {
                    param: &p,
                    grad,
                    m1: &m1,
                    m2: &m2,
                };
                self.encode_step(gpu, encoder, (config, step as i32, l2), slot);
            }
        };
        run_once(gpu, "optimizer", record, [&p, &m1, &m2])
    }
}
