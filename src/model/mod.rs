//! The Siamese network: its settings ([`config`], [`optimizer`]), the head's comparison of
//! two embeddings ([`compare`]), and the network itself on dfdx with the conv/pool/batch-norm
//! ops that dfdx 0.13 lacks on stable Rust ([`ops`]).
//!
//! dfdx's own convolution and pooling only exist behind its `nightly` feature, which does not
//! build here, so [`ops`] implements them as custom autodiff operations that plug into dfdx's
//! tape and compose with its elementwise ops, matmul and optimizers.

pub mod compare;
pub mod config;
pub mod head;
pub mod net;
pub mod ops;
pub mod optimizer;

pub use config::{
    Activation, ConvLayer, DenseLayer, Distance, DropoutSchedule, Init, InitConfig, L2Config, Loss,
    ModelConfig,
};
pub use optimizer::OptimizerConfig;

#[cfg(test)]
mod tests;
