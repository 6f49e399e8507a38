//! Checkpoints: the network's parameters as safetensors, with their logical shapes and names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype as StDtype, TensorView};
use safetensors::SafeTensors;

pub use crate::model::Tensors;
use crate::model::{ModelError, Network, Weights};

/// Why a checkpoint cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File I/O failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{} is not a safetensors file", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// The file does not fit the network.
    #[error("{} does not fit this network", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        #[source]
        source: ModelError,
    },
    /// The file holds NaN or infinity: it is damaged, or was written by a diverged run.
    #[error("{} holds a non-finite value ({value}) in tensor {name} at element {index}: the file is damaged", path.display())]
    NotFinite {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// The element's index in the flat tensor.
        index: usize,
        /// The value.
        value: f32,
    },
    /// The file holds a tensor that is not f32.
    #[error("{} holds tensor {name} as {dtype}, expected F32", path.display())]
    NotF32 {
        /// The file.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its element type.
        dtype: String,
    },
}

/// Writes named tensors to `path` atomically (temp file, then rename).
///
/// # Errors
/// I/O and serialisation failures.
pub fn write(
    path: &Path,
    tensors: &Tensors,
    metadata: Option<HashMap<String, String>>,
) -> Result<(), CheckpointError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(StDtype::F32, shape.clone(), data).map_err(|source| {
            CheckpointError::Format {
                path: path.into(),
                source,
            }
        })?;
        views.push((name.clone(), view));
    }
    let out =
        safetensors::serialize(views, &metadata).map_err(|source| CheckpointError::Format {
            path: path.into(),
            source,
        })?;
    let out = sorted_header(out);
    let tmp = path.with_extension("safetensors.tmp");
    write_synced(&tmp, &out).map_err(|source| CheckpointError::Io {
        path: tmp.clone(),
        action: "write",
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| CheckpointError::Io {
        path: path.into(),
        action: "rename onto",
        source,
    })
}

/// The same file with its JSON header's keys in sorted order. safetensors writes the
/// metadata map in hash order, so two writes of the same tensors with two metadata entries
/// differed byte for byte; sorted (the same compact JSON in another order, so the same
/// length and data offsets) a checkpoint is byte-identical run after run.
fn sorted_header(mut out: Vec<u8>) -> Vec<u8> {
    let Some(len) = out
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    else {
        return out;
    };
    let Some(header) = usize::try_from(len).ok().and_then(|n| out.get(8..8 + n)) else {
        return out;
    };
    // The header is padded with spaces to an 8-byte boundary; re-serialise what precedes.
    let used = header.trim_ascii_end().len();
    let sorted = serde_json::from_slice::<serde_json::Value>(&header[..used])
        .and_then(|v| serde_json::to_vec(&v));
    if let Ok(sorted) = sorted {
        if sorted.len() == used {
            out[8..8 + used].copy_from_slice(&sorted);
        }
    }
    out
}

/// Writes `bytes` to `path` and waits until they are on disk, so that a rename after it
/// can never expose a file whose data a crash lost.
///
/// # Errors
/// I/O failures.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The largest header [`read_metadata`] accepts (a checkpoint's is a few KiB).
const MAX_HEADER: u64 = 1 << 24;

/// The metadata of a safetensors file, from its header alone: its tensors are neither
/// read nor checked.
///
/// # Errors
/// I/O failures, and a header that is not JSON.
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>, CheckpointError> {
    use std::io::Read;
    let io = |action, source| CheckpointError::Io {
        path: path.into(),
        action,
        source,
    };
    let mut file = std::fs::File::open(path).map_err(|e| io("open", e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| io("read", e))?;
    let mut header = Vec::new();
    file.take(u64::from_le_bytes(len).min(MAX_HEADER))
        .read_to_end(&mut header)
        .map_err(|e| io("read", e))?;
    let value: serde_json::Value = serde_json::from_slice(header.trim_ascii_end())
        .map_err(|e| io("parse the header of", std::io::Error::other(e)))?;
    let meta = value.get("__metadata__").and_then(|m| m.as_object());
    Ok(meta
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect())
}

/// Reads every tensor of a safetensors file (f32 only).
///
/// # Errors
/// I/O, format, and non-f32 tensors.
pub fn read(path: &Path) -> Result<Tensors, CheckpointError> {
    read_with_metadata(path).map(|(t, _)| t)
}

/// Reads every tensor of a safetensors file (f32 only) and its metadata.
///
/// # Errors
/// I/O, format, and non-f32 tensors.
pub fn read_with_metadata(
    path: &Path,
) -> Result<(Tensors, HashMap<String, String>), CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.into(),
        action: "read",
        source,
    })?;
    let format = |source| CheckpointError::Format {
        path: path.into(),
        source,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(format)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes).map_err(format)?;
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != StDtype::F32 {
            return Err(CheckpointError::NotF32 {
                path: path.into(),
                name,
                dtype: format!("{:?}", view.dtype()),
            });
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // Training never writes a non-finite value, so one means damage: refuse it here,
        // before a resume trains on NaN or an evaluation scores with it.
        if let Some((index, &value)) = data.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(CheckpointError::NotFinite {
                path: path.into(),
                name,
                index,
                value,
            });
        }
        out.push((name, view.shape().to_vec(), data));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, metadata))
}

/// Loads `tensors`, read from `path`, into `net` as its `which` weights.
///
/// # Errors
/// [`CheckpointError::Mismatch`] naming the file and the tensor that is missing, extra or
/// misshapen.
pub fn load_into(
    path: &Path,
    net: &mut dyn Network,
    which: Weights,
    tensors: &Tensors,
) -> Result<(), CheckpointError> {
    net.set_weights(which, tensors)
        .map_err(|source| CheckpointError::Mismatch {
            path: path.into(),
            source,
        })
}

/// Reads `path` and loads it into `net` as its `which` weights.
///
/// # Errors
/// I/O, format and [`load_into`]'s errors.
pub fn load_file(
    path: &Path,
    net: &mut dyn Network,
    which: Weights,
) -> Result<(), CheckpointError> {
    load_into(path, net, which, &read(path)?)
}
