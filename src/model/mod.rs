//! The Siamese network: its settings ([`config`], [`optimizer`]), the layout of its
//! parameters ([`layout`]), the head's comparison of two embeddings ([`compare`]), the
//! training-backend seam ([`backend`]) and the CPU backend behind it ([`cpu`]).

pub mod backend;
pub mod compare;
pub mod config;
pub mod cpu;
pub mod head;
pub mod layout;
pub mod optimizer;

pub use backend::{build, Device, ModelError, NetSpec, Network, Tensors, Weights};
pub use config::{
    Activation, ConvLayer, DenseLayer, Distance, DropoutSchedule, Init, InitConfig, L2Config, Loss,
    ModelConfig,
};
pub use head::Head;
pub use optimizer::OptimizerConfig;
