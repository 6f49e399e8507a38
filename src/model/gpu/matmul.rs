//! Matrix products on the GPU (`matmul.wgsl`): the dense layer's forward pass, `X W`, and
//! its two gradients, `dY Wᵀ` and `Xᵀ dY`, from one kernel whose operands may be read
//! transposed in place, so no transpose is ever materialised.

use super::buffers::Tensor;
use super::context::{Gpu, GpuError};
use super::kernel::{run_once, Access, Dispatch, Kernel};

/// Outputs per workgroup side (the shader's `BLOCK`).
const TILE: u32 = 64;

/// Which operands are read transposed, and whether the product adds to the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Layout {
    /// `A` is stored `(k, m)` and read as its transpose.
    pub transpose_a: bool,
    /// `B` is stored `(n, k)` and read as its transpose.
    pub transpose_b: bool,
    /// `C += op(A) op(B)` instead of `C = op(A) op(B)` (gradients summed over a batch).
    pub accumulate: bool,
}

impl Layout {
    fn flags(self) -> u32 {
        u32::from(self.transpose_a)
            | u32::from(self.transpose_b) << 1
            | u32::from(self.accumulate) << 2
    }
}

/// The compiled kernel.
#[derive(Debug)]
pub struct Matmul {
    kernel: Kernel,
}

impl Matmul {
    /// Compiles the kernel on `gpu`.
    pub fn new(gpu: &Gpu) -> Self {
        use Access::{Read, Write};
        Self {
            kernel: Kernel::new(
                gpu,
                "matmul.wgsl",
                include_str!("matmul.wgsl"),
                &[Read, Read, Write],
                &["main"],
            ),
        }
    }

    /// Records `C (m, n) = op(A) (m, k) · op(B) (k, n)` into `encoder`.
    ///
    /// # Panics
    /// When a tensor's length does not match its dimensions (a caller's bug).
    pub fn encode(
        &self,
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        (a, b, c): (&Tensor, &Tensor, &Tensor),
        (m, k, n): (usize, usize, usize),
        layout: Layout,
    ) {
        assert_eq!(a.len, m * k, "A holds m * k values");
        assert_eq!(b.len, k * n, "B holds k * n values");
        assert_eq!(c.len, m * n, "C holds m * n values");
        let dims = [m as u32, k as u32, n as u32, layout.flags()];
        let grid = Dispatch::Grid((n as u32).div_ceil(TILE), (m as u32).div_ceil(TILE));
        self.kernel
            .encode(gpu, encoder, "main", &[a, b, c], &dims, grid);
    }

    /// `op(A) · op(B)` of host matrices, run at once: for tests and one-off products.
    ///
    /// # Errors
    /// Tensors over the binding limit, a refused kernel or a lost device.
    pub fn run(
        &self,
        gpu: &Gpu,
        (a, b): (&[f32], &[f32]),
        (m, k, n): (usize, usize, usize),
        layout: Layout,
    ) -> Result<Vec<f32>, GpuError> {
        let a = Tensor::from_host(gpu, "matmul A", a)?;
        let b = Tensor::from_host(gpu, "matmul B", b)?;
        let c = Tensor::zeros(gpu, "matmul C", m * n)?;
        let record = |encoder: &mut wgpu::CommandEncoder| {
            self.encode(gpu, encoder, (&a, &b, &c), (m, k, n), layout);
        };
        let [c] = run_once(gpu, "matmul", record, [&c])?;
        Ok(c)
    }
}
