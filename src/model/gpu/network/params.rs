//! The network's parameters on the device, grouped into slots, and their passage to and
//! from the layout's named host tensors ([`crate::model::layout`]).
//!
//! A slot is one device buffer holding one or more of the layout's parameters end to end:
//! batch norm's scale and shift share one (its kernels read them as one tensor), so do the
//! head's weights and bias; every other parameter has its own. The optimizer steps a slot
//! in one dispatch, which is exact because every optimizer here is elementwise and the
//! members of a shared slot carry the same L2 coefficient (none).

use std::collections::HashMap;

use crate::model::config::{Distance, Loss, ModelConfig};
use crate::model::error::ModelError;
use crate::model::layout::{self, is_running, running_name, ParamKind};
use crate::model::tensors::Tensors;

/// A weight set's values on the host: per slot, and batch norm's running statistics per
/// layer (means, then variances).
#[derive(Debug, Clone)]
pub(super) struct HostWeights {
    /// Per slot.
    pub params: Vec<Vec<f32>>,
    /// Per conv layer with batch norm.
    pub running: Vec<Vec<f32>>,
}

/// One layout parameter inside a slot.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// Its name in checkpoints.
    pub name: String,
    /// Its logical shape.
    pub shape: Vec<usize>,
    /// Where it starts in the slot.
    pub offset: usize,
    /// Values it holds.
    pub len: usize,
}

/// One device buffer of parameters.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// The parameters it holds, in layout order.
    pub members: Vec<Member>,
    /// Values in all.
    pub len: usize,
    /// The L2 coefficient the optimizer step adds (`2 * l2 * w` to the gradient).
    pub l2: f32,
}

/// The slots of a network and which layer uses which.
#[derive(Debug, Clone)]
pub(super) struct Slots {
    /// Every slot, in layout order.
    pub slots: Vec<Slot>,
    /// Per conv layer: its kernel's slot and its bias's.
    pub conv: Vec<(usize, usize)>,
    /// Per conv layer with batch norm: the slot of its scale then shift.
    pub bn: Vec<usize>,
    /// The dense layer's weights' slot and its bias's.
    pub dense: (usize, usize),
    /// The head's weights then bias (binary cross-entropy only).
    pub head: Option<usize>,
    /// Channels per conv layer (batch norm's running statistics are two per channel).
    pub channels: Vec<usize>,
}

impl Slots {
    /// The slots of the network `model` builds, with the initial values of each (drawn on
    /// the host from `seed`, as every backend draws them).
    pub fn new(
        model: &ModelConfig,
        (loss, distance): (Loss, Distance),
        input: (usize, usize),
        seed: u64,
    ) -> (Self, Vec<Vec<f32>>) {
        let drawn = layout::initial(model, distance, loss, input, seed);
        let mut slots: Vec<Slot> = Vec::new();
        let mut values: Vec<Vec<f32>> = Vec::new();
        let (mut conv_w, mut conv_b, mut bn) = (Vec::new(), Vec::new(), Vec::new());
        let (mut dense_w, mut dense_b, mut head) = (0, 0, None);
        for d in drawn {
            let len = d.values.len();
            // A shift or a head bias joins the slot of the scale or head weights before it.
            let joins = matches!(d.kind, ParamKind::BnBeta | ParamKind::HeadBias);
            if !joins {
                let l2 = match d.kind {
                    ParamKind::ConvWeight => model.l2.conv as f32,
                    ParamKind::DenseWeight => model.l2.dense as f32,
                    _ => 0.0,
                };
                let at = slots.len();
                match d.kind {
                    ParamKind::ConvWeight => conv_w.push(at),
                    ParamKind::ConvBias => conv_b.push(at),
                    ParamKind::DenseWeight => dense_w = at,
                    ParamKind::DenseBias => dense_b = at,
                    ParamKind::HeadWeight => head = Some(at),
                    ParamKind::BnGamma => bn.push(at),
                    ParamKind::HeadBias | ParamKind::BnBeta => {}
                }
                slots.push(Slot {
                    members: Vec::new(),
                    len: 0,
                    l2,
                });
                values.push(Vec::new());
            }
            let (slot, host) = match (slots.last_mut(), values.last_mut()) {
                (Some(slot), Some(host)) => (slot, host),
                _ => unreachable!("the layout starts with a conv kernel, which opens a slot"),
            };
            slot.members.push(Member {
                name: d.name,
                shape: d.shape,
                offset: slot.len,
                len,
            });
            slot.len += len;
            host.extend_from_slice(&d.values);
        }
        let slots = Self {
            slots,
            conv: conv_w.into_iter().zip(conv_b).collect(),
            bn,
            dense: (dense_w, dense_b),
            head,
            channels: model.conv.iter().map(|l| l.filters).collect(),
        };
        (slots, values)
    }

    /// Trainable values in all.
    pub fn parameter_count(&self) -> usize {
        self.slots.iter().map(|s| s.len).sum()
    }

    /// Batch norm's initial running statistics per layer: means 0, then variances 1.
    pub fn initial_running(&self) -> Vec<Vec<f32>> {
        if self.bn.is_empty() {
            return Vec::new();
        }
        self.channels
            .iter()
            .map(|&c| {
                let mut v = vec![0.0; c];
                v.resize(2 * c, 1.0);
                v
            })
            .collect()
    }

    /// Named host tensors in layout order from the slots' and running statistics' values.
    pub fn to_tensors(&self, host: &HostWeights) -> Tensors {
        let mut out = self.split("", &host.params);
        for (i, stats) in host.running.iter().enumerate() {
            let c = stats.len() / 2;
            out.push((running_name(i, 0), vec![c], stats[..c].to_vec()));
            out.push((running_name(i, 1), vec![c], stats[c..].to_vec()));
        }
        out
    }

    /// Each member of each slot as a named tensor, its name prefixed by `prefix`.
    pub fn split(&self, prefix: &str, values: &[Vec<f32>]) -> Tensors {
        let mut out = Vec::new();
        for (slot, v) in self.slots.iter().zip(values) {
            for m in &slot.members {
                let part = v[m.offset..m.offset + m.len].to_vec();
                out.push((format!("{prefix}{}", m.name), m.shape.clone(), part));
            }
        }
        out
    }

    /// The slots' values from named tensors (each name prefixed by `prefix`), checking every
    /// name and shape.
    ///
    /// # Errors
    /// [`ModelError::Mismatch`] naming a missing or misshapen tensor.
    pub fn gather(&self, prefix: &str, tensors: &Tensors) -> Result<Vec<Vec<f32>>, ModelError> {
        let by_name: HashMap<&str, (&Vec<usize>, &Vec<f32>)> = tensors
            .iter()
            .map(|(n, s, d)| (n.as_str(), (s, d)))
            .collect();
        let mut out = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let mut v = Vec::with_capacity(slot.len);
            for m in &slot.members {
                let name = format!("{prefix}{}", m.name);
                let (shape, data) = by_name
                    .get(name.as_str())
                    .ok_or_else(|| mismatch(format!("no tensor {name}")))?;
                if **shape != m.shape || data.len() != m.len {
                    return Err(mismatch(format!(
                        "{name} is {shape:?} in the file, {:?} in the network",
                        m.shape
                    )));
                }
                v.extend_from_slice(data);
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Parameters and running statistics from a checkpoint's tensors, as the CPU backend
    /// checks them: every parameter present with its shape, none extra, and every running
    /// statistic present with its size.
    ///
    /// # Errors
    /// [`ModelError::Mismatch`] naming the tensor.
    pub fn load(&self, tensors: &Tensors) -> Result<HostWeights, ModelError> {
        let params = self.gather("", tensors)?;
        let members: usize = self.slots.iter().map(|s| s.members.len()).sum();
        let trainable = tensors.iter().filter(|(n, _, _)| !is_running(n)).count();
        if trainable != members {
            return Err(mismatch(format!(
                "{trainable} parameters in the file, {members} in the network"
            )));
        }
        let mut running = Vec::new();
        for (i, stats) in self.initial_running().into_iter().enumerate() {
            let c = stats.len() / 2;
            let mut v = Vec::with_capacity(2 * c);
            for which in 0..2 {
                let name = running_name(i, which);
                match tensors.iter().find(|(n, _, _)| *n == name) {
                    Some((_, _, data)) if data.len() == c => v.extend_from_slice(data),
                    _ => return Err(mismatch(format!("no tensor {name} of {c} values"))),
                }
            }
            running.push(v);
        }
        Ok(HostWeights { params, running })
    }
}

fn mismatch(reason: String) -> ModelError {
    ModelError::Mismatch { reason }
}
