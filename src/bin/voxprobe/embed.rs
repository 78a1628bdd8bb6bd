//! `voxprobe embed`: voxprobe-ssl hidden states per utterance into safetensors shards.

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use serde_json::json;
use voxprobe::corpus::output::Kind;
use voxprobe::corpus::runner::{Failure, Job, Output};
use voxprobe::corpus::Entry;
use voxprobe::ssl::candle_core::{DType, Device};
use voxprobe::ssl::{ChunkOptions, ForwardOptions, LayerSelection, Pretrained};

use crate::args::{self, InputArgs, RunArgs};
use crate::model::{ModelArgs, Norm};

/// Frames or one vector per utterance.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Pooling {
    /// Keep every frame (`[frames, dim]` per utterance).
    None,
    /// Mean over frames (`[1, dim]` per utterance).
    Mean,
}

/// `embed` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
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

struct Embed<'a> {
    a: &'a Args,
    options: serde_json::Value,
    model: Option<(Pretrained, voxprobe::audio::LoadOptions)>,
    chunk: ChunkOptions,
    fwd: ForwardOptions,
}

impl Embed<'_> {
    /// Loads the model on first use (nothing to do: no load).
    fn model(&mut self) -> Result<&(Pretrained, voxprobe::audio::LoadOptions)> {
        if self.model.is_none() {
            let m = self.a.model.load()?;
            if let Some(l) = self.a.layer {
                let n = m.model.num_layers();
                if l > n {
                    bail!("--layer {l}: the model has hidden states 0..={n}");
                }
            }
            let ao =
                voxprobe::audio::LoadOptions::default().target_rate(m.preprocessor.sampling_rate);
            self.model = Some((m, ao));
        }
        self.model.as_ref().context("internal: model not loaded")
    }

    fn embed(&self, m: &Pretrained, samples: &[f32]) -> Result<(usize, usize, Vec<f32>)> {
        let out = m.embed_long(samples, &self.chunk, &self.fwd)?;
        let t = match self.a.layer {
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
        if frames == 0 {
            bail!(
                "audio too short for the model: {} samples give no frame",
                samples.len()
            );
        }
        let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
        Ok(if self.a.pooling == Pooling::Mean {
            (1, dim, mean_rows(&v, frames, dim))
        } else {
            (frames, dim, v)
        })
    }
}

impl Job for Embed<'_> {
    fn stem(&self) -> &str {
        "embeddings"
    }
    fn kind(&self) -> Kind {
        Kind::Matrix
    }
    fn options(&self) -> &serde_json::Value {
        &self.options
    }
    fn process(&mut self, e: &Entry) -> Result<Output, Failure> {
        // A model that does not load is not a bad input: it stops the run (Stage::Setup).
        let ao = self
            .model()
            .map_err(|e| Failure::setup(args::chain(&e)))?
            .1
            .clone();
        let wav = args::load(e, &ao)?;
        let (m, _) = self
            .model
            .as_ref()
            .ok_or_else(|| Failure::process("model not loaded"))?;
        let (frames, dim, v) = self
            .embed(m, &wav.samples)
            .map_err(|e| Failure::process(args::chain(&e)))?;
        Ok(Output::new(wav.duration_secs()).rows(frames, dim, v))
    }
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

/// Runs `embed`.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let mut job = Embed {
        a,
        options: json!({
            "command": "embed",
            "model": a.model.model,
            "revision": a.model.revision,
            "layer": a.layer,
            "pooling": format!("{:?}", a.pooling).to_lowercase(),
            "normalize": format!("{:?}", a.normalize).to_lowercase(),
            "chunk_seconds": a.model.chunk_seconds,
            "context_seconds": a.model.context_seconds,
        }),
        model: None,
        chunk: a.model.chunk(a.normalize),
        fwd: ForwardOptions::default().hidden_states(match a.layer {
            Some(l) => LayerSelection::Some(vec![l]),
            None => LayerSelection::None,
        }),
    };
    args::drive("embed", &a.input, &a.run, &mut job)
}
