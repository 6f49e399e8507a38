//! The Siamese head on the GPU (`head.wgsl`): per pair the distance, the score and the
//! loss (binary cross-entropy on a dense(1) layer over the distance, or the contrastive
//! loss on the distance itself), then the embeddings' and the head's gradients.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel, ROW_INVOCATIONS};
use crate::model::head::HeadOutput;
use crate::model::{Distance, Head, Loss};

/// Values per pair in the per-pair output: loss, score, derivative, distance, then the
/// cosine distance's dot product and norms (the shader's `PER`).
pub const PER_PAIR: usize = 7;

/// The compiled entry points.
#[derive(Debug)]
pub struct HeadKernel {
    kernel: Kernel,
}

/// A head's tensors on the device for `pairs` pairs of `units`-wide embeddings.
#[derive(Debug, Clone, Copy)]
pub struct HeadTensors<'a> {
    /// The twins' embeddings, left twins then right ones: `(2 * pairs, units)`.
    pub embeddings: &'a Tensor,
    /// 1 for a same pair, 0 for a different one.
    pub labels: &'a Tensor,
    /// The head's weights then its bias (binary cross-entropy), or any one value.
    pub params: &'a Tensor,
    /// [`PER_PAIR`] values per pair, written by the forward pass.
    pub per_pair: &'a Tensor,
}

impl HeadKernel {
    /// Compiles the entry points on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, Write};
        Self {
            kernel: Kernel::new(
                gpu,
                "head.wgsl",
                include_str!("head.wgsl"),
                &[Read, Read, Read, Write, Write],
                &["pair", "embed_grad", "head_grad"],
            ),
        }
    }

    fn params(head: &Head, (pairs, units): (usize, usize), len: usize) -> [u32; 8] {
        let (loss, margin) = match head.loss {
            Loss::BinaryCrossEntropy => (0, 0.0f32),
            Loss::Contrastive { margin } => (1, margin as f32),
        };
        let distance = match head.distance {
            Distance::L1 => 0,
            Distance::Euclidean => 1,
            Distance::Cosine => 2,
        };
        [
            len as u32,
            ROW_INVOCATIONS,
            pairs as u32,
            units as u32,
            loss,
            distance,
            margin.to_bits(),
            0,
        ]
    }

    /// Records the per-pair pass and the gradients: `d_embeddings` gets the embeddings'
    /// gradient, `d_params` the head's (binary cross-entropy only; it may be `None`).
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        head: &Head,
        (pairs, units): (usize, usize),
        t: &HeadTensors<'_>,
        d_embeddings: &Tensor,
        d_params: Option<&Tensor>,
    ) {
        let buffers = [t.embeddings, t.labels, t.params, t.per_pair, d_embeddings];
        let params = Self::params(head, (pairs, units), pairs);
        self.kernel.encode(
            gpu,
            encoder,
            "pair",
            &buffers,
            &params,
            Dispatch::Values(pairs),
        );
        let len = 2 * pairs * units;
        let params = Self::params(head, (pairs, units), len);
        self.kernel.encode(
            gpu,
            encoder,
            "embed_grad",
            &buffers,
            &params,
            Dispatch::Values(len),
        );
        if let Some(d_params) = d_params {
            let buffers = [t.embeddings, t.labels, t.params, t.per_pair, d_params];
            let len = d_params.len;
            let params = Self::params(head, (pairs, units), len);
            self.kernel.encode(
                gpu,
                encoder,
                "head_grad",
                &buffers,
                &params,
                Dispatch::Values(len),
            );
        }
    }

    /// The head on host values, run at once: for tests (the head's gradient is empty for
    /// the contrastive loss).
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        head: &Head,
        (embeddings, labels, params): (&[f32], &[f32], &[f32]),
        units: usize,
    ) -> Result<HeadOutput, GpuError> {
        let pairs = labels.len();
        let e = Tensor::from_host(gpu, "embeddings", embeddings)?;
        let y = Tensor::from_host(gpu, "labels", labels)?;
        let hp = Tensor::from_host(gpu, "head", params)?;
        let per_pair = Tensor::zeros(gpu, "per pair", PER_PAIR * pairs)?;
        let de = Tensor::zeros(gpu, "d embeddings", e.len)?;
        let dh = Tensor::zeros(gpu, "d head", params.len())?;
        let t = HeadTensors {
            embeddings: &e,
            labels: &y,
            params: &hp,
            per_pair: &per_pair,
        };
        let with_params = !params.is_empty();
        let record = |encoder: &mut wgpu::CommandEncoder| {
            let d_params = with_params.then_some(&dh);
            self.encode(gpu, encoder, head, (pairs, units), &t, &de, d_params);
        };
        let [per_pair, de, dh] = run_once(gpu, "head", record, [&per_pair, &de, &dh])?;
        let rows: Vec<&[f32]> = per_pair.chunks(PER_PAIR).collect();
        let loss = rows.iter().map(|r| r[0]).sum::<f32>() / pairs.max(1) as f32;
        let scores = rows.iter().map(|r| r[1]).collect();
        let dh = if with_params { dh } else { Vec::new() };
        Ok(HeadOutput {
            loss,
            scores,
            d_embeddings: de,
            d_params: dh,
        })
    }
}
