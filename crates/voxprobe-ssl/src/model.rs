//! The encoder shared by the four families, and the CTC head.
//!
//! Reference: transformers 5.23.0,
//! <https://github.com/huggingface/transformers/blob/v5.23.0/src/transformers/models/wav2vec2/modeling_wav2vec2.py>
//! (and `hubert/modular_hubert.py`, `wavlm/modular_wavlm.py`,
//! `data2vec/modular_data2vec_audio.py`). The families differ only in the pieces selected by
//! the config: the conv front-end norm, the positional embedding, the LayerNorm placement and
//! WavLM's gated relative position bias.

use crate::config::{Config, Family, FeatNorm, PosConvKind, Spec};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{GroupNorm, LayerNorm, Linear, VarBuilder};
use std::collections::BTreeMap;
use std::sync::Arc;

mod dense;
mod fast;

/// eps of the conv-stack LayerNorm/GroupNorm and of data2vec's positional LNs: fixed in
/// transformers, independent of `layer_norm_eps`.
const CONV_NORM_EPS: f64 = 1e-5;
/// eps of HuBERT's positional BatchNorm1d (torch default).
const BATCH_NORM_EPS: f64 = 1e-5;
/// Additive value for padded keys; finite so that half precision saturates to -inf cleanly.
const MASK_NEG: f32 = -1e9;

#[derive(Debug, Clone)]
enum ConvNorm {
    None,
    /// candle's GroupNorm (device-generic path) and its weight and bias (fast CPU path).
    Group(GroupNorm, Tensor, Tensor),
    Layer(LayerNorm),
}

#[derive(Debug, Clone)]
struct ConvLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    norm: ConvNorm,
    /// CPU f32 only: the weight as `(K·C_in, C_out)` row-major with taps outer, so that a
    /// strided view of the time-major input is the im2col matrix (see `fast`).
    packed: Option<Arc<Vec<f32>>>,
}

#[derive(Debug, Clone)]
struct FeatureEncoder {
    layers: Vec<ConvLayer>,
    act: candle_nn::Activation,
}

impl FeatureEncoder {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let mut layers = Vec::with_capacity(s.conv_dim.len());
        let vb = vb.pp("conv_layers");
        for (i, ((&out, &k), &stride)) in s
            .conv_dim
            .iter()
            .zip(&s.conv_kernel)
            .zip(&s.conv_stride)
            .enumerate()
        {
            let inp = if i == 0 { 1 } else { s.conv_dim[i - 1] };
            let vbi = vb.pp(i);
            let weight = vbi.pp("conv").get((out, inp, k), "weight")?;
            let bias = if s.conv_bias {
                Some(vbi.pp("conv").get(out, "bias")?)
            } else {
                None
            };
            let norm = match (s.feat_norm, i) {
                (FeatNorm::Group, 0) => {
                    let gvb = vbi.pp("layer_norm");
                    let w = gvb.get(out, "weight")?;
                    let b = gvb.get(out, "bias")?;
                    let gn = GroupNorm::new(w.clone(), b.clone(), out, out, CONV_NORM_EPS)?;
                    ConvNorm::Group(gn, w, b)
                }
                (FeatNorm::Group, _) => ConvNorm::None,
                (FeatNorm::Layer, _) => ConvNorm::Layer(candle_nn::layer_norm(
                    out,
                    CONV_NORM_EPS,
                    vbi.pp("layer_norm"),
                )?),
            };
            let packed = fast::pack_conv(&weight, 1)?;
            layers.push(ConvLayer {
                weight,
                bias,
                stride,
                norm,
                packed,
            });
        }
        Ok(Self {
            layers,
            act: s.feat_act,
        })
    }

    /// (B, N) → (B, T, C)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.unsqueeze(1)?;
        for l in &self.layers {
            x = x.conv1d(&l.weight, 0, l.stride, 1, 1)?;
            if let Some(b) = &l.bias {
                x = x.broadcast_add(&b.reshape((1, (), 1))?)?;
            }
            x = match &l.norm {
                ConvNorm::None => x,
                ConvNorm::Group(g, _, _) => g.forward(&x)?,
                ConvNorm::Layer(ln) => ln
                    .forward(&x.transpose(1, 2)?.contiguous()?)?
                    .transpose(1, 2)?,
            };
            x = self.act.forward(&x)?;
        }
        Ok(x.transpose(1, 2)?.contiguous()?)
    }
}

#[derive(Debug, Clone)]
struct FeatureProjection {
    layer_norm: Option<LayerNorm>,
    projection: dense::Dense,
}

impl FeatureProjection {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let c = s.conv_dim.last().copied().unwrap_or(0);
        let layer_norm = if s.feat_proj_ln {
            Some(candle_nn::layer_norm(c, s.eps, vb.pp("layer_norm"))?)
        } else {
            None
        };
        let projection =
            dense::Dense::load(c, s.hidden, vb.pp("projection"), s.family != Family::WavLm)?;
        Ok(Self {
            layer_norm,
            projection,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = match &self.layer_norm {
            Some(ln) => ln.forward(x)?,
            None => x.clone(),
        };
        Ok(self.projection.forward(&x)?)
    }
}

/// Folds a weight-normed conv weight with the norm taken over dims 0 and 1, i.e. one norm
/// per kernel tap (`torch.nn.utils.weight_norm(conv, dim=2)`), accepting both key layouts.
fn weight_norm_dim2(vb: &VarBuilder, shape: (usize, usize, usize)) -> Result<Tensor> {
    let (g_name, v_name) = if vb.contains_tensor("weight_g") || vb.contains_tensor("weight_v") {
        ("weight_g", "weight_v")
    } else {
        (
            "parametrizations.weight.original0",
            "parametrizations.weight.original1",
        )
    };
    // Fold in f32 whatever the model dtype: the norm over H·H/G values loses precision in f16.
    let g = vb.get_with_hints_dtype(
        (1, 1, shape.2),
        g_name,
        candle_nn::Init::Const(0.),
        DType::F32,
    )?;
    let v = vb.get_with_hints_dtype(shape, v_name, candle_nn::Init::Const(0.), DType::F32)?;
    let norm = v.sqr()?.sum_keepdim(0)?.sum_keepdim(1)?.sqrt()?;
    let w = v.broadcast_mul(&g.broadcast_div(&norm)?)?;
    Ok(w.to_dtype(vb.dtype())?)
}

#[derive(Debug, Clone)]
struct PosConv {
    weight: Tensor,
    bias: Tensor,
    k: usize,
    /// CPU f32 only: per group, the weight as `(K·C_in/G, C_out/G)` row-major, taps outer.
    packed: Option<Arc<Vec<f32>>>,
}

impl PosConv {
    fn new(weight: Tensor, bias: Tensor, k: usize, groups: usize) -> Result<Self> {
        let packed = fast::pack_conv(&weight, groups)?;
        Ok(Self {
            weight,
            bias,
            k,
            packed,
        })
    }
}

impl PosConv {
    /// (B, H, T) → (B, H, T): grouped conv with ⌊K/2⌋ padding, dropping the extra frame
    /// produced by an even kernel (HF's `SamePad` layer).
    fn forward(&self, x: &Tensor, groups: usize) -> Result<Tensor> {
        let t = x.dim(2)?;
        let y = x.conv1d(&self.weight, self.k / 2, 1, 1, groups)?;
        let y = y.broadcast_add(&self.bias.reshape((1, (), 1))?)?;
        Ok(if self.k.is_multiple_of(2) {
            y.narrow(2, 0, t)?
        } else {
            y
        })
    }
}

#[derive(Debug, Clone)]
struct BatchNorm {
    scale: Tensor,
    shift: Tensor,
}

#[derive(Debug, Clone)]
enum PosEmbed {
    Single(PosConv, Option<BatchNorm>),
    Stacked(Vec<PosConv>),
}

#[derive(Debug, Clone)]
struct PositionalEmbedding {
    kind: PosEmbed,
    groups: usize,
    act: candle_nn::Activation,
    hidden: usize,
}

impl PositionalEmbedding {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let h = s.hidden;
        let g = s.pos_groups;
        let kind = match s.pos {
            PosConvKind::WeightNorm { k } => {
                let cvb = vb.pp("conv");
                let weight = weight_norm_dim2(&cvb, (h, h / g, k))?;
                let bias = cvb.get(h, "bias")?;
                PosEmbed::Single(PosConv::new(weight, bias, k, g)?, None)
            }
            PosConvKind::BatchNorm { k } => {
                let cvb = vb.pp("conv");
                let weight = cvb.get((h, h / g, k), "weight")?;
                let bias = cvb.get(h, "bias")?;
                let bvb = vb.pp("batch_norm");
                let w = bvb.get(h, "weight")?;
                let b = bvb.get(h, "bias")?;
                let mean = bvb.get(h, "running_mean")?;
                let var = bvb.get(h, "running_var")?;
                // eval-mode BatchNorm1d folded into one scale and shift per channel
                let scale = w.div(&(var + BATCH_NORM_EPS)?.sqrt()?)?;
                let shift = b.sub(&mean.mul(&scale)?)?;
                PosEmbed::Single(
                    PosConv::new(weight, bias, k, g)?,
                    Some(BatchNorm {
                        scale: scale.reshape((1, h, 1))?,
                        shift: shift.reshape((1, h, 1))?,
                    }),
                )
            }
            PosConvKind::Stacked { layers, k } => {
                let mut v = Vec::with_capacity(layers);
                for j in 0..layers {
                    let cvb = vb.pp("layers").pp(j).pp("conv");
                    v.push(PosConv::new(
                        cvb.get((h, h / g, k), "weight")?,
                        cvb.get(h, "bias")?,
                        k,
                        g,
                    )?);
                }
                PosEmbed::Stacked(v)
            }
        };
        Ok(Self {
            kind,
            groups: g,
            act: s.feat_act,
            hidden: h,
        })
    }

    /// (B, T, H) → (B, T, H)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let xt = x.transpose(1, 2)?.contiguous()?;
        let y = match &self.kind {
            PosEmbed::Single(conv, bn) => {
                let xt = match bn {
                    Some(bn) => xt.broadcast_mul(&bn.scale)?.broadcast_add(&bn.shift)?,
                    None => xt,
                };
                self.act.forward(&conv.forward(&xt, self.groups)?)?
            }
            PosEmbed::Stacked(convs) => {
                let mut y = xt;
                for conv in convs {
                    let z = conv
                        .forward(&y, self.groups)?
                        .transpose(1, 2)?
                        .contiguous()?;
                    // LayerNorm without affine parameters (elementwise_affine=False)
                    let z = layer_norm_plain(&z, CONV_NORM_EPS)?;
                    y = self.act.forward(&z)?.transpose(1, 2)?.contiguous()?;
                }
                y
            }
        };
        let y = y.transpose(1, 2)?;
        debug_assert_eq!(y.dim(2).unwrap_or(self.hidden), self.hidden);
        Ok(y)
    }
}

fn layer_norm_plain(x: &Tensor, eps: f64) -> Result<Tensor> {
    let dt = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(xc.broadcast_div(&(var + eps)?.sqrt()?)?.to_dtype(dt)?)
}

/// WavLM's gate parameters (every layer) and relative-position embedding (layer 0).
#[derive(Debug, Clone)]
struct RelPosGate {
    linear: Linear,
    constant: Tensor,
}

#[derive(Debug, Clone)]
struct Attention {
    q: dense::Dense,
    k: dense::Dense,
    v: dense::Dense,
    out: dense::Dense,
    heads: usize,
    head_dim: usize,
    gate: Option<RelPosGate>,
    /// CPU f32 only: Q, K and V as one bias-free layer whose weights `q`, `k` and `v` share,
    /// so that the fast path runs one GEMM for all three (see `dense::load_qkv`).
    qkv: Option<dense::Dense>,
}

impl Attention {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let h = s.hidden;
        let head_dim = h / s.heads;
        let gate = if s.family == Family::WavLm {
            Some(RelPosGate {
                linear: candle_nn::linear(head_dim, 8, vb.pp("gru_rel_pos_linear"))?,
                constant: vb.get((1, s.heads, 1, 1), "gru_rel_pos_const")?,
            })
        } else {
            None
        };
        let block = s.family != Family::WavLm;
        let ([q, k, v], qkv) = dense::load_qkv(h, &vb, block)?;
        Ok(Self {
            q,
            k,
            v,
            out: dense::Dense::load(h, h, vb.pp("out_proj"), block)?,
            heads: s.heads,
            head_dim,
            gate,
            qkv,
        })
    }

    fn split_heads(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        Ok(x.reshape((b, t, self.heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    /// `x` (B,T,H); `key_mask` additive (B,1,1,T); `rel_bias` (1,h,T,T) for WavLM.
    fn forward(
        &self,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        rel_bias: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t, hid) = x.dims3()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let q = (self.split_heads(&self.q.forward(x)?)? * scale)?;
        let k = self.split_heads(&self.k.forward(x)?)?;
        let v = self.split_heads(&self.v.forward(x)?)?;
        let mut scores = q.matmul(&k.t()?)?;
        if let (Some(gate), Some(bias)) = (&self.gate, rel_bias) {
            // Gate from the attention input, one scalar per (item, head, query).
            let xh = self.split_heads(x)?;
            let proj = gate.linear.forward(&xh)?; // (B,h,T,8)
            let sums = proj.reshape((b, self.heads, t, 2, 4))?.sum(D::Minus1)?;
            let sg = candle_nn::ops::sigmoid(&sums)?;
            let ga = sg.narrow(3, 0, 1)?;
            let gb = sg.narrow(3, 1, 1)?;
            let gate_out = ((ga * (gb.broadcast_mul(&gate.constant)? - 1.0)?)? + 2.0)?;
            scores = scores.broadcast_add(&gate_out.broadcast_mul(bias)?)?;
        }
        if let Some(m) = key_mask {
            scores = scores.broadcast_add(m)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, hid))?;
        Ok(self.out.forward(&ctx)?)
    }
}

#[derive(Debug, Clone)]
struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    intermediate: dense::Dense,
    output: dense::Dense,
    final_layer_norm: LayerNorm,
    act: candle_nn::Activation,
    stable: bool,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let ff = vb.pp("feed_forward");
        let block = s.family != Family::WavLm;
        Ok(Self {
            attention: Attention::load(vb.pp("attention"), s)?,
            layer_norm: candle_nn::layer_norm(s.hidden, s.eps, vb.pp("layer_norm"))?,
            intermediate: dense::Dense::load(s.hidden, s.ffn, ff.pp("intermediate_dense"), block)?,
            output: dense::Dense::load(s.ffn, s.hidden, ff.pp("output_dense"), block)?,
            final_layer_norm: candle_nn::layer_norm(s.hidden, s.eps, vb.pp("final_layer_norm"))?,
            act: s.hidden_act,
            stable: s.stable,
        })
    }

    fn ffn(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.act.forward(&self.intermediate.forward(x)?)?;
        Ok(self.output.forward(&h)?)
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>, bias: Option<&Tensor>) -> Result<Tensor> {
        if self.stable {
            let a = self
                .attention
                .forward(&self.layer_norm.forward(x)?, mask, bias)?;
            let x = (x + a)?;
            let f = self.ffn(&self.final_layer_norm.forward(&x)?)?;
            Ok((x + f)?)
        } else {
            let a = self.attention.forward(x, mask, bias)?;
            let x = self.layer_norm.forward(&(x + a)?)?;
            let f = self.ffn(&x)?;
            Ok(self.final_layer_norm.forward(&(x + f)?)?)
        }
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

#[derive(Debug, Clone)]
struct Encoder {
    pos: PositionalEmbedding,
    layer_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    stable: bool,
    rel_embed: Option<(Tensor, usize, usize)>,
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

impl Encoder {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let pos = PositionalEmbedding::load(vb.pp("pos_conv_embed"), s)?;
        let layer_norm = candle_nn::layer_norm(s.hidden, s.eps, vb.pp("layer_norm"))?;
        let mut layers = Vec::with_capacity(s.layers);
        for i in 0..s.layers {
            layers.push(EncoderLayer::load(vb.pp("layers").pp(i), s)?);
        }
        let rel_embed = match s.buckets {
            Some((nb, md)) => Some((
                vb.pp("layers")
                    .pp(0)
                    .pp("attention")
                    .pp("rel_attn_embed")
                    .get((nb, s.heads), "weight")?,
                nb,
                md,
            )),
            None => None,
        };
        Ok(Self {
            pos,
            layer_norm,
            layers,
            stable: s.stable,
            rel_embed,
        })
    }

    /// WavLM base bias (1, h, T, T), computed once over the full padded length.
    fn rel_bias(&self, t: usize) -> Result<Option<Tensor>> {
        let Some((emb, nb, md)) = &self.rel_embed else {
            return Ok(None);
        };
        let mut idx = Vec::with_capacity(t * t);
        for i in 0..t {
            for j in 0..t {
                idx.push(wavlm_bucket(j as i64 - i as i64, *nb, *md) as u32);
            }
        }
        let idx = Tensor::from_vec(idx, t * t, emb.device())?;
        let heads = emb.dim(1)?;
        let bias = emb
            .index_select(&idx, 0)? // (T*T, h)
            .reshape((t, t, heads))?
            .permute((2, 0, 1))?
            .contiguous()?
            .unsqueeze(0)?;
        Ok(Some(bias))
    }

    fn forward(
        &self,
        x: &Tensor,
        frame_mask: Option<&Tensor>,
        sel: &LayerSelection,
        hidden: &mut BTreeMap<usize, Tensor>,
    ) -> Result<Tensor> {
        let (_, t, _) = x.dims3()?;
        let (x, key_mask) = match frame_mask {
            Some(m) => {
                // (B,T) 1/0 → zero padded frames, additive key mask (B,1,1,T)
                let mf = m.to_dtype(x.dtype())?;
                let x = x.broadcast_mul(&mf.unsqueeze(2)?)?;
                let neg = ((m.to_dtype(DType::F32)? - 1.0)? * (-(MASK_NEG as f64)))?
                    .to_dtype(x.dtype())?;
                (x, Some(neg.unsqueeze(1)?.unsqueeze(1)?))
            }
            None => (x.clone(), None),
        };
        let mut x = (&x + self.pos.forward(&x)?)?;
        if !self.stable {
            x = self.layer_norm.forward(&x)?;
        }
        let bias = self
            .rel_bias(t)?
            .map(|b| b.to_dtype(x.dtype()))
            .transpose()?;
        if sel.wants(0) {
            hidden.insert(0, x.clone());
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let _span = tracing::trace_span!("encoder_layer", i).entered();
            x = layer.forward(&x, key_mask.as_ref(), bias.as_ref())?;
            if sel.wants(i + 1) {
                hidden.insert(i + 1, x.clone());
            }
        }
        if self.stable {
            x = self.layer_norm.forward(&x)?;
        }
        Ok(x)
    }
}

/// Options of one forward pass.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ForwardOptions {
    /// Hidden states to keep. Default: [`LayerSelection::None`].
    pub hidden_states: LayerSelection,
    /// Keep `conv_features` and `projected_features`. Default: false.
    pub intermediates: bool,
    /// Run the device-generic candle graph even where the CPU f32 fast path applies (it is
    /// the path CUDA/Metal, f16/bf16 and WavLM always take). Default: false. Both paths are
    /// tested against transformers; the fast path is about 2.3× quicker on CPU (base, 10 s).
    pub generic_path: bool,
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
    /// Sets [`ForwardOptions::generic_path`].
    pub fn generic_path(mut self, on: bool) -> Self {
        self.generic_path = on;
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
    feature_extractor: FeatureEncoder,
    feature_projection: FeatureProjection,
    encoder: Encoder,
    lm_head: Option<Linear>,
    device: Device,
    dtype: DType,
    /// Conv-encoder buffers kept between CPU fast-path calls (shared by clones).
    pool: Arc<fast::BufPool>,
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
        let spec = cfg.spec()?;
        let prefix = spec.family.head_prefix();
        let base = if vb.contains_tensor(&format!(
            "{prefix}.feature_extractor.conv_layers.0.conv.weight"
        )) {
            vb.pp(prefix)
        } else {
            vb.clone()
        };
        let feature_extractor = FeatureEncoder::load(base.pp("feature_extractor"), &spec)?;
        let feature_projection = FeatureProjection::load(base.pp("feature_projection"), &spec)?;
        let encoder = Encoder::load(base.pp("encoder"), &spec)?;
        let lm_head = if cfg.is_ctc() {
            Some(candle_nn::linear(
                spec.hidden,
                spec.vocab_size,
                vb.pp("lm_head"),
            )?)
        } else {
            None
        };
        Ok(Self {
            spec,
            feature_extractor,
            feature_projection,
            encoder,
            lm_head,
            device: vb.device().clone(),
            dtype: vb.dtype(),
            pool: Arc::default(),
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
        let (vb, rec) = crate::weights::recording_var_builder(ckpt, dtype, device);
        let model = Self::load(vb.clone(), cfg);
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
        self.lm_head.is_some()
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
        let x = x.to_device(&self.device)?.to_dtype(self.dtype)?;
        let mut hidden = BTreeMap::new();
        if !opts.generic_path && fast::supported(self) {
            let (conv, proj, last) = fast::forward(
                self,
                &x,
                &frame_lengths,
                frame_mask.is_some(),
                opts,
                &mut hidden,
            )?;
            let logits = match &self.lm_head {
                Some(h) => Some(h.forward(&last)?),
                None => None,
            };
            return Ok(SslOutput {
                last_hidden_state: last,
                hidden_states: hidden,
                logits,
                conv_features: conv,
                projected_features: proj,
                frame_lengths,
                frame_mask,
            });
        }
        let conv = {
            let _s = tracing::trace_span!("feature_extractor").entered();
            self.feature_extractor.forward(&x)?
        };
        let proj = self.feature_projection.forward(&conv)?;
        let last =
            self.encoder
                .forward(&proj, frame_mask.as_ref(), &opts.hidden_states, &mut hidden)?;
        let logits = match &self.lm_head {
            Some(h) => Some(h.forward(&last)?),
            None => None,
        };
        Ok(SslOutput {
            last_hidden_state: last,
            hidden_states: hidden,
            logits,
            conv_features: opts.intermediates.then_some(conv),
            projected_features: opts.intermediates.then_some(proj),
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
