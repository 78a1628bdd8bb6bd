//! Embed audio files with an SSL encoder and write the activations to a safetensors file.
//!
//! ```text
//! cargo run --release --example embed --no-default-features --features ssl,audio -- \
//!     --model models/tiny-wav2vec2-base --out emb.safetensors a.wav b.flac
//! ```
//!
//! Writes `last_hidden_state`, `hidden_states.N` (selected layers) and `logits` (CTC models),
//! each `(T, H)` / `(T, V)` for one input, keyed `<file stem>.<name>` when several inputs are
//! given. Long files are processed in overlapping windows (see `voxprobe_ssl::chunk`).

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::path::PathBuf;
use voxprobe::ssl::candle_core::{DType, Device, Tensor};
use voxprobe::ssl::{
    ChunkOptions, ForwardOptions, LayerSelection, LoadOptions, Normalization, Pretrained,
};

#[derive(Clone, Copy, ValueEnum)]
enum Norm {
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum Precision {
    F32,
    F16,
    Bf16,
}

#[derive(Parser)]
#[command(about = "Write SSL encoder activations of audio files to safetensors")]
struct Args {
    /// Model directory (HF layout) or hub id (needs --features hub unless cached).
    #[arg(long)]
    model: String,
    /// Hub revision.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
    /// Waveform normalisation: follow preprocessor_config.json, or force on/off.
    #[arg(long, value_enum, default_value = "auto")]
    normalize: Norm,
    /// Hidden states to write: "all", "none" or a comma list such as "0,6,12".
    #[arg(long, default_value = "all")]
    layers: String,
    /// Kept seconds per window for long audio.
    #[arg(long, default_value_t = 20.0)]
    chunk_seconds: f32,
    /// Context seconds on each side of a window.
    #[arg(long, default_value_t = 2.0)]
    context_seconds: f32,
    /// Weight dtype.
    #[arg(long, value_enum, default_value = "f32")]
    dtype: Precision,
    /// Run on the CPU even if a GPU is available.
    #[arg(long)]
    cpu: bool,
    /// Audio files (any format voxprobe-audio decodes; resampled to the model's rate).
    #[arg(required = true)]
    audio: Vec<PathBuf>,
}

fn parse_layers(s: &str) -> Result<LayerSelection> {
    Ok(match s {
        "all" => LayerSelection::All,
        "none" => LayerSelection::None,
        list => LayerSelection::Some(
            list.split(',')
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .with_context(|| format!("bad layer {v:?}"))
                })
                .collect::<Result<_>>()?,
        ),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = if args.cpu {
        Device::Cpu
    } else {
        Device::cuda_if_available(0)?
    };
    let dtype = match args.dtype {
        Precision::F32 => DType::F32,
        Precision::F16 => DType::F16,
        Precision::Bf16 => DType::BF16,
    };
    let opts = LoadOptions::default()
        .device(device)
        .dtype(dtype)
        .revision(args.revision.clone());
    let model =
        Pretrained::load(&args.model, &opts).with_context(|| format!("loading {}", args.model))?;
    let fwd = ForwardOptions::default().hidden_states(parse_layers(&args.layers)?);
    let chunk = ChunkOptions::default()
        .chunk_seconds(args.chunk_seconds)
        .context_seconds(args.context_seconds)
        .normalize(match args.normalize {
            Norm::Auto => Normalization::Auto,
            Norm::On => Normalization::On,
            Norm::Off => Normalization::Off,
        });
    let audio_opts =
        voxprobe::audio::LoadOptions::default().target_rate(model.preprocessor.sampling_rate);
    let pb = ProgressBar::new(args.audio.len() as u64);
    if !console_is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")?);
    let several = args.audio.len() > 1;
    let mut out: HashMap<String, Tensor> = HashMap::new();
    for path in &args.audio {
        pb.set_message(path.display().to_string());
        let wav = voxprobe::audio::load(path, &audio_opts)
            .with_context(|| format!("decoding {}", path.display()))?;
        let res = model.embed_long(&wav.samples, &chunk, &fwd)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let key = |name: &str| {
            if several {
                format!("{stem}.{name}")
            } else {
                name.to_string()
            }
        };
        let mut put = |name: String, t: &Tensor| -> Result<()> {
            let t = t
                .squeeze(0)?
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?;
            if out.insert(name.clone(), t).is_some() {
                bail!("duplicate key {name}: two inputs share the file stem {stem:?}");
            }
            Ok(())
        };
        put(key("last_hidden_state"), &res.last_hidden_state)?;
        for (i, h) in &res.hidden_states {
            put(key(&format!("hidden_states.{i}")), h)?;
        }
        if let Some(l) = &res.logits {
            put(key("logits"), l)?;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    voxprobe::ssl::candle_core::safetensors::save(&out, &args.out)?;
    eprintln!("wrote {} tensors to {}", out.len(), args.out.display());
    Ok(())
}

fn console_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
