//! Named host tensors: how parameters, statistics and optimizer state cross the backend
//! seam and reach checkpoints.

/// Named flat `f32` tensors with their logical shapes, as checkpoints hold them.
pub type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;
