//! The reference engine: the encoder as a candle graph, for every device and dtype.
//!
//! Written the way candle-transformers writes a model (`whisper/model.rs`): plain structs
//! holding candle layers, `load(vb, &spec)` walking the checkpoint's keys with `vb.pp(..)`, and
//! `forward`. Nothing here knows about the CPU engine (`super::cpu`), which is a separate twin
//! built from the same checkpoint; the two share only the validated [`Spec`].
//!
//! Reference: transformers 5.23.0,
//! <https://github.com/huggingface/transformers/blob/v5.23.0/src/transformers/models/wav2vec2/modeling_wav2vec2.py>
//! (and `hubert/modular_hubert.py`, `wavlm/modular_wavlm.py`,
//! `data2vec/modular_data2vec_audio.py`).

use super::{
    wavlm_bucket, ForwardOptions, LayerSelection, BATCH_NORM_EPS, CONV_NORM_EPS, MASK_NEG,
};
use crate::config::{Family, FeatNorm, PosConvKind, Spec};
use crate::error::Result;
use candle_core::{DType, Module, Tensor, D};
use candle_nn::{GroupNorm, LayerNorm, Linear, VarBuilder};
use std::collections::BTreeMap;

/// Norm after a conv of the feature encoder.
#[derive(Debug, Clone)]
enum ConvNorm {
    None,
    Group(GroupNorm),
    Layer(LayerNorm),
}

/// `Wav2Vec2{No,Layer,Group}NormConvLayer`.
#[derive(Debug, Clone)]
struct ConvLayer {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    norm: ConvNorm,
}

/// `Wav2Vec2FeatureEncoder` (`feature_extractor.conv_layers.*`).
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
                    ConvNorm::Group(GroupNorm::new(w, b, out, out, CONV_NORM_EPS)?)
                }
                (FeatNorm::Group, _) => ConvNorm::None,
                (FeatNorm::Layer, _) => ConvNorm::Layer(candle_nn::layer_norm(
                    out,
                    CONV_NORM_EPS,
                    vbi.pp("layer_norm"),
                )?),
            };
            layers.push(ConvLayer {
                weight,
                bias,
                stride,
                norm,
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
                ConvNorm::Group(g) => g.forward(&x)?,
                ConvNorm::Layer(ln) => ln
                    .forward(&x.transpose(1, 2)?.contiguous()?)?
                    .transpose(1, 2)?,
            };
            x = self.act.forward(&x)?;
        }
        Ok(x.transpose(1, 2)?.contiguous()?)
    }
}

/// `Wav2Vec2FeatureProjection` (`feature_projection.*`).
#[derive(Debug, Clone)]
struct FeatureProjection {
    layer_norm: Option<LayerNorm>,
    projection: Linear,
}

impl FeatureProjection {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let c = s.conv_dim.last().copied().unwrap_or(0);
        let layer_norm = if s.feat_proj_ln {
            Some(candle_nn::layer_norm(c, s.eps, vb.pp("layer_norm"))?)
        } else {
            None
        };
        let projection = candle_nn::linear(c, s.hidden, vb.pp("projection"))?;
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
    let (g_name, v_name) = super::weight_norm_keys(vb);
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

/// One grouped positional conv.
#[derive(Debug, Clone)]
struct PosConv {
    weight: Tensor,
    bias: Tensor,
    k: usize,
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

/// HuBERT's eval-mode BatchNorm1d folded into one scale and shift per channel, `(1, H, 1)`.
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

/// `Wav2Vec2PositionalConvEmbedding` / HuBERT's / `Data2VecAudioPositionalConvEmbedding`.
#[derive(Debug, Clone)]
struct PositionalEmbedding {
    kind: PosEmbed,
    groups: usize,
    act: candle_nn::Activation,
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
                PosEmbed::Single(PosConv { weight, bias, k }, None)
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
                let scale = w.div(&(var + BATCH_NORM_EPS)?.sqrt()?)?;
                let shift = b.sub(&mean.mul(&scale)?)?;
                PosEmbed::Single(
                    PosConv { weight, bias, k },
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
                    v.push(PosConv {
                        weight: cvb.get((h, h / g, k), "weight")?,
                        bias: cvb.get(h, "bias")?,
                        k,
                    });
                }
                PosEmbed::Stacked(v)
            }
        };
        Ok(Self {
            kind,
            groups: g,
            act: s.feat_act,
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
        Ok(y.transpose(1, 2)?)
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

/// WavLM's per-layer gate of the relative position bias (`gru_rel_pos_linear`,
/// `gru_rel_pos_const`).
#[derive(Debug, Clone)]
struct RelPosGate {
    linear: Linear,
    constant: Tensor,
}

/// `Wav2Vec2Attention` / `WavLMAttention` (`attention.*`).
#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
    gate: Option<RelPosGate>,
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
        Ok(Self {
            q: candle_nn::linear(h, h, vb.pp("q_proj"))?,
            k: candle_nn::linear(h, h, vb.pp("k_proj"))?,
            v: candle_nn::linear(h, h, vb.pp("v_proj"))?,
            out: candle_nn::linear(h, h, vb.pp("out_proj"))?,
            heads: s.heads,
            head_dim,
            gate,
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

/// `Wav2Vec2EncoderLayer` / `Wav2Vec2EncoderLayerStableLayerNorm` (`layers.{i}.*`).
#[derive(Debug, Clone)]
struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    final_layer_norm: LayerNorm,
    act: candle_nn::Activation,
    stable: bool,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, s: &Spec) -> Result<Self> {
        let ff = vb.pp("feed_forward");
        Ok(Self {
            attention: Attention::load(vb.pp("attention"), s)?,
            layer_norm: candle_nn::layer_norm(s.hidden, s.eps, vb.pp("layer_norm"))?,
            intermediate: candle_nn::linear(s.hidden, s.ffn, ff.pp("intermediate_dense"))?,
            output: candle_nn::linear(s.ffn, s.hidden, ff.pp("output_dense"))?,
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

/// WavLM's relative position embedding (`layers.0.attention.rel_attn_embed`) and its bucket
/// geometry.
#[derive(Debug, Clone)]
struct RelEmbed {
    weight: Tensor,
    buckets: usize,
    max_distance: usize,
}

/// `Wav2Vec2Encoder` / `Wav2Vec2EncoderStableLayerNorm` (`encoder.*`).
#[derive(Debug, Clone)]
struct Encoder {
    pos: PositionalEmbedding,
    layer_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    stable: bool,
    rel_embed: Option<RelEmbed>,
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
            Some((buckets, max_distance)) => Some(RelEmbed {
                weight: vb
                    .pp("layers")
                    .pp(0)
                    .pp("attention")
                    .pp("rel_attn_embed")
                    .get((buckets, s.heads), "weight")?,
                buckets,
                max_distance,
            }),
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
        let Some(re) = &self.rel_embed else {
            return Ok(None);
        };
        let mut idx = Vec::with_capacity(t * t);
        for i in 0..t {
            for j in 0..t {
                idx.push(wavlm_bucket(j as i64 - i as i64, re.buckets, re.max_distance) as u32);
            }
        }
        let idx = Tensor::from_vec(idx, t * t, re.weight.device())?;
        let heads = re.weight.dim(1)?;
        let bias = re
            .weight
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
        let mut x = {
            let _s = tracing::trace_span!("pos_conv").entered();
            (&x + self.pos.forward(&x)?)?
        };
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

/// The whole encoder as a candle graph, with the CTC head when the checkpoint has one.
#[derive(Debug, Clone)]
pub(super) struct Graph {
    feature_extractor: FeatureEncoder,
    feature_projection: FeatureProjection,
    encoder: Encoder,
    lm_head: Option<Linear>,
}

impl Graph {
    /// `base` is the encoder's root (after the family prefix), `root` the checkpoint's (for
    /// `lm_head`).
    pub(super) fn load(base: VarBuilder, root: VarBuilder, s: &Spec, ctc: bool) -> Result<Self> {
        let feature_extractor = FeatureEncoder::load(base.pp("feature_extractor"), s)?;
        let feature_projection = FeatureProjection::load(base.pp("feature_projection"), s)?;
        let encoder = Encoder::load(base.pp("encoder"), s)?;
        let lm_head = if ctc {
            Some(candle_nn::linear(
                s.hidden,
                s.vocab_size,
                root.pp("lm_head"),
            )?)
        } else {
            None
        };
        Ok(Self {
            feature_extractor,
            feature_projection,
            encoder,
            lm_head,
        })
    }

    pub(super) fn has_ctc_head(&self) -> bool {
        self.lm_head.is_some()
    }

    /// Runs the graph on `x` `(B, N)` (on the model's device and dtype).
    pub(super) fn forward(
        &self,
        x: &Tensor,
        frame_mask: Option<&Tensor>,
        opts: &ForwardOptions,
        hidden: &mut BTreeMap<usize, Tensor>,
    ) -> Result<super::EngineOutput> {
        let conv = {
            let _s = tracing::trace_span!("feature_extractor").entered();
            self.feature_extractor.forward(x)?
        };
        let proj = self.feature_projection.forward(&conv)?;
        let last = self
            .encoder
            .forward(&proj, frame_mask, &opts.hidden_states, hidden)?;
        let logits = match &self.lm_head {
            Some(h) => Some(h.forward(&last)?),
            None => None,
        };
        Ok(super::EngineOutput {
            conv: opts.intermediates.then_some(conv),
            proj: opts.intermediates.then_some(proj),
            last,
            logits,
        })
    }
}
