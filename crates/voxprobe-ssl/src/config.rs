//! `config.json` and `preprocessor_config.json`, one serde struct per family.
//!
//! Field names keep the Hugging Face spelling; defaults are those of transformers 5.23.0
//! (`configuration_wav2vec2.py`, `configuration_hubert.py`, `configuration_wavlm.py`,
//! `configuration_data2vec_audio.py`). Every flag is read from the file, never inferred
//! from the model name.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// Which architecture a checkpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// wav2vec 2.0 (`model_type = "wav2vec2"`), also XLS-R and MMS.
    Wav2Vec2,
    /// HuBERT (`"hubert"`).
    Hubert,
    /// WavLM (`"wavlm"`), with gated relative position bias.
    WavLm,
    /// data2vec-audio (`"data2vec-audio"`).
    Data2VecAudio,
}

impl Family {
    /// The `model_type` string of config.json.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Wav2Vec2 => "wav2vec2",
            Family::Hubert => "hubert",
            Family::WavLm => "wavlm",
            Family::Data2VecAudio => "data2vec-audio",
        }
    }

    /// Key prefix used by the `*For*` head classes (`wav2vec2.`, `hubert.`, ...).
    pub fn head_prefix(self) -> &'static str {
        match self {
            Family::Wav2Vec2 => "wav2vec2",
            Family::Hubert => "hubert",
            Family::WavLm => "wavlm",
            Family::Data2VecAudio => "data2vec_audio",
        }
    }

    fn from_model_type(s: &str) -> Option<Self> {
        match s {
            "wav2vec2" => Some(Family::Wav2Vec2),
            "hubert" => Some(Family::Hubert),
            "wavlm" => Some(Family::WavLm),
            "data2vec-audio" | "data2vec_audio" => Some(Family::Data2VecAudio),
            _ => None,
        }
    }

    fn from_architecture(s: &str) -> Option<Self> {
        if s.starts_with("Wav2Vec2") {
            Some(Family::Wav2Vec2)
        } else if s.starts_with("Hubert") {
            Some(Family::Hubert)
        } else if s.starts_with("WavLM") {
            Some(Family::WavLm)
        } else if s.starts_with("Data2VecAudio") {
            Some(Family::Data2VecAudio)
        } else {
            None
        }
    }
}

fn d_hidden() -> usize {
    768
}
fn d_layers() -> usize {
    12
}
fn d_heads() -> usize {
    12
}
fn d_ffn() -> usize {
    3072
}
fn d_gelu() -> String {
    "gelu".into()
}
fn d_eps() -> f64 {
    1e-5
}
fn d_group() -> String {
    "group".into()
}
fn d_conv_dim() -> Vec<usize> {
    vec![512; 7]
}
fn d_conv_kernel() -> Vec<usize> {
    vec![10, 3, 3, 3, 3, 2, 2]
}
fn d_conv_stride() -> Vec<usize> {
    vec![5, 2, 2, 2, 2, 2, 2]
}
fn d_pos_k() -> usize {
    128
}
fn d_pos_g() -> usize {
    16
}
fn d_vocab() -> usize {
    32
}
fn d_true() -> bool {
    true
}
fn d_d2v_pos_layers() -> usize {
    5
}
fn d_d2v_pos_k() -> usize {
    19
}
fn d_buckets() -> usize {
    320
}
fn d_bucket_dist() -> usize {
    800
}

/// Fields shared by every family (transformers defaults given as "default").
#[derive(Debug, Clone, Deserialize)]
pub struct CommonConfig {
    /// Architecture classes, e.g. `["Wav2Vec2ForCTC"]`; decides the key prefix and the head.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// H (default 768).
    #[serde(default = "d_hidden")]
    pub hidden_size: usize,
    /// L (default 12).
    #[serde(default = "d_layers")]
    pub num_hidden_layers: usize,
    /// h (default 12).
    #[serde(default = "d_heads")]
    pub num_attention_heads: usize,
    /// FFN width (default 3072).
    #[serde(default = "d_ffn")]
    pub intermediate_size: usize,
    /// FFN activation (default "gelu", exact erf).
    #[serde(default = "d_gelu")]
    pub hidden_act: String,
    /// Conv-stack and positional-conv activation (default "gelu").
    #[serde(default = "d_gelu")]
    pub feat_extract_activation: String,
    /// Encoder and feature-projection LayerNorm eps (default 1e-5) (not the conv-layer LNs).
    #[serde(default = "d_eps")]
    pub layer_norm_eps: f64,
    /// Conv-stack channels (default 512 × 7).
    #[serde(default = "d_conv_dim")]
    pub conv_dim: Vec<usize>,
    /// Conv-stack kernels (default (10,3,3,3,3,2,2)).
    #[serde(default = "d_conv_kernel")]
    pub conv_kernel: Vec<usize>,
    /// Conv-stack strides (default (5,2,2,2,2,2,2)).
    #[serde(default = "d_conv_stride")]
    pub conv_stride: Vec<usize>,
    /// Conv-stack biases (default false).
    #[serde(default)]
    pub conv_bias: bool,
    /// Positional-conv groups G (default 16).
    #[serde(default = "d_pos_g")]
    pub num_conv_pos_embedding_groups: usize,
    /// CTC vocabulary size (default 32).
    #[serde(default = "d_vocab")]
    pub vocab_size: usize,
    /// CTC blank id (default 0).
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// Adapter stack after the encoder (default false); not supported.
    #[serde(default)]
    pub add_adapter: bool,
    /// MMS language adapters (default null); not supported.
    #[serde(default)]
    pub adapter_attn_dim: Option<usize>,
}

/// wav2vec 2.0 `config.json` (`Wav2Vec2Config`).
#[derive(Debug, Clone, Deserialize)]
pub struct Wav2Vec2Config {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// "group" or "layer" (default "group").
    #[serde(default = "d_group")]
    pub feat_extract_norm: String,
    /// Pre-LN ("stable") encoder (default false).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// Positional-conv kernel K (default 128).
    #[serde(default = "d_pos_k")]
    pub num_conv_pos_embeddings: usize,
}

/// HuBERT `config.json` (`HubertConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct HubertConfig {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// "group" or "layer" (default "group").
    #[serde(default = "d_group")]
    pub feat_extract_norm: String,
    /// Pre-LN ("stable") encoder (default false).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// Positional-conv kernel K (default 128).
    #[serde(default = "d_pos_k")]
    pub num_conv_pos_embeddings: usize,
    /// LayerNorm before the feature projection (default true) (false in DistilHuBERT-style checkpoints).
    #[serde(default = "d_true")]
    pub feat_proj_layer_norm: bool,
    /// BatchNorm + plain conv instead of the weight-normed positional conv (default false).
    #[serde(default)]
    pub conv_pos_batch_norm: bool,
}

/// WavLM `config.json` (`WavLMConfig`).
#[derive(Debug, Clone, Deserialize)]
pub struct WavLmConfig {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// "group" or "layer" (default "group").
    #[serde(default = "d_group")]
    pub feat_extract_norm: String,
    /// Pre-LN ("stable") encoder (default false).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// Positional-conv kernel K (default 128).
    #[serde(default = "d_pos_k")]
    pub num_conv_pos_embeddings: usize,
    /// Relative-position buckets (default 320).
    #[serde(default = "d_buckets")]
    pub num_buckets: usize,
    /// Distance reached by the last log bucket (default 800).
    #[serde(default = "d_bucket_dist")]
    pub max_bucket_distance: usize,
}

/// data2vec-audio `config.json` (`Data2VecAudioConfig`): always LayerNorm convs and a post-LN
/// encoder.
#[derive(Debug, Clone, Deserialize)]
pub struct Data2VecAudioConfig {
    /// Shared fields.
    #[serde(flatten)]
    pub common: CommonConfig,
    /// Number of stacked positional convs (default 5).
    #[serde(default = "d_d2v_pos_layers")]
    pub num_conv_pos_embeddings: usize,
    /// Kernel of each positional conv (default 19).
    #[serde(default = "d_d2v_pos_k")]
    pub conv_pos_kernel_size: usize,
}

/// A parsed `config.json` of any supported family.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Config {
    /// wav2vec 2.0.
    Wav2Vec2(Wav2Vec2Config),
    /// HuBERT.
    Hubert(HubertConfig),
    /// WavLM.
    WavLm(WavLmConfig),
    /// data2vec-audio.
    Data2VecAudio(Data2VecAudioConfig),
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    model_type: Option<String>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
}

/// Feature-stack front end normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeatNorm {
    Group,
    Layer,
}

/// Positional embedding variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PosConvKind {
    /// One weight-normed grouped conv of kernel `k`.
    WeightNorm { k: usize },
    /// HuBERT: BatchNorm then a plain grouped conv.
    BatchNorm { k: usize },
    /// data2vec-audio: `layers` stacked plain convs of kernel `k` with affine-free LN.
    Stacked { layers: usize, k: usize },
}

/// Family-independent view of a config, validated.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub family: Family,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub hidden_act: candle_nn::Activation,
    pub feat_act: candle_nn::Activation,
    pub eps: f64,
    pub conv_dim: Vec<usize>,
    pub conv_kernel: Vec<usize>,
    pub conv_stride: Vec<usize>,
    pub conv_bias: bool,
    pub feat_norm: FeatNorm,
    pub stable: bool,
    pub feat_proj_ln: bool,
    pub pos: PosConvKind,
    pub pos_groups: usize,
    pub buckets: Option<(usize, usize)>,
    pub vocab_size: usize,
}

fn parse_act(option: &str, s: &str) -> Result<candle_nn::Activation> {
    use candle_nn::Activation as A;
    match s {
        // transformers' "gelu" is the exact erf form; candle's Activation::Gelu is gelu_erf.
        "gelu" => Ok(A::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(A::NewGelu),
        "relu" => Ok(A::Relu),
        "silu" | "swish" => Ok(A::Silu),
        other => Err(Error::UnsupportedOption {
            option: option.into(),
            reason: format!("activation {other:?} is not implemented"),
        }),
    }
}

fn parse_norm(s: &str) -> Result<FeatNorm> {
    match s {
        "group" => Ok(FeatNorm::Group),
        "layer" => Ok(FeatNorm::Layer),
        other => Err(Error::UnsupportedOption {
            option: "feat_extract_norm".into(),
            reason: format!("{other:?} is neither \"group\" nor \"layer\""),
        }),
    }
}

impl Config {
    /// Parses config.json text, dispatching on `model_type` (or, if absent, `architectures`).
    pub fn from_json_str(json: &str) -> Result<Self> {
        Self::parse(json, "config.json")
    }

    /// Reads and parses a config.json file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(json: &str, origin: &str) -> Result<Self> {
        let js = |source| Error::Json {
            path: origin.to_string(),
            source,
        };
        let probe: Probe = serde_json::from_str(json).map_err(js)?;
        let family = match &probe.model_type {
            Some(mt) => Family::from_model_type(mt).ok_or_else(|| Error::UnknownModelType {
                model_type: mt.clone(),
            })?,
            None => probe
                .architectures
                .as_ref()
                .and_then(|a| a.iter().find_map(|s| Family::from_architecture(s)))
                .ok_or_else(|| Error::UnknownModelType {
                    model_type: "<missing>".into(),
                })?,
        };
        let cfg = match family {
            Family::Wav2Vec2 => Config::Wav2Vec2(serde_json::from_str(json).map_err(js)?),
            Family::Hubert => Config::Hubert(serde_json::from_str(json).map_err(js)?),
            Family::WavLm => Config::WavLm(serde_json::from_str(json).map_err(js)?),
            Family::Data2VecAudio => Config::Data2VecAudio(serde_json::from_str(json).map_err(js)?),
        };
        cfg.spec()?;
        Ok(cfg)
    }

    /// The model family.
    pub fn family(&self) -> Family {
        match self {
            Config::Wav2Vec2(_) => Family::Wav2Vec2,
            Config::Hubert(_) => Family::Hubert,
            Config::WavLm(_) => Family::WavLm,
            Config::Data2VecAudio(_) => Family::Data2VecAudio,
        }
    }

    /// Fields shared by every family.
    pub fn common(&self) -> &CommonConfig {
        match self {
            Config::Wav2Vec2(c) => &c.common,
            Config::Hubert(c) => &c.common,
            Config::WavLm(c) => &c.common,
            Config::Data2VecAudio(c) => &c.common,
        }
    }

    /// Whether `architectures` names a `*ForCTC` class (the checkpoint has `lm_head.*`).
    pub fn is_ctc(&self) -> bool {
        self.common()
            .architectures
            .as_ref()
            .is_some_and(|a| a.iter().any(|s| s.ends_with("ForCTC")))
    }

    /// Whether the encoder is pre-LN ("stable layer norm").
    pub fn is_stable_layer_norm(&self) -> bool {
        match self {
            Config::Wav2Vec2(c) => c.do_stable_layer_norm,
            Config::Hubert(c) => c.do_stable_layer_norm,
            Config::WavLm(c) => c.do_stable_layer_norm,
            Config::Data2VecAudio(_) => false,
        }
    }

    /// Number of encoder layers L; hidden states are indexed 0..=L.
    pub fn num_hidden_layers(&self) -> usize {
        self.common().num_hidden_layers
    }

    /// Validates the config and reduces it to the family-independent description.
    pub(crate) fn spec(&self) -> Result<Spec> {
        let c = self.common();
        if c.add_adapter {
            return Err(Error::UnsupportedOption {
                option: "add_adapter".into(),
                reason: "the post-encoder adapter stack is not implemented".into(),
            });
        }
        if c.adapter_attn_dim.is_some() {
            return Err(Error::UnsupportedOption {
                option: "adapter_attn_dim".into(),
                reason: "MMS per-layer language adapters are not implemented".into(),
            });
        }
        let (feat_norm, stable, feat_proj_ln, pos, buckets) = match self {
            Config::Wav2Vec2(w) => (
                parse_norm(&w.feat_extract_norm)?,
                w.do_stable_layer_norm,
                true,
                PosConvKind::WeightNorm {
                    k: w.num_conv_pos_embeddings,
                },
                None,
            ),
            Config::Hubert(h) => (
                parse_norm(&h.feat_extract_norm)?,
                h.do_stable_layer_norm,
                h.feat_proj_layer_norm,
                if h.conv_pos_batch_norm {
                    PosConvKind::BatchNorm {
                        k: h.num_conv_pos_embeddings,
                    }
                } else {
                    PosConvKind::WeightNorm {
                        k: h.num_conv_pos_embeddings,
                    }
                },
                None,
            ),
            Config::WavLm(w) => (
                parse_norm(&w.feat_extract_norm)?,
                w.do_stable_layer_norm,
                true,
                PosConvKind::WeightNorm {
                    k: w.num_conv_pos_embeddings,
                },
                Some((w.num_buckets, w.max_bucket_distance)),
            ),
            Config::Data2VecAudio(d) => (
                FeatNorm::Layer,
                false,
                true,
                PosConvKind::Stacked {
                    layers: d.num_conv_pos_embeddings,
                    k: d.conv_pos_kernel_size,
                },
                None,
            ),
        };
        let bad = |option: &str, reason: &str| Error::InvalidConfig {
            option: option.into(),
            reason: reason.into(),
        };
        if c.hidden_size == 0 || c.num_attention_heads == 0 {
            return Err(bad(
                "hidden_size",
                "hidden_size and num_attention_heads must be > 0",
            ));
        }
        if !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(bad("num_attention_heads", "must divide hidden_size"));
        }
        if c.conv_dim.is_empty()
            || c.conv_dim.len() != c.conv_kernel.len()
            || c.conv_dim.len() != c.conv_stride.len()
        {
            return Err(bad(
                "conv_dim",
                "conv_dim, conv_kernel and conv_stride must be non-empty and equally long",
            ));
        }
        if c.conv_kernel.contains(&0) || c.conv_stride.contains(&0) || c.conv_dim.contains(&0) {
            return Err(bad("conv_kernel", "conv sizes and strides must be > 0"));
        }
        if c.num_conv_pos_embedding_groups == 0
            || !c
                .hidden_size
                .is_multiple_of(c.num_conv_pos_embedding_groups)
        {
            return Err(bad(
                "num_conv_pos_embedding_groups",
                "must be > 0 and divide hidden_size",
            ));
        }
        match pos {
            PosConvKind::WeightNorm { k: 0 } | PosConvKind::BatchNorm { k: 0 } => {
                return Err(bad("num_conv_pos_embeddings", "must be > 0"))
            }
            PosConvKind::Stacked { k: 0, .. } => {
                return Err(bad("conv_pos_kernel_size", "must be > 0"))
            }
            _ => {}
        }
        if let Some((nb, md)) = buckets {
            // max_exact = nb/4 must be >= 1 and md > max_exact for the log buckets.
            if nb < 4 || md <= nb / 4 {
                return Err(bad(
                    "num_buckets",
                    "num_buckets must be >= 4 and max_bucket_distance > num_buckets/4",
                ));
            }
        }
        Ok(Spec {
            family: self.family(),
            hidden: c.hidden_size,
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            ffn: c.intermediate_size,
            hidden_act: parse_act("hidden_act", &c.hidden_act)?,
            feat_act: parse_act("feat_extract_activation", &c.feat_extract_activation)?,
            eps: c.layer_norm_eps,
            conv_dim: c.conv_dim.clone(),
            conv_kernel: c.conv_kernel.clone(),
            conv_stride: c.conv_stride.clone(),
            conv_bias: c.conv_bias,
            feat_norm,
            stable,
            feat_proj_ln,
            pos,
            pos_groups: c.num_conv_pos_embedding_groups,
            buckets,
            vocab_size: c.vocab_size,
        })
    }
}

fn d_rate() -> u32 {
    16_000
}

/// `preprocessor_config.json` (`Wav2Vec2FeatureExtractor`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct PreprocessorConfig {
    /// Zero-mean unit-variance normalisation per utterance (default true).
    #[serde(default = "d_true")]
    pub do_normalize: bool,
    /// Expected sampling rate (default 16000).
    #[serde(default = "d_rate")]
    pub sampling_rate: u32,
    /// Value used for padding (default 0.0).
    #[serde(default)]
    pub padding_value: f32,
    /// Whether the checkpoint was trained with attention masks (default false); false for group-norm
    /// checkpoints, which should be batched without a mask.
    #[serde(default)]
    pub return_attention_mask: bool,
}

impl Default for PreprocessorConfig {
    fn default() -> Self {
        Self {
            do_normalize: true,
            sampling_rate: 16_000,
            padding_value: 0.0,
            return_attention_mask: false,
        }
    }
}

impl PreprocessorConfig {
    /// Reads a preprocessor_config.json file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.display().to_string(),
            source,
        })
    }
}
