//! `voxprobe decode`: any audio → mono at a fixed rate, one file per utterance, plus a
//! `decoded.scp` (`id<TAB>path`) that the other commands read with `--scp`.

use std::io::Cursor;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde_json::json;
use voxprobe::audio::{self, WavFormat};

use crate::input::InputArgs;
use crate::run::{self, RunArgs};
use crate::store::{write_atomic, Done, Kind};

/// Output sample format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// 16-bit PCM wav (Kaldi's usual input).
    Wav,
    /// 32-bit float wav.
    WavF32,
    /// Raw little-endian f32 samples, no header.
    F32,
}

/// `decode` arguments.
#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Output sample rate in Hz.
    #[arg(long, default_value_t = audio::DEFAULT_TARGET_RATE)]
    rate: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "wav")]
    format: Format,
}

/// Runs `decode`.
pub fn run(a: &DecodeArgs) -> Result<serde_json::Value> {
    let (fmt_name, ext) = match a.format {
        Format::Wav => ("wav", "wav"),
        Format::WavF32 => ("wav-f32", "wav"),
        Format::F32 => ("f32", "f32"),
    };
    let options = json!({"command": "decode", "rate": a.rate, "format": fmt_name});
    let opts = audio::LoadOptions::default().target_rate(a.rate);
    let outcome = run::run(&a.input, &a.run, "decoded", Kind::Audio, &options, |e| {
        let wav = audio::load(&e.path, &opts)?;
        let bytes = match a.format {
            Format::F32 => wav.samples.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Format::Wav | Format::WavF32 => {
                let f = if a.format == Format::Wav {
                    WavFormat::Pcm16
                } else {
                    WavFormat::Float32
                };
                let mut c = Cursor::new(Vec::new());
                audio::write_wav_to(&mut c, &wav.samples, wav.sample_rate, 1, f)
                    .context("encoding wav")?;
                c.into_inner()
            }
        };
        let path = a.run.out.join("wav").join(format!("{}.{ext}", e.id));
        write_atomic(&path, &bytes)?;
        let mut r = run::record(e, wav.duration_secs());
        r.path = Some(run::display(&path));
        Ok(Done {
            record: r,
            rows: None,
        })
    })?;
    Ok(outcome.json("decode", &a.input))
}
