//! Batched greedy CTC transcription with word (and character) offsets and a real-time-factor
//! summary.
//!
//! ```text
//! cargo run --release --example transcribe --no-default-features --features ssl,audio,hub -- \
//!     --model facebook/wav2vec2-base-960h --words out/words.jsonl speech.wav other.flac
//! # offline: the bundled LibriVox clips and a tiny random checkpoint (meaningless text)
//! cargo run --release --example transcribe --no-default-features --features ssl,audio -- \
//!     --model models/tiny-wav2vec2-ctc-960h crates/voxprobe-audio/tests/data/sense_and_sensibility_01_austen_64kb-0880.wav
//! ```
//!
//! Every file is decoded and resampled to the model's rate (`preprocessor_config.json`) with
//! voxprobe-audio; files at another rate are reported on stderr. The waveforms then go through
//! `Pretrained::transcribe_batch` (length-bucketed, padded, masked batches where that is exact).
//! Prints one `path<TAB>transcript` line per input; `--words FILE` writes `words.jsonl` lines
//! `{"id": path, "words": [{"word", "start", "end"}, ...]}` (seconds), `--chars FILE` the
//! same per character. The audio duration, compute time and RTF (compute / audio; loading
//! excluded) go to stderr.

use anyhow::{Context, Result};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;
use voxprobe::ssl::candle_core::Device;
use voxprobe::ssl::{LoadOptions, Pretrained, TranscribeOptions};

#[derive(Parser)]
#[command(about = "CTC greedy transcripts of audio files, with word offsets")]
struct Args {
    /// Model directory (HF layout; single or sharded weights) or hub id (needs --features hub
    /// unless cached).
    #[arg(long)]
    model: String,
    /// Hub revision.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Run on the CPU even if a GPU is available.
    #[arg(long)]
    cpu: bool,
    /// Most utterances per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Write word offsets (seconds) as JSON lines to this file.
    #[arg(long)]
    words: Option<PathBuf>,
    /// Write character offsets (seconds) as JSON lines to this file.
    #[arg(long)]
    chars: Option<PathBuf>,
    /// Audio files.
    #[arg(required = true)]
    audio: Vec<PathBuf>,
}

fn create(path: &PathBuf) -> Result<std::io::BufWriter<std::fs::File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
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
    let rate = model.preprocessor.sampling_rate;
    let audio_opts = voxprobe::audio::LoadOptions::default().target_rate(rate);
    let mut waves = Vec::with_capacity(args.audio.len());
    let mut audio_s = 0f64;
    for path in &args.audio {
        let wav = voxprobe::audio::load(path, &audio_opts)
            .with_context(|| format!("decoding {}", path.display()))?;
        if wav.info.sample_rate != rate {
            eprintln!(
                "{}: resampled {} Hz -> {rate} Hz with voxprobe-audio (the model expects {rate} Hz)",
                path.display(),
                wav.info.sample_rate
            );
        }
        audio_s += wav.duration_secs();
        waves.push(wav.samples);
    }
    let items: Vec<&[f32]> = waves.iter().map(Vec::as_slice).collect();
    let t0 = Instant::now();
    let transcripts = model
        .transcribe_batch(
            &items,
            // voxprobe-audio resampled every file to the model's rate
            rate,
            &TranscribeOptions::default().max_batch(args.batch.max(1)),
        )
        .context("transcribing")?;
    let compute_s = t0.elapsed().as_secs_f64();
    let mut words = args.words.as_ref().map(create).transpose()?;
    let mut chars = args.chars.as_ref().map(create).transpose()?;
    for (path, t) in args.audio.iter().zip(&transcripts) {
        let id = path.display().to_string();
        println!("{id}\t{}", t.text());
        if let Some(w) = words.as_mut() {
            writeln!(w, "{}", t.words_json_line(&id)?)?;
        }
        if let Some(c) = chars.as_mut() {
            let line = serde_json::json!({ "id": id, "chars": t.chars() });
            writeln!(c, "{line}")?;
        }
    }
    for (f, p) in [(words, &args.words), (chars, &args.chars)] {
        if let (Some(mut f), Some(p)) = (f, p) {
            f.flush()
                .with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
    }
    eprintln!(
        "{} file(s), {audio_s:.2} s of audio, {compute_s:.2} s compute, RTF {:.3}",
        args.audio.len(),
        compute_s / audio_s.max(f64::EPSILON)
    );
    Ok(())
}
