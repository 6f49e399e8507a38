//! Which backend trains and scores: the pipeline's top-level `device`, and `--device`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which backend trains and scores a pipeline: the pipeline's top-level `device`, recorded in
/// each run folder, and overridden by `--device` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Device {
    /// dfdx with twinflow's own conv, pool and batch-norm kernels, on every core.
    #[default]
    Cpu,
    /// wgpu on Vulkan with twinflow's own WGSL kernels, on the best adapter
    /// (`twinflow devices` lists them).
    Gpu,
}

impl Device {
    /// Every device this build knows, as written on the command line.
    pub const NAMES: [&'static str; 2] = ["cpu", "gpu"];
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Gpu => f.write_str("gpu"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "gpu" => Ok(Device::Gpu),
            other => Err(format!(
                "unknown device `{other}`: expected one of {}",
                Device::NAMES.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_from_their_names_and_refuse_others() {
        for name in Device::NAMES {
            let d: Device = name.parse().expect("known");
            assert_eq!(d.to_string(), name);
        }
        assert_eq!("CPU".parse::<Device>(), Ok(Device::Cpu));
        let err = "tpu".parse::<Device>().expect_err("unknown");
        assert!(err.contains("tpu") && err.contains("cpu"), "{err}");
    }
}
