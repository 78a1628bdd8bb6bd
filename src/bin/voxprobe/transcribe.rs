//! `voxprobe transcribe`: greedy CTC transcripts per utterance into `transcripts.tsv`.

use anyhow::{bail, Context, Result};
use serde_json::json;
use voxprobe::corpus::output::Kind;
use voxprobe::corpus::runner::{Failure, Job, Output};
use voxprobe::corpus::Entry;
use voxprobe::ssl::{ChunkOptions, ForwardOptions, Pretrained};

use crate::args::{self, InputArgs, RunArgs};
use crate::model::{is_test_model, ModelArgs, Norm};

/// `transcribe` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    model: ModelArgs,
}

struct Transcribe<'a> {
    a: &'a Args,
    options: serde_json::Value,
    model: Option<(Pretrained, voxprobe::audio::LoadOptions)>,
    chunk: ChunkOptions,
}

impl Transcribe<'_> {
    fn model(&mut self) -> Result<voxprobe::audio::LoadOptions> {
        if self.model.is_none() {
            let m = self.a.model.load()?;
            if m.vocab.is_none() || !m.model.has_ctc_head() {
                bail!(
                    "{} has no CTC head and vocab.json; `transcribe` needs a *ForCTC checkpoint",
                    self.a.model.model
                );
            }
            if is_test_model(&m) {
                eprintln!(
                    "WARNING: {} is a tiny random test model: its transcripts are MEANINGLESS",
                    self.a.model.model
                );
            }
            let ao =
                voxprobe::audio::LoadOptions::default().target_rate(m.preprocessor.sampling_rate);
            self.model = Some((m, ao));
        }
        Ok(self
            .model
            .as_ref()
            .context("internal: model not loaded")?
            .1
            .clone())
    }

    fn transcribe(&self, samples: &[f32]) -> Result<String> {
        let (m, _) = self.model.as_ref().context("internal: model not loaded")?;
        let out = m.embed_long(samples, &self.chunk, &ForwardOptions::default())?;
        let logits = out.logits.context("the model produced no logits")?;
        let vocab = m.vocab.as_ref().context("no vocabulary")?;
        Ok(vocab
            .decode_logits(&logits, None, &voxprobe::ssl::DecodeOptions::default())?
            .pop()
            .unwrap_or_default())
    }
}

impl Job for Transcribe<'_> {
    fn stem(&self) -> &str {
        "transcripts"
    }
    fn kind(&self) -> Kind {
        Kind::Text
    }
    fn options(&self) -> &serde_json::Value {
        &self.options
    }
    fn process(&mut self, e: &Entry) -> Result<Output, Failure> {
        let ao = self.model().map_err(|e| Failure::setup(args::chain(&e)))?;
        let wav = args::load(e, &ao)?;
        let text = self
            .transcribe(&wav.samples)
            .map_err(|e| Failure::process(args::chain(&e)))?;
        // Tabs and newlines would break the TSV; Output::text replaces them.
        Ok(Output::new(wav.duration_secs()).text(text))
    }
}

/// Runs `transcribe`.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let mut job = Transcribe {
        a,
        options: json!({
            "command": "transcribe",
            "model": a.model.model,
            "revision": a.model.revision,
            "chunk_seconds": a.model.chunk_seconds,
            "context_seconds": a.model.context_seconds,
        }),
        model: None,
        chunk: a.model.chunk(Norm::Auto),
    };
    let mut j = args::drive("transcribe", &a.input, &a.run, &mut job)?;
    if let Some((m, _)) = &job.model {
        j["test_model"] = json!(is_test_model(m));
    }
    Ok(j)
}
