//! The encoder shared by the four families, and the CTC head, in two engines.
//!
//! Reference: transformers 5.23.0,
//! <https://github.com/huggingface/transformers/blob/v5.23.0/src/transformers/models/wav2vec2/modeling_wav2vec2.py>
//! (and `hubert/modular_hubert.py`, `wavlm/modular_wavlm.py`,
//! `data2vec/modular_data2vec_audio.py`). The families differ only in the pieces selected by
//! the config: the conv front-end norm, the positional embedding, the LayerNorm placement and
//! WavLM's gated relative position bias.
//!
//! Two engines compute the same model, each whole on its own, sharing only the validated
//! config (and the few numeric facts of transformers below):
//! - `graph`: the reference engine, a candle graph for every device and dtype (plain structs,
//!   `load(vb, &spec)`, `forward`, as in candle-transformers' `whisper/model.rs`);
//! - `cpu`: the CPU engine, a self-contained f32 plan with its own structs and packed weights,
//!   read from the same checkpoint keys (as `quantized_model.rs` twins `model.rs`).
//!
//! [`SslModel`] holds one of them, chosen at load time by [`EngineKind`]; neither engine
//! reads the other's fields. Both are tested against the transformers fixtures.

use crate::config::{Config, Family, FeatNorm, PosConvKind, Spec};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::BTreeMap;

mod cpu;
mod graph;

/// eps of the conv-stack LayerNorm/GroupNorm and of data2vec's positional LNs: fixed in
/// transformers, independent of `layer_norm_eps`.
const CONV_NORM_EPS: f64 = 1e-5;
/// eps of HuBERT's positional BatchNorm1d (torch default).
const BATCH_NORM_EPS: f64 = 1e-5;
/// Additive value for padded keys; finite so that half precision saturates to -inf cleanly.
const MASK_NEG: f32 = -1e9;

/// The two key layouts of a weight-normed conv: (`weight_g`, `weight_v`) or
/// `parametrizations.weight.original{0,1}`.
fn weight_norm_keys(vb: &VarBuilder) -> (&'static str, &'static str) {
    if vb.contains_tensor("weight_g") || vb.contains_tensor("weight_v") {
        ("weight_g", "weight_v")
    } else {
        (
            "parametrizations.weight.original0",
            "parametrizations.weight.original1",
        )
    }
}

/// WavLM relative-position bucket of `rel = key − query`
/// (`WavLMAttention._relative_positions_bucket`; the log is taken in f32 like torch).
pub fn wavlm_bucket(rel: i64, num_buckets: usize, max_distance: usize) -> usize {
    let half = num_buckets / 2;
    let base = if rel > 0 { half } else { 0 };
    let a = rel.unsigned_abs() as usize;
    let max_exact = half / 2;
    if a < max_exact {
        return base + a;
    }
    let ratio = (a as f32 / max_exact as f32).ln() / (max_distance as f32 / max_exact as f32).ln();
    let large = max_exact + (ratio * (half - max_exact) as f32) as usize;
    base + large.min(half - 1)
}

/// Which hidden states to keep during a forward pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerSelection {
    /// Keep none (only `last_hidden_state`).
    #[default]
    None,
    /// Keep all L+1 entries.
    All,
    /// Keep these indices (0 = input of the first layer, i = output of layer i−1).
    Some(Vec<usize>),
}

impl LayerSelection {
    fn wants(&self, i: usize) -> bool {
        match self {
            LayerSelection::None => false,
            LayerSelection::All => true,
            LayerSelection::Some(v) => v.contains(&i),
        }
    }
}

/// Which engine runs a model; chosen at load time ([`SslModel::load_with`],
/// [`crate::LoadOptions::engine`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineKind {
    /// The CPU engine where it applies (CPU device, f32, erf-GELU activations), else the
    /// candle graph. The default.
    #[default]
    Auto,
    /// The candle graph: the reference, for every device and dtype.
    Candle,
    /// The CPU engine (packed f32 weights, fused kernels); loading fails with
    /// [`Error::UnsupportedOption`] off CPU, for dtypes other than f32, or for activations
    /// other than erf-GELU.
    Cpu,
}

/// The engine a model holds.
#[derive(Debug, Clone)]
enum Engine {
    Candle(Box<graph::Graph>),
    Cpu(Box<cpu::Plan>),
}

/// Whether `engine` resolves to the CPU engine here; an explicit [`EngineKind::Cpu`] that
/// cannot run is an [`Error::UnsupportedOption`] naming `engine`.
fn use_cpu_engine(spec: &Spec, device: &Device, dtype: DType, engine: EngineKind) -> Result<bool> {
    match (engine, cpu_engine_unsupported(spec, device, dtype)) {
        (EngineKind::Candle, _) | (EngineKind::Auto, Some(_)) => Ok(false),
        (EngineKind::Auto, None) | (EngineKind::Cpu, None) => Ok(true),
        (EngineKind::Cpu, Some(why)) => Err(Error::UnsupportedOption {
            option: "engine".into(),
            reason: why,
        }),
    }
}

/// What an engine's forward pass returns.
struct EngineOutput {
    conv: Option<Tensor>,
    proj: Option<Tensor>,
    last: Tensor,
    logits: Option<Tensor>,
}

/// Why the CPU engine cannot run this model on this device and dtype, if it cannot.
fn cpu_engine_unsupported(spec: &Spec, device: &Device, dtype: DType) -> Option<String> {
    if !device.is_cpu() {
        return Some("the CPU engine runs on the CPU device only".into());
    }
    if dtype != DType::F32 {
        return Some(format!(
            "the CPU engine runs f32 weights only, not {dtype:?}"
        ));
    }
    let gelu = |a: candle_nn::Activation| matches!(a, candle_nn::Activation::Gelu);
    if !gelu(spec.hidden_act) || !gelu(spec.feat_act) {
        return Some("the CPU engine implements the erf-GELU activation only".into());
    }
    None
}

/// Options of one forward pass.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ForwardOptions {
    /// Hidden states to keep. Default: [`LayerSelection::None`].
    pub hidden_states: LayerSelection,
    /// Keep `conv_features` and `projected_features`. Default: false.
    pub intermediates: bool,
    /// Threads of the CPU engine for this call: 1 runs on the calling thread only; n > 1
    /// splits GEMM blocks, attention heads and element-wise passes into tasks on rayon's
    /// current pool (size that pool, e.g. with `rayon::ThreadPool::install`, to cap the
    /// threads in use); 0 = the current pool's size. The candle graph ignores it (candle
    /// sizes its own pool). Default: 0.
    pub threads: usize,
}

impl ForwardOptions {
    /// Keeps the selected hidden states.
    pub fn hidden_states(mut self, sel: LayerSelection) -> Self {
        self.hidden_states = sel;
        self
    }
    /// Keeps the conv-stack and projection outputs.
    pub fn intermediates(mut self, on: bool) -> Self {
        self.intermediates = on;
        self
    }
    /// Sets [`ForwardOptions::threads`].
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }
}

/// What a forward pass returns. All tensors are time-major `(B, T, ·)`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SslOutput {
    /// Encoder output `(B, T, H)` (after the final LN for stable-LN models).
    pub last_hidden_state: Tensor,
    /// Selected hidden states, transformers 5.x meaning: entry 0 is the input of the first
    /// layer, entry i the output of layer i−1. For stable-LN (pre-LN) models the last entry is
    /// **not** normed (transformers 4.x returned the normed one; apply the encoder LN to compare).
    pub hidden_states: BTreeMap<usize, Tensor>,
    /// CTC logits `(B, T, V)` when the model has a CTC head.
    pub logits: Option<Tensor>,
    /// Conv-stack output `(B, T, C)` when requested.
    pub conv_features: Option<Tensor>,
    /// Feature-projection output `(B, T, H)` before padded frames are zeroed, when requested.
    pub projected_features: Option<Tensor>,
    /// Valid frames per item.
    pub frame_lengths: Vec<usize>,
    /// Frame mask `(B, T)` (u8, 1 = valid) when an attention mask was given.
    pub frame_mask: Option<Tensor>,
}

/// A loaded encoder of any supported family, with its CTC head if the checkpoint has one.
///
/// The same type serves wav2vec 2.0 (base and stable-LN), HuBERT, WavLM and data2vec-audio:
/// they share the pipeline and differ in the parts [`Config`] selects.
#[derive(Debug, Clone)]
pub struct SslModel {
    spec: Spec,
    engine: Engine,
    device: Device,
    dtype: DType,
}

/// Alias matching the transformers class name; every family shares [`SslModel`].
pub type Wav2Vec2Model = SslModel;
/// Alias matching the transformers class name.
pub type HubertModel = SslModel;
/// Alias matching the transformers class name.
pub type WavLmModel = SslModel;
/// Alias matching the transformers class name.
pub type Data2VecAudioModel = SslModel;

/// Output frames of the conv stack for `samples` input samples (`floor((n − k)/s) + 1` per
/// layer), or 0 when the input is shorter than the receptive field.
pub fn frames_for(samples: usize, kernels: &[usize], strides: &[usize]) -> usize {
    let mut n = samples;
    for (&k, &s) in kernels.iter().zip(strides) {
        if n < k || s == 0 {
            return 0;
        }
        n = (n - k) / s + 1;
    }
    n
}

impl SslModel {
    /// Builds the model from a VarBuilder over the checkpoint's keys. The base prefix
    /// (`wav2vec2.`, `hubert.`, `wavlm.`, `data2vec_audio.` or none) is probed, and a CTC head
    /// is loaded when `architectures` names a `*ForCTC` class.
    ///
    /// Prefer [`crate::Pretrained`] or [`SslModel::from_checkpoint`], which also report
    /// unexpected keys; with a plain VarBuilder, missing keys fail at the first one.
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        Self::load_with(vb, cfg, EngineKind::Auto)
    }

    /// [`SslModel::load`] with a chosen engine (see [`EngineKind`]).
    pub fn load_with(vb: VarBuilder, cfg: &Config, engine: EngineKind) -> Result<Self> {
        let spec = cfg.spec()?;
        let prefix = spec.family.head_prefix();
        let base = if vb.contains_tensor(&format!(
            "{prefix}.feature_extractor.conv_layers.0.conv.weight"
        )) {
            vb.pp(prefix)
        } else {
            vb.clone()
        };
        let (device, dtype) = (vb.device().clone(), vb.dtype());
        let use_cpu = use_cpu_engine(&spec, &device, dtype, engine)?;
        tracing::debug!(cpu_engine = use_cpu, "voxprobe-ssl engine");
        let engine = if use_cpu {
            Engine::Cpu(Box::new(cpu::Plan::load(&base, &vb, &spec, cfg.is_ctc())?))
        } else {
            Engine::Candle(Box::new(graph::Graph::load(base, vb, &spec, cfg.is_ctc())?))
        };
        Ok(Self {
            spec,
            engine,
            device,
            dtype,
        })
    }

    /// Builds the model from checkpoint tensors, reporting every missing, unexpected and
    /// mis-shaped key in one [`Error::Checkpoint`].
    pub fn from_checkpoint(
        ckpt: crate::weights::Checkpoint,
        cfg: &Config,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        Self::from_checkpoint_with(ckpt, cfg, dtype, device, EngineKind::Auto)
    }

    /// [`SslModel::from_checkpoint`] with a chosen engine (see [`EngineKind`]).
    pub fn from_checkpoint_with(
        ckpt: crate::weights::Checkpoint,
        cfg: &Config,
        dtype: DType,
        device: &Device,
        engine: EngineKind,
    ) -> Result<Self> {
        // refuse an impossible engine choice before any key is read
        use_cpu_engine(&cfg.spec()?, device, dtype, engine)?;
        let (vb, rec) = crate::weights::recording_var_builder(ckpt, dtype, device);
        let model = Self::load_with(vb.clone(), cfg, engine);
        let prefix = cfg.family().head_prefix();
        rec.finish(|k| is_ignorable(k, prefix))?;
        model
    }

    /// The family.
    pub fn family(&self) -> Family {
        self.spec.family
    }
    /// Number of encoder layers L (hidden states are 0..=L).
    pub fn num_layers(&self) -> usize {
        self.spec.layers
    }
    /// Hidden size H.
    pub fn hidden_size(&self) -> usize {
        self.spec.hidden
    }
    /// Whether the model has a CTC head.
    pub fn has_ctc_head(&self) -> bool {
        match &self.engine {
            Engine::Candle(g) => g.has_ctc_head(),
            Engine::Cpu(p) => p.has_ctc_head(),
        }
    }
    /// The engine this model runs on: [`EngineKind::Candle`] or [`EngineKind::Cpu`].
    pub fn engine(&self) -> EngineKind {
        match &self.engine {
            Engine::Candle(_) => EngineKind::Candle,
            Engine::Cpu(_) => EngineKind::Cpu,
        }
    }
    /// Whether the encoder is pre-LN ("stable layer norm").
    pub fn is_stable_layer_norm(&self) -> bool {
        self.spec.stable
    }
    /// Whether the conv front end uses GroupNorm (`feat_extract_norm = "group"`), whose statistics
    /// span padding: batched results then differ from one-by-one inference.
    pub fn uses_group_norm(&self) -> bool {
        self.spec.feat_norm == FeatNorm::Group
    }
    /// Whether padded, masked batches reproduce one-by-one inference (layer-norm front end and
    /// a single positional conv; see the crate README).
    pub fn batching_is_exact(&self) -> bool {
        self.spec.feat_norm == FeatNorm::Layer
            && !matches!(self.spec.pos, PosConvKind::Stacked { .. })
    }
    /// Device of the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// Weight dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Samples per frame (product of the conv strides, 320 in every released model).
    pub fn hop_length(&self) -> usize {
        self.spec.conv_stride.iter().product()
    }
    /// Receptive field of one frame in samples (400 in every released model).
    pub fn receptive_field(&self) -> usize {
        let mut rf = 1;
        for (&k, &s) in self
            .spec
            .conv_kernel
            .iter()
            .zip(&self.spec.conv_stride)
            .rev()
        {
            rf = (rf - 1) * s + k;
        }
        rf
    }
    /// Output frames for `samples` input samples.
    pub fn frames_for(&self, samples: usize) -> usize {
        frames_for(samples, &self.spec.conv_kernel, &self.spec.conv_stride)
    }

    /// Runs the model on normalised `input_values` `(B, N)` (or `(N)`), with an optional
    /// right-padding sample mask `(B, N)` (any dtype, nonzero = valid).
    pub fn forward(
        &self,
        input_values: &Tensor,
        attention_mask: Option<&Tensor>,
        opts: &ForwardOptions,
    ) -> Result<SslOutput> {
        let x = match input_values.rank() {
            1 => input_values.unsqueeze(0)?,
            2 => input_values.clone(),
            r => {
                return Err(Error::InvalidInput {
                    reason: format!("input_values must be (B, N) or (N), got rank {r}"),
                })
            }
        };
        let (b, n) = x.dims2()?;
        if b == 0 || n == 0 {
            return Err(Error::InvalidInput {
                reason: "empty input".into(),
            });
        }
        let t = self.frames_for(n);
        if t == 0 {
            return Err(Error::InputTooShort {
                samples: n,
                min_samples: self.receptive_field(),
            });
        }
        if let LayerSelection::Some(v) = &opts.hidden_states {
            if let Some(&bad) = v.iter().find(|&&i| i > self.spec.layers) {
                return Err(Error::LayerOutOfRange {
                    layer: bad,
                    max: self.spec.layers,
                });
            }
        }
        let (frame_lengths, frame_mask) = match attention_mask {
            Some(m) => {
                if m.dims() != [b, n] {
                    return Err(Error::ShapeMismatch {
                        what: "attention_mask".into(),
                        expected: vec![b, n],
                        actual: m.dims().to_vec(),
                    });
                }
                let lens: Vec<f32> = m.ne(0u32)?.to_dtype(DType::F32)?.sum(1)?.to_vec1::<f32>()?;
                let mut frame_lengths = Vec::with_capacity(b);
                let mut mask = Vec::with_capacity(b * t);
                for &l in &lens {
                    let l = l as usize;
                    let f = self.frames_for(l);
                    if f == 0 {
                        return Err(Error::InputTooShort {
                            samples: l,
                            min_samples: self.receptive_field(),
                        });
                    }
                    frame_lengths.push(f);
                    mask.extend((0..t).map(|i| u8::from(i < f)));
                }
                let mask = Tensor::from_vec(mask, (b, t), &self.device)?;
                (frame_lengths, Some(mask))
            }
            None => (vec![t; b], None),
        };
        let mut hidden = BTreeMap::new();
        let out = match &self.engine {
            Engine::Candle(g) => {
                let x = x.to_device(&self.device)?.to_dtype(self.dtype)?;
                g.forward(&x, frame_mask.as_ref(), opts, &mut hidden)?
            }
            Engine::Cpu(p) => {
                let input = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                p.forward(
                    &input,
                    b,
                    n,
                    t,
                    &frame_lengths,
                    frame_mask.is_some(),
                    opts,
                    &mut hidden,
                )?
            }
        };
        Ok(SslOutput {
            last_hidden_state: out.last,
            hidden_states: hidden,
            logits: out.logits,
            conv_features: out.conv,
            projected_features: out.proj,
            frame_lengths,
            frame_mask,
        })
    }
}

/// Keys a checkpoint may carry that inference does not use: training-only parameters and heads
/// this crate does not implement (pre-training quantizer, sequence/frame classification, x-vector).
fn is_ignorable(key: &str, prefix: &str) -> bool {
    let k = key
        .strip_prefix(prefix)
        .and_then(|k| k.strip_prefix('.'))
        .unwrap_or(key);
    k == "masked_spec_embed"
        || k.ends_with("num_batches_tracked")
        || [
            "quantizer.",
            "project_hid.",
            "project_q.",
            "projector.",
            "classifier.",
            "tdnn.",
            "objective.",
            "layer_weights",
        ]
        .iter()
        .any(|p| key.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_counts_match_the_spec() {
        let k = [10, 3, 3, 3, 3, 2, 2];
        let s = [5, 2, 2, 2, 2, 2, 2];
        assert_eq!(frames_for(16_000, &k, &s), 49);
        assert_eq!(frames_for(11_237, &k, &s), 34);
        assert_eq!(frames_for(160_000, &k, &s), 499);
        assert_eq!(frames_for(480_000, &k, &s), 1_499);
        assert_eq!(frames_for(400, &k, &s), 1);
        assert_eq!(frames_for(399, &k, &s), 0);
    }

    #[test]
    fn wavlm_buckets_default_geometry() {
        // exact below 80, log-spaced up to 159, +160 for positive offsets
        assert_eq!(wavlm_bucket(0, 320, 800), 0);
        assert_eq!(wavlm_bucket(-79, 320, 800), 79);
        assert_eq!(wavlm_bucket(79, 320, 800), 239);
        assert_eq!(wavlm_bucket(-100_000, 320, 800), 159);
        assert_eq!(wavlm_bucket(100_000, 320, 800), 319);
    }
}
