//! Loading a checkpoint directory in Hugging Face layout, from disk or the hub cache.
//!
//! A model reference is either a local directory or a hub id (`org/name`). Hub ids are looked up
//! in the hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`,
//! layout `models--org--name/{refs/<revision>, snapshots/<commit>/...}`); with the `hub` feature
//! missing files are downloaded unless offline mode is on (`HF_HUB_OFFLINE=1` or
//! [`LoadOptions::offline`]).

use crate::config::{Config, PreprocessorConfig};
use crate::ctc::{CtcVocab, DecodeOptions};
use crate::error::{Error, Result};
use crate::model::{EngineKind, ForwardOptions, SslModel, SslOutput};
use crate::preprocess::{Batch, BatchOptions};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// Files fetched for a model; the weight file is the first one present.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];
/// Optional files next to config.json.
pub const OPTIONAL_FILES: [&str; 4] = [
    "preprocessor_config.json",
    "vocab.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// How to load a model.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Device. Default: CPU.
    pub device: Device,
    /// Weight dtype (f32, or f16/bf16 where the device supports them). Default: f32.
    pub dtype: DType,
    /// Hub revision (branch, tag or commit). Default: "main".
    pub revision: String,
    /// Hub cache directory. Default: `$HF_HUB_CACHE`, `$HF_HOME/hub` or `~/.cache/huggingface/hub`.
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network. Default: `None` = follow `HF_HUB_OFFLINE`.
    pub offline: Option<bool>,
    /// Engine (candle graph or CPU engine). Default: [`EngineKind::Auto`].
    pub engine: EngineKind,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            revision: "main".into(),
            cache_dir: None,
            offline: None,
            engine: EngineKind::Auto,
        }
    }
}

impl LoadOptions {
    /// Sets [`LoadOptions::engine`].
    pub fn engine(mut self, e: EngineKind) -> Self {
        self.engine = e;
        self
    }
    /// Sets the device.
    pub fn device(mut self, d: Device) -> Self {
        self.device = d;
        self
    }
    /// Sets the dtype.
    pub fn dtype(mut self, d: DType) -> Self {
        self.dtype = d;
        self
    }
    /// Sets the hub revision.
    pub fn revision(mut self, r: impl Into<String>) -> Self {
        self.revision = r.into();
        self
    }
    /// Sets the hub cache directory.
    pub fn cache_dir(mut self, p: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(p.into());
        self
    }
    /// Forces offline mode on or off.
    pub fn offline(mut self, on: bool) -> Self {
        self.offline = Some(on);
        self
    }

    fn is_offline(&self) -> bool {
        self.offline.unwrap_or_else(|| {
            std::env::var("HF_HUB_OFFLINE")
                .map(|v| {
                    matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "1" | "true" | "yes" | "on"
                    )
                })
                .unwrap_or(false)
        })
    }

    fn resolved_cache_dir(&self) -> Option<PathBuf> {
        if let Some(d) = &self.cache_dir {
            return Some(d.clone());
        }
        if let Ok(d) = std::env::var("HF_HUB_CACHE") {
            return Some(PathBuf::from(d));
        }
        if let Ok(d) = std::env::var("HF_HOME") {
            return Some(PathBuf::from(d).join("hub"));
        }
        std::env::var("HOME").ok().map(|h| {
            PathBuf::from(h)
                .join(".cache")
                .join("huggingface")
                .join("hub")
        })
    }
}

/// Finds a repo's snapshot directory in a hub cache: `revision` may be a commit hash or a ref
/// name resolved through `refs/<revision>`.
pub fn cached_snapshot(cache_dir: &Path, repo_id: &str, revision: &str) -> Result<PathBuf> {
    let repo_dir = cache_dir.join(format!("models--{}", repo_id.replace('/', "--")));
    let is_commit = revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit());
    let commit = if is_commit {
        revision.to_string()
    } else {
        let rf = repo_dir.join("refs").join(revision);
        std::fs::read_to_string(&rf)
            .map_err(|_| Error::Hub {
                reason: format!(
                    "{repo_id}@{revision} is not in the cache {} (no {})",
                    cache_dir.display(),
                    rf.display()
                ),
            })?
            .trim()
            .to_string()
    };
    let snap = repo_dir.join("snapshots").join(&commit);
    if !snap.join("config.json").is_file() {
        return Err(Error::Hub {
            reason: format!("cached snapshot {} has no config.json", snap.display()),
        });
    }
    Ok(snap)
}

/// A model with everything needed to run it on waveforms: config, preprocessing and (for CTC
/// checkpoints) the vocabulary.
#[derive(Debug, Clone)]
pub struct Pretrained {
    /// The network.
    pub model: SslModel,
    /// Parsed config.json.
    pub config: Config,
    /// Parsed preprocessor_config.json (defaults if absent).
    pub preprocessor: PreprocessorConfig,
    /// CTC vocabulary, when vocab.json is present.
    pub vocab: Option<CtcVocab>,
    /// Directory the files came from.
    pub dir: PathBuf,
}

impl Pretrained {
    /// Loads a local directory or a hub id (see the module docs for the lookup order).
    pub fn load(dir_or_id: &str, opts: &LoadOptions) -> Result<Self> {
        let p = Path::new(dir_or_id);
        if p.is_dir() {
            return Self::from_dir(p, opts);
        }
        Self::from_hub(dir_or_id, opts)
    }

    /// Loads a hub id through the cache, downloading (feature `hub`) when allowed.
    pub fn from_hub(repo_id: &str, opts: &LoadOptions) -> Result<Self> {
        let cache = opts.resolved_cache_dir();
        if let Some(c) = &cache {
            match cached_snapshot(c, repo_id, &opts.revision) {
                Ok(snap) if has_weights(&snap) => return Self::from_dir(&snap, opts),
                Ok(_) | Err(_) if opts.is_offline() => {
                    return Err(Error::Hub {
                        reason: format!(
                            "{repo_id}@{} is not fully cached in {} and offline mode is on",
                            opts.revision,
                            c.display()
                        ),
                    })
                }
                _ => {}
            }
        }
        download(repo_id, opts, cache.as_deref())
    }

    /// Loads `config.json`, the weights and the optional files from a directory.
    pub fn from_dir(dir: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Config::from_file(dir.join("config.json"))?;
        // single file or sharded index, in transformers' order (crate::shards)
        let ckpt = crate::shards::read_weights(dir)?;
        let model =
            SslModel::from_checkpoint_with(ckpt, &config, opts.dtype, &opts.device, opts.engine)?;
        let pp = dir.join("preprocessor_config.json");
        let preprocessor = if pp.is_file() {
            PreprocessorConfig::from_file(pp)?
        } else {
            tracing::debug!("no preprocessor_config.json: using transformers defaults");
            PreprocessorConfig::default()
        };
        let vocab = if dir.join("vocab.json").is_file() {
            Some(CtcVocab::from_dir(dir)?)
        } else {
            None
        };
        Ok(Self {
            model,
            config,
            preprocessor,
            vocab,
            dir: dir.to_path_buf(),
        })
    }

    /// Normalises and batches waveforms (mono, at `preprocessor.sampling_rate`), then runs
    /// the model. A mask is passed only when the preprocessor says the model was trained with
    /// one (`return_attention_mask`); otherwise padded items see zero padding, as in
    /// transformers. Use [`SslOutput::frame_lengths`] to trim each item.
    pub fn embed(
        &self,
        waves: &[&[f32]],
        batch: &BatchOptions,
        fwd: &ForwardOptions,
    ) -> Result<SslOutput> {
        let b = Batch::new(waves, &self.preprocessor, batch, self.model.device())?;
        let mask = self
            .preprocessor
            .return_attention_mask
            .then_some(&b.attention_mask);
        let mut out = self.model.forward(&b.input_values, mask, fwd)?;
        out.frame_lengths = b
            .lengths
            .iter()
            .map(|&l| self.model.frames_for(l))
            .collect();
        Ok(out)
    }

    /// Greedy CTC transcript of one waveform; long audio is processed in windows with the
    /// default [`ChunkOptions`](crate::ChunkOptions) (20 s kept, 2 s context per side).
    pub fn transcribe(&self, wave: &[f32]) -> Result<String> {
        let vocab = self.vocab.as_ref().ok_or_else(|| Error::NoCtcHead {
            reason: format!("no vocab.json in {}", self.dir.display()),
        })?;
        let out = self.embed_long(
            wave,
            &crate::chunk::ChunkOptions::default(),
            &ForwardOptions::default(),
        )?;
        let logits = out.logits.ok_or_else(|| Error::NoCtcHead {
            reason: "architectures names no *ForCTC class".into(),
        })?;
        let mut t = vocab.decode_logits(&logits, None, &DecodeOptions::default())?;
        Ok(t.pop().unwrap_or_default())
    }
}

fn has_weights(dir: &Path) -> bool {
    crate::shards::has_complete_weights(dir)
}

#[cfg(feature = "hub")]
fn download(repo_id: &str, opts: &LoadOptions, cache: Option<&Path>) -> Result<Pretrained> {
    crate::hub::download(repo_id, opts, cache).and_then(|dir| Pretrained::from_dir(dir, opts))
}

#[cfg(not(feature = "hub"))]
fn download(repo_id: &str, opts: &LoadOptions, cache: Option<&Path>) -> Result<Pretrained> {
    Err(Error::Hub {
        reason: format!(
            "{repo_id}@{} is not a directory nor cached in {}; enable the `hub` feature to download",
            opts.revision,
            cache.map(|c| c.display().to_string()).unwrap_or_else(|| "<no cache dir>".into())
        ),
    })
}
