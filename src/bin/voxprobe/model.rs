//! `voxprobe embed` and `voxprobe transcribe`: voxprobe-ssl models over a manifest.

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde_json::json;
use voxprobe::ssl::candle_core::{DType, Device};
use voxprobe::ssl::{
    ChunkOptions, ForwardOptions, LayerSelection, LoadOptions, Normalization, Pretrained,
};

use crate::device::{self, DeviceArg};
use crate::input::InputArgs;
use crate::run::{self, RunArgs};
use crate::store::{Done, Kind};

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

/// Frames or one vector per utterance.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Pooling {
    /// Keep every frame (`[frames, dim]` per utterance).
    None,
    /// Mean over frames (`[1, dim]` per utterance).
    Mean,
}

/// Model options shared by `embed` and `transcribe`.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model directory (Hugging Face layout) or hub id (download needs `--features hub`;
    /// cached ids load without it).
    #[arg(long)]
    model: String,
    /// Hub revision.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Where the model runs.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
    /// Kept seconds per window for long audio.
    #[arg(long, default_value_t = 20.0)]
    chunk_seconds: f32,
    /// Context seconds on each side of a window.
    #[arg(long, default_value_t = 2.0)]
    context_seconds: f32,
}

impl ModelArgs {
    fn load(&self) -> Result<Pretrained> {
        let dev = device::select(self.device)?;
        let opts = LoadOptions::default()
            .device(dev)
            .dtype(DType::F32)
            .revision(self.revision.clone());
        Pretrained::load(&self.model, &opts)
            .with_context(|| format!("loading model {}", self.model))
    }

    fn chunk(&self, norm: Norm) -> ChunkOptions {
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

/// `embed` arguments.
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    model: ModelArgs,
    /// Hidden state to write (0 = input of the first transformer layer, L = output of layer
    /// L); default: the last hidden state.
    #[arg(long)]
    layer: Option<usize>,
    /// Frames or the mean over frames.
    #[arg(long, value_enum, default_value = "none")]
    pooling: Pooling,
    /// Waveform normalisation.
    #[arg(long, value_enum, default_value = "auto")]
    normalize: Norm,
}

/// Runs `embed`.
pub fn embed(a: &EmbedArgs) -> Result<serde_json::Value> {
    let options = json!({
        "command": "embed",
        "model": a.model.model,
        "revision": a.model.revision,
        "layer": a.layer,
        "pooling": format!("{:?}", a.pooling).to_lowercase(),
        "normalize": format!("{:?}", a.normalize).to_lowercase(),
        "chunk_seconds": a.model.chunk_seconds,
        "context_seconds": a.model.context_seconds,
    });
    let mut model: Option<(Pretrained, voxprobe::audio::LoadOptions)> = None;
    let chunk = a.model.chunk(a.normalize);
    let fwd = ForwardOptions::default().hidden_states(match a.layer {
        Some(l) => LayerSelection::Some(vec![l]),
        None => LayerSelection::None,
    });
    let outcome = run::run(
        &a.input,
        &a.run,
        "embeddings",
        Kind::Matrix,
        &options,
        |e| {
            if model.is_none() {
                let m = a.model.load()?;
                if let Some(l) = a.layer {
                    let n = m.model.num_layers();
                    if l > n {
                        bail!("--layer {l}: the model has hidden states 0..={n}");
                    }
                }
                let ao = voxprobe::audio::LoadOptions::default()
                    .target_rate(m.preprocessor.sampling_rate);
                model = Some((m, ao));
            }
            let Some((m, ao)) = model.as_ref() else {
                bail!("internal: model not loaded");
            };
            let wav = voxprobe::audio::load(&e.path, ao)?;
            let out = m.embed_long(&wav.samples, &chunk, &fwd)?;
            let t = match a.layer {
                Some(l) => out
                    .hidden_states
                    .get(&l)
                    .with_context(|| format!("hidden state {l} missing from the output"))?,
                None => &out.last_hidden_state,
            };
            let t = t
                .squeeze(0)?
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?;
            let (frames, dim) = t.dims2()?;
            let mut v: Vec<f32> = t.flatten_all()?.to_vec1()?;
            let frames = if a.pooling == Pooling::Mean {
                v = mean_rows(&v, frames, dim);
                1
            } else {
                frames
            };
            Ok(Done {
                record: run::record(e, wav.duration_secs()),
                rows: Some((frames, v)),
            })
        },
    )?;
    Ok(outcome.json("embed", &a.input))
}

fn mean_rows(v: &[f32], frames: usize, dim: usize) -> Vec<f32> {
    // Accumulate in f64 so the pooled vector does not depend on summation rounding order.
    let mut m = vec![0f64; dim];
    for r in v.chunks_exact(dim.max(1)) {
        for (a, &b) in m.iter_mut().zip(r) {
            *a += f64::from(b);
        }
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    m.into_iter()
        .map(|s| (s / frames.max(1) as f64) as f32)
        .collect()
}

/// `transcribe` arguments.
#[derive(clap::Args, Debug)]
pub struct TranscribeArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    model: ModelArgs,
}

/// Whether a loaded checkpoint is one of the tiny random test models (see
/// `examples/transcribe_audit`): hidden size below 64 or a CTC vocabulary below 28 tokens (real
/// English character vocabularies have 32).
pub fn is_test_model(m: &Pretrained) -> bool {
    m.model.hidden_size() < 64 || m.vocab.as_ref().is_some_and(|v| v.len() < 28)
}

/// Runs `transcribe`.
pub fn transcribe(a: &TranscribeArgs) -> Result<serde_json::Value> {
    let options = json!({
        "command": "transcribe",
        "model": a.model.model,
        "revision": a.model.revision,
        "chunk_seconds": a.model.chunk_seconds,
        "context_seconds": a.model.context_seconds,
    });
    let mut model: Option<(Pretrained, voxprobe::audio::LoadOptions)> = None;
    let chunk = a.model.chunk(Norm::Auto);
    let outcome = run::run(&a.input, &a.run, "transcripts", Kind::Text, &options, |e| {
        if model.is_none() {
            let m = a.model.load()?;
            if m.vocab.is_none() || !m.model.has_ctc_head() {
                bail!(
                    "{} has no CTC head and vocab.json; `transcribe` needs a *ForCTC checkpoint",
                    a.model.model
                );
            }
            if is_test_model(&m) {
                eprintln!(
                    "WARNING: {} is a tiny random test model: its transcripts are MEANINGLESS",
                    a.model.model
                );
            }
            let ao =
                voxprobe::audio::LoadOptions::default().target_rate(m.preprocessor.sampling_rate);
            model = Some((m, ao));
        }
        let Some((m, ao)) = model.as_ref() else {
            bail!("internal: model not loaded");
        };
        let wav = voxprobe::audio::load(&e.path, ao)?;
        let out = m.embed_long(&wav.samples, &chunk, &ForwardOptions::default())?;
        let logits = out.logits.context("the model produced no logits")?;
        let vocab = m.vocab.as_ref().context("no vocabulary")?;
        let text = vocab
            .decode_logits(&logits, None, &voxprobe::ssl::DecodeOptions::default())?
            .pop()
            .unwrap_or_default();
        // Tabs and newlines would break the TSV; CTC vocabularies do not produce them, but a
        // custom vocab.json could.
        let text = text.replace(['\t', '\n', '\r'], " ");
        let mut r = run::record(e, wav.duration_secs());
        r.text = Some(text);
        Ok(Done {
            record: r,
            rows: None,
        })
    })?;
    let mut j = outcome.json("transcribe", &a.input);
    if let Some((m, _)) = &model {
        j["test_model"] = json!(is_test_model(m));
    }
    Ok(j)
}
