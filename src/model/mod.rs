//! Building blocks of the Siamese network that dfdx 0.13 lacks on stable Rust.
//!
//! dfdx's own convolution and pooling only exist behind its `nightly` feature, which does not
//! build here, so [`ops`] implements them as custom autodiff operations that plug into dfdx's
//! tape and compose with its elementwise ops, matmul and optimizers.

pub mod compare;
pub mod head;
pub mod net;
pub mod ops;

#[cfg(test)]
mod tests;
