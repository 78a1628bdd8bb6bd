//! Model options shared by `embed` and `transcribe`.

use anyhow::{Context, Result};
use clap::ValueEnum;
use voxprobe::ssl::candle_core::DType;
use voxprobe::ssl::{ChunkOptions, LoadOptions, Normalization, Pretrained};

use crate::device::{self, DeviceArg};

/// Waveform normalisation before the encoder.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Norm {
    /// Follow `do_normalize` in preprocessor_config.json.
    Auto,
    /// Always zero-mean/unit-variance.
    On,
    /// Never.
    Off,
}

/// Model options shared by `embed` and `transcribe`.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model directory (Hugging Face layout) or hub id (download needs `--features hub`;
    /// cached ids load without it).
    #[arg(long)]
    pub model: String,
    /// Hub revision.
    #[arg(long, default_value = "main")]
    pub revision: String,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Kept seconds per window for long audio.
    #[arg(long, default_value_t = 20.0)]
    pub chunk_seconds: f32,
    /// Context seconds on each side of a window.
    #[arg(long, default_value_t = 2.0)]
    pub context_seconds: f32,
}

impl ModelArgs {
    /// Loads the model.
    pub fn load(&self) -> Result<Pretrained> {
        let dev = device::select(self.device)?;
        let opts = LoadOptions::default()
            .device(dev)
            .dtype(DType::F32)
            .revision(self.revision.clone());
        Pretrained::load(&self.model, &opts)
            .with_context(|| format!("loading model {}", self.model))
    }

    /// Long-audio windowing.
    pub fn chunk(&self, norm: Norm) -> ChunkOptions {
        ChunkOptions::default()
            .chunk_seconds(self.chunk_seconds)
            .context_seconds(self.context_seconds)
            .normalize(match norm {
                Norm::Auto => Normalization::Auto,
                Norm::On => Normalization::On,
                Norm::Off => Normalization::Off,
            })
    }
}

/// Whether a loaded checkpoint is one of the tiny random test models (see
/// `examples/transcribe_audit`): hidden size below 64 or a CTC vocabulary below 28 tokens (real
/// English character vocabularies have 32).
pub fn is_test_model(m: &Pretrained) -> bool {
    m.model.hidden_size() < 64 || m.vocab.as_ref().is_some_and(|v| v.len() < 28)
}
