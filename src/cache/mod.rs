//! TEMPORARY until the cache lands (merge: take the cache branch's version).
use serde::{Deserialize, Serialize};
/// Element type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Dtype {
    /// Bytes.
    #[default]
    U8,
    /// Floats.
    F32,
}
