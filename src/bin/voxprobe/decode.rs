//! `voxprobe decode`: any audio → mono at a fixed rate, one file per utterance, plus a
//! `decoded.scp` (`id<TAB>path`) that the other commands read with `--scp`.

use std::io::Cursor;
use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use serde_json::json;
use voxprobe::audio::{self, WavFormat};
use voxprobe::corpus::output::Kind;
use voxprobe::corpus::runner::{Failure, Job, Output};
use voxprobe::corpus::Entry;

use crate::args::{self, InputArgs, RunArgs};

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
pub struct Args {
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

struct Decode {
    options: serde_json::Value,
    load: audio::LoadOptions,
    format: Format,
    ext: &'static str,
    out: PathBuf,
    faults: voxprobe::corpus::output::Faults,
}

impl Job for Decode {
    fn stem(&self) -> &str {
        "decoded"
    }
    fn kind(&self) -> Kind {
        Kind::Audio
    }
    fn options(&self) -> &serde_json::Value {
        &self.options
    }
    fn process(&mut self, e: &Entry) -> Result<Output, Failure> {
        let wav = args::load(e, &self.load)?;
        let bytes = match self.format {
            Format::F32 => wav.samples.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Format::Wav | Format::WavF32 => {
                let f = if self.format == Format::Wav {
                    WavFormat::Pcm16
                } else {
                    WavFormat::Float32
                };
                let mut c = Cursor::new(Vec::new());
                audio::write_wav_to(&mut c, &wav.samples, wav.sample_rate, 1, f)
                    .map_err(Failure::process)?;
                c.into_inner()
            }
        };
        let path = self.out.join("wav").join(format!("{}.{}", e.id, self.ext));
        voxprobe::corpus::output::write_file(&path, &bytes, &self.faults)
            .map_err(Failure::process)?;
        Ok(Output::new(wav.duration_secs()).path(path.display().to_string()))
    }
}

/// Runs `decode`.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let (fmt_name, ext) = match a.format {
        Format::Wav => ("wav", "wav"),
        Format::WavF32 => ("wav-f32", "wav"),
        Format::F32 => ("f32", "f32"),
    };
    let mut job = Decode {
        options: json!({"command": "decode", "rate": a.rate, "format": fmt_name}),
        load: audio::LoadOptions::default().target_rate(a.rate),
        format: a.format,
        ext,
        out: a.run.out.clone(),
        faults: args::faults(
            a.run.debug_crash_at.as_deref(),
            a.run.debug_fail_writes_after,
        )?,
    };
    args::drive("decode", &a.input, &a.run, &mut job)
}
