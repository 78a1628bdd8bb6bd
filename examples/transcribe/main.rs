//! Greedy CTC transcription with a real-time-factor summary.
//!
//! ```text
//! cargo run --release --example transcribe --no-default-features --features ssl,audio,hub -- \
//!     --model facebook/wav2vec2-base-960h speech.wav
//! ```
//!
//! Prints one `path<TAB>transcript` line per input, then the audio duration, compute time and
//! real-time factor (compute / audio; model loading and decoding excluded) on stderr.

use anyhow::{Context, Result};
use clap::Parser;
use std::path::PathBuf;
use std::time::Instant;
use voxprobe::ssl::candle_core::Device;
use voxprobe::ssl::{LoadOptions, Pretrained};

#[derive(Parser)]
#[command(about = "CTC greedy transcripts of audio files")]
struct Args {
    /// Model directory (HF layout) or hub id (needs --features hub unless cached).
    #[arg(long)]
    model: String,
    /// Hub revision.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Run on the CPU even if a GPU is available.
    #[arg(long)]
    cpu: bool,
    /// Audio files.
    #[arg(required = true)]
    audio: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = if args.cpu {
        Device::Cpu
    } else {
        Device::cuda_if_available(0)?
    };
    let opts = LoadOptions::default()
        .device(device)
        .revision(args.revision.clone());
    let model =
        Pretrained::load(&args.model, &opts).with_context(|| format!("loading {}", args.model))?;
    let audio_opts =
        voxprobe::audio::LoadOptions::default().target_rate(model.preprocessor.sampling_rate);
    let (mut audio_s, mut compute_s) = (0f64, 0f64);
    for path in &args.audio {
        let wav = voxprobe::audio::load(path, &audio_opts)
            .with_context(|| format!("decoding {}", path.display()))?;
        audio_s += wav.duration_secs();
        let t0 = Instant::now();
        let text = model.transcribe(&wav.samples)?;
        compute_s += t0.elapsed().as_secs_f64();
        println!("{}\t{text}", path.display());
    }
    eprintln!(
        "{} file(s), {audio_s:.2} s of audio, {compute_s:.2} s compute, RTF {:.3}",
        args.audio.len(),
        compute_s / audio_s.max(f64::EPSILON)
    );
    Ok(())
}
