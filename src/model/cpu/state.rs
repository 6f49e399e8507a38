//! The CPU network's parameters and batch norm's running statistics as named host tensors,
//! in the layout every backend and checkpoint shares ([`crate::model::layout`]).

use std::collections::HashMap;

use super::net::SiameseNet;
use crate::model::error::ModelError;
use crate::model::layout::{is_running, running_name};
use crate::model::tensors::Tensors;

/// The parameters, then batch norm's running statistics, as named tensors.
pub(super) fn tensors_of(net: &SiameseNet) -> Tensors {
    let mut out: Tensors = net
        .params
        .iter()
        .map(|p| (p.name.clone(), p.shape.clone(), p.value.as_vec()))
        .collect();
    for (i, s) in net.bn_stats.iter().enumerate() {
        out.push((running_name(i, 0), vec![s.mean.len()], s.mean.clone()));
        out.push((running_name(i, 1), vec![s.var.len()], s.var.clone()));
    }
    out
}

/// A copy of `net` carrying `tensors`, which are in [`tensors_of`]'s order and shapes.
pub(super) fn with_tensors(net: &SiameseNet, tensors: &Tensors) -> SiameseNet {
    let mut out = net.clone();
    let (params, stats) = tensors.split_at(out.params.len());
    for (p, (_, _, v)) in out.params.iter_mut().zip(params) {
        p.value.copy_from(v);
    }
    for (s, pair) in out.bn_stats.iter_mut().zip(stats.chunks_exact(2)) {
        s.mean.copy_from_slice(&pair[0].2);
        s.var.copy_from_slice(&pair[1].2);
    }
    out
}

/// Loads parameters and running statistics by name, checking every name and shape.
///
/// # Errors
/// [`ModelError::Mismatch`] for a missing, extra or misshapen tensor.
pub(super) fn load(net: &mut SiameseNet, tensors: &Tensors) -> Result<(), ModelError> {
    let mismatch = |reason: String| ModelError::Mismatch { reason };
    let by_name: HashMap<&str, (&Vec<usize>, &Vec<f32>)> = tensors
        .iter()
        .map(|(n, s, d)| (n.as_str(), (s, d)))
        .collect();
    for p in net.params.iter_mut() {
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
    let trainable = tensors.iter().filter(|(n, _, _)| !is_running(n)).count();
    if trainable != net.params.len() {
        return Err(mismatch(format!(
            "{trainable} parameters in the file, {} in the network",
            net.params.len()
        )));
    }
    for (i, s) in net.bn_stats.iter_mut().enumerate() {
        for (which, dst) in [&mut s.mean, &mut s.var].into_iter().enumerate() {
            let name = running_name(i, which);
            match by_name.get(name.as_str()) {
                Some((_, data)) if data.len() == dst.len() => dst.copy_from_slice(data),
                _ => {
                    let reason = format!("no tensor {name} of {} values", dst.len());
                    return Err(mismatch(reason));
                }
            }
        }
    }
    Ok(())
}
