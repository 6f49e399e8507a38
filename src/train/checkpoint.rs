//! Checkpoints: the network's parameters as safetensors, with their logical shapes and names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype as StDtype, TensorView};
use safetensors::SafeTensors;

use crate::model::net::{Param, SiameseNet};

/// Why a checkpoint cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// File I/O failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid safetensors.
    #[error("{} is not a safetensors file: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: safetensors::SafeTensorError,
    },
    /// The file does not fit the network.
    #[error("{} does not fit this network: {reason}", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

/// Named flat f32 buffers with shapes, as written to and read from safetensors.
pub type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

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
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, out).map_err(|source| CheckpointError::Io {
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
            let reason = format!("tensor {name} is {:?}, expected F32", view.dtype());
            return Err(CheckpointError::Mismatch {
                path: path.into(),
                reason,
            });
        }
        let data = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push((name, view.shape().to_vec(), data));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((out, metadata))
}

/// Suffixes of the non-trainable state saved beside the parameters.
const RUNNING: [&str; 2] = [".running_mean", ".running_var"];

/// The network's parameters, and batch norm's running statistics, as named tensors.
pub fn params_of(net: &SiameseNet) -> Tensors {
    let mut out: Tensors = net
        .params
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone(), p.value.as_vec()))
        .collect();
    for (i, s) in net.bn_stats.iter().enumerate() {
        out.push((
            format!("conv{i}.bn{}", RUNNING[0]),
            vec![s.mean.len()],
            s.mean.clone(),
        ));
        out.push((
            format!("conv{i}.bn{}", RUNNING[1]),
            vec![s.var.len()],
            s.var.clone(),
        ));
    }
    out
}

/// Loads a whole network: parameters and batch norm's running statistics.
///
/// # Errors
/// A missing, extra or misshapen tensor.
pub fn load_net(
    path: &Path,
    net: &mut SiameseNet,
    tensors: &Tensors,
) -> Result<(), CheckpointError> {
    load_params(path, &mut net.params, tensors)?;
    for (i, s) in net.bn_stats.iter_mut().enumerate() {
        for (suffix, dst) in RUNNING.iter().zip([&mut s.mean, &mut s.var]) {
            let name = format!("conv{i}.bn{suffix}");
            match tensors.iter().find(|(n, _, _)| *n == name) {
                Some((_, _, data)) if data.len() == dst.len() => dst.copy_from_slice(data),
                _ => {
                    let reason = format!("no tensor {name} of {} values", dst.len());
                    return Err(CheckpointError::Mismatch {
                        path: path.into(),
                        reason,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Loads parameters into `params`, checking every name and shape.
///
/// # Errors
/// A missing or extra tensor, or a shape that differs.
pub fn load_params(
    path: &Path,
    params: &mut [Param],
    tensors: &Tensors,
) -> Result<(), CheckpointError> {
    let by_name: HashMap<&str, (&Vec<usize>, &Vec<f32>)> = tensors
        .iter()
        .map(|(n, s, d)| (n.as_str(), (s, d)))
        .collect();
    let mismatch = |reason: String| CheckpointError::Mismatch {
        path: path.into(),
        reason,
    };
    for p in params.iter_mut() {
        let (shape, data) = by_name
            .get(p.name.as_str())
            .ok_or_else(|| mismatch(format!("no tensor {}", p.name)))?;
        if **shape != p.shape {
            return Err(mismatch(format!(
                "{} is {:?} in the file, {:?} in the network",
                p.name, shape, p.shape
            )));
        }
        p.value.copy_from(data);
    }
    let trainable = tensors
        .iter()
        .filter(|(n, _, _)| !RUNNING.iter().any(|s| n.ends_with(s)))
        .count();
    if trainable != params.len() {
        return Err(mismatch(format!(
            "{trainable} parameters in the file, {} in the network",
            params.len()
        )));
    }
    Ok(())
}
