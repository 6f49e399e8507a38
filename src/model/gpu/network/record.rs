//! The command encoder a pass is recorded into, and optional profiling: with profiling on,
//! each named mark submits what was recorded since the last one and waits for the device,
//! so every op group is timed on its own (slower, for `bench train --profile`); with it off,
//! marks cost nothing and a step stays one submission.

use std::time::{Duration, Instant};

use super::super::Gpu;

/// An encoder, and the profile's clock and times when profiling.
pub(super) struct Recorder<'g> {
    gpu: &'g Gpu,
    encoder: wgpu::CommandEncoder,
    profile: Option<(Instant, Vec<(String, Duration)>)>,
}

fn encoder(gpu: &Gpu) -> wgpu::CommandEncoder {
    gpu.device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("twinflow pass"),
        })
}

impl<'g> Recorder<'g> {
    /// A fresh encoder; `profile` times each mark.
    pub fn new(gpu: &'g Gpu, profile: bool) -> Self {
        Self {
            gpu,
            encoder: encoder(gpu),
            profile: profile.then(|| (Instant::now(), Vec::new())),
        }
    }

    /// The encoder to record into.
    pub fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        &mut self.encoder
    }

    /// Ends an op group named `name` (only built when profiling).
    pub fn mark(&mut self, name: impl FnOnce() -> String) {
        let Some((since, times)) = &mut self.profile else {
            return;
        };
        let done = std::mem::replace(&mut self.encoder, encoder(self.gpu));
        self.gpu.queue.submit([done.finish()]);
        // A failed wait shows up as a failed read-back at the end of the step.
        let _ = self.gpu.device.poll(wgpu::PollType::wait_indefinitely());
        times.push((name(), since.elapsed()));
        *since = Instant::now();
    }

    /// Submits what is left; returns the profile (empty when not profiling).
    pub fn submit(self) -> Vec<(String, Duration)> {
        self.gpu.queue.submit([self.encoder.finish()]);
        self.profile.map(|(_, times)| times).unwrap_or_default()
    }
}
