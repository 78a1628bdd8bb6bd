//! `--device cpu|cuda`, failing with a message that says what is missing.

use anyhow::{anyhow, bail, Result};
use clap::ValueEnum;
use voxprobe::ssl::candle_core::{utils, Device};

/// Where models run.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum DeviceArg {
    /// The CPU.
    Cpu,
    /// The first CUDA GPU (needs a build with `--features cuda`).
    Cuda,
}

/// The candle device for `d`.
pub fn select(d: DeviceArg) -> Result<Device> {
    match d {
        DeviceArg::Cpu => Ok(Device::Cpu),
        DeviceArg::Cuda => {
            if !utils::cuda_is_available() {
                bail!(
                    "--device cuda: this voxprobe was built without CUDA support; rebuild with \
                     `cargo build --release --features cuda` (needs the CUDA toolkit), or use \
                     --device cpu"
                );
            }
            Device::new_cuda(0).map_err(|e| {
                anyhow!("--device cuda: CUDA is compiled in but no usable GPU was found ({e})")
            })
        }
    }
}
