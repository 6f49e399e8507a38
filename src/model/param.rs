//! What kind of tensor a parameter is: how it is initialised and regularised.

use serde::Serialize;

/// What a parameter is, for regularisation and initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ParamKind {
    /// A convolution kernel `(out, in, k, k)`.
    ConvWeight,
    /// A convolution bias `(out,)`.
    ConvBias,
    /// A batch-norm scale `(channels,)`.
    BnGamma,
    /// A batch-norm shift `(channels,)`.
    BnBeta,
    /// The embedding layer's weights `(in, units)`.
    DenseWeight,
    /// The embedding layer's bias `(units,)`.
    DenseBias,
    /// The head's weights `(in, 1)`.
    HeadWeight,
    /// The head's bias `(1,)`.
    HeadBias,
}
