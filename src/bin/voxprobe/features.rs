//! `voxprobe features`: Kaldi log-mel filterbank or MFCC (voxprobe-features, equal to
//! `torchaudio.compliance.kaldi`) per utterance, in the same sharded safetensors layout as
//! `embed`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde_json::json;
use voxprobe::corpus::output::Kind;
use voxprobe::corpus::runner::{Failure, Job, Output};
use voxprobe::corpus::Entry;
use voxprobe::features::{Fbank, FbankOptions, Mfcc, MfccOptions};

use crate::args::{self, InputArgs, RunArgs};

/// Samples in [-1, 1] are scaled to the 16-bit integer range first, as Kaldi recipes and
/// `torchaudio.compliance.kaldi` users feed them, so log energies have Kaldi's usual values.
const KALDI_SCALE: f32 = 32_768.0;

/// Which features.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FeatureKind {
    /// Log-mel filterbank energies.
    Fbank,
    /// Mel-frequency cepstral coefficients.
    Mfcc,
}

/// `features` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    run: RunArgs,
    /// Feature type.
    #[arg(long, value_enum, default_value = "fbank")]
    kind: FeatureKind,
    /// Mel bins (Kaldi and torchaudio default: 23).
    #[arg(long, default_value_t = 23)]
    num_mel_bins: usize,
    /// Cepstra kept (MFCC only; default 13).
    #[arg(long, default_value_t = 13)]
    num_ceps: usize,
    /// Full options as JSON (`FbankOptions` / `MfccOptions` fields, torchaudio names);
    /// overrides --num-mel-bins / --num-ceps.
    #[arg(long)]
    options: Option<PathBuf>,
    /// Sample rate the audio is resampled to before feature extraction.
    #[arg(long, default_value_t = 16_000)]
    rate: u32,
}

enum Extractor {
    Fbank(Fbank),
    Mfcc(Mfcc),
}

struct Features {
    options: serde_json::Value,
    load: voxprobe::audio::LoadOptions,
    ex: Extractor,
}

impl Job for Features {
    fn stem(&self) -> &str {
        "features"
    }
    fn kind(&self) -> Kind {
        Kind::Matrix
    }
    fn options(&self) -> &serde_json::Value {
        &self.options
    }
    fn process(&mut self, e: &Entry) -> Result<Output, Failure> {
        let wav = args::load(e, &self.load)?;
        let x: Vec<f32> = wav.samples.iter().map(|v| v * KALDI_SCALE).collect();
        let f = match &self.ex {
            Extractor::Fbank(f) => f.compute(&x, wav.sample_rate),
            Extractor::Mfcc(m) => m.compute(&x, wav.sample_rate),
        }
        .map_err(Failure::process)?;
        let (frames, dim) = f.dim();
        if frames == 0 {
            return Err(Failure::process(format!(
                "audio too short: {} samples give no frame",
                x.len()
            )));
        }
        let rows: Vec<f32> = f.iter().copied().collect();
        Ok(Output::new(wav.duration_secs()).rows(frames, dim, rows))
    }
}

/// Runs `features`.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let user: Option<String> = a
        .options
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    let (ex, opts_json) = match a.kind {
        FeatureKind::Fbank => {
            let o = match &user {
                Some(t) => serde_json::from_str::<FbankOptions>(t).context("--options")?,
                None => FbankOptions::new().num_mel_bins(a.num_mel_bins),
            };
            let j = serde_json::to_value(&o)?;
            (Extractor::Fbank(Fbank::new(o)?), j)
        }
        FeatureKind::Mfcc => {
            let o = match &user {
                Some(t) => serde_json::from_str::<MfccOptions>(t).context("--options")?,
                None => {
                    let mut o = MfccOptions::new().num_mel_bins(a.num_mel_bins);
                    o.num_ceps = a.num_ceps;
                    o
                }
            };
            let j = serde_json::to_value(&o)?;
            (Extractor::Mfcc(Mfcc::new(o)?), j)
        }
    };
    let mut job = Features {
        options: json!({
            "command": "features",
            "kind": format!("{:?}", a.kind).to_lowercase(),
            "rate": a.rate,
            "scale": KALDI_SCALE,
            "options": opts_json,
        }),
        load: voxprobe::audio::LoadOptions::default().target_rate(a.rate),
        ex,
    };
    args::drive("features", &a.input, &a.run, &mut job)
}
