//! The CPU engine: a self-contained f32 plan of the encoder, built from the checkpoint with
//! its own structs and packed weights, run on time-major `(T, C)` slices with GEMMs from the
//! `gemm` crate and fused element-wise passes (`crate::kernels`).
//!
//! It is a twin of the candle graph (`super::graph`), as candle-transformers keeps
//! `quantized_model.rs` beside `model.rs`: it reads the same checkpoint keys itself and shares
//! only the validated [`Spec`] (and the small numeric facts in `super`), so either engine can
//! change a layer without the other. Both are tested against the transformers fixtures.
//!
//! Where the time goes: GEMMs are ~90% of a 10 s forward pass, so the rest is about feeding
//! them well:
//! - **Weight layout, once at load** (`dense`, `conv`): Linear weights in contiguous
//!   64-column blocks of `Wᵀ`, Q/K/V fused into one `(3H)` layer, conv weights as row-major
//!   `(K·C_in, C_out)`. No per-call transposition or re-packing of weights.
//! - **Conv feature encoder** (~1/3 of the FLOPs) and **positional conv**: see `conv`.
//! - **Attention**, WavLM's gated relative position bias included: see `attention`.
//! - Residual adds are fused into GEMM accumulation; bias adds into LayerNorm or GELU passes.
//!
//! Stage timings: every stage runs in a `tracing` TRACE span (`feature_extractor`,
//! `conv_layer`, `projection`, `pos_conv`, `encoder_layer`, `qkv_proj`,
//! `scores_softmax_ctx`, `ffn`), so a subscriber (e.g. a Chrome-trace layer) profiles it.

mod attention;
mod conv;
mod dense;

use super::{ForwardOptions, LayerSelection, MASK_NEG};
use crate::config::Spec;
use crate::error::{Error, Result};
use crate::kernels;
use attention::{Attention, RelPos};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::VarBuilder;
use conv::{BufPool, ConvStack, PosEmbed};
use dense::Dense;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Reads one checkpoint tensor of the given shape as f32 values (row-major).
fn read_f32<S: Into<Shape>>(vb: &VarBuilder, shape: S, name: &str) -> Result<Vec<f32>> {
    Ok(vb
        .get(shape, name)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

/// An affine LayerNorm's parameters.
#[derive(Debug, Clone)]
struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(vb: &VarBuilder, n: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            w: read_f32(vb, n, "weight")?,
            b: read_f32(vb, n, "bias")?,
            eps: eps as f32,
        })
    }

    /// In-place LayerNorm over rows of `x`, adding `add` (a fused Linear bias) first.
    fn apply(&self, x: &mut [f32], row: usize, add: &[f32], threads: usize) {
        kernels::layer_norm(x, row, add, &self.w, &self.b, self.eps, threads);
    }
}

/// One encoder layer (`encoder.layers.{i}.*`).
#[derive(Debug, Clone)]
struct Layer {
    attention: Attention,
    layer_norm: Norm,
    intermediate: Dense,
    output: Dense,
    final_layer_norm: Norm,
}

impl Layer {
    fn load(vb: &VarBuilder, s: &Spec) -> Result<Self> {
        let ff = vb.pp("feed_forward");
        Ok(Self {
            attention: Attention::load(&vb.pp("attention"), s)?,
            layer_norm: Norm::load(&vb.pp("layer_norm"), s.hidden, s.eps)?,
            intermediate: Dense::load(&ff.pp("intermediate_dense"), s.hidden, s.ffn)?,
            output: Dense::load(&ff.pp("output_dense"), s.ffn, s.hidden)?,
            final_layer_norm: Norm::load(&vb.pp("final_layer_norm"), s.hidden, s.eps)?,
        })
    }

    /// `s.ff = gelu(s.tmp · Wiᵀ + bi)`.
    fn ffn_in(&self, s: &mut Scratch, rows: usize, threads: usize) -> Result<()> {
        let f = self.intermediate.out;
        self.intermediate
            .matmul_nobias(&mut s.ff, f, &s.tmp, rows, false, threads)?;
        kernels::bias_gelu(&mut s.ff, &self.intermediate.bias, f, threads);
        Ok(())
    }

    /// One layer on `x` `(B·T, H)` in place.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        x: &mut [f32],
        s: &mut Scratch,
        b: usize,
        t: usize,
        key_masks: &[Vec<f32>],
        rel: Option<&[f32]>,
        stable: bool,
        threads: usize,
    ) -> Result<()> {
        let h = self.layer_norm.w.len();
        let rows = b * t;
        let att = &self.attention;
        if stable {
            // pre-LN: x += attn(LN1(x)); x += ffn(LN2(x))
            s.tmp.copy_from_slice(x);
            self.layer_norm.apply(&mut s.tmp, h, &[], threads);
            att.forward(s, b, t, key_masks, rel, threads)?;
            att.out.matmul_nobias(x, h, &s.ctx, rows, true, threads)?;
            kernels::add_rows(x, &att.out.bias, threads);
            s.tmp.copy_from_slice(x);
            self.final_layer_norm.apply(&mut s.tmp, h, &[], threads);
            let _f = tracing::trace_span!("ffn").entered();
            self.ffn_in(s, rows, threads)?;
            self.output
                .matmul_nobias(x, h, &s.ff, rows, true, threads)?;
            kernels::add_rows(x, &self.output.bias, threads);
        } else {
            // post-LN: x = LN1(x + attn(x)); x = LN2(x + ffn(x))
            s.tmp.copy_from_slice(x);
            att.forward(s, b, t, key_masks, rel, threads)?;
            att.out.matmul_nobias(x, h, &s.ctx, rows, true, threads)?;
            self.layer_norm.apply(x, h, &att.out.bias, threads);
            s.tmp.copy_from_slice(x);
            let _f = tracing::trace_span!("ffn").entered();
            self.ffn_in(s, rows, threads)?;
            self.output
                .matmul_nobias(x, h, &s.ff, rows, true, threads)?;
            self.final_layer_norm
                .apply(x, h, &self.output.bias, threads);
        }
        Ok(())
    }
}

/// Scratch buffers reused by every layer.
struct Scratch {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    heads: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
}

/// The CPU engine's whole model, CTC head included when the checkpoint has one.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    conv: ConvStack,
    /// Output channels C of the conv stack.
    conv_dim: usize,
    proj_ln: Option<Norm>,
    projection: Dense,
    pos: PosEmbed,
    layer_norm: Norm,
    layers: Vec<Layer>,
    rel: Option<RelPos>,
    lm_head: Option<Dense>,
    hidden: usize,
    ffn: usize,
    stable: bool,
    /// Conv-encoder buffers kept between calls (shared by clones).
    pool: Arc<BufPool>,
}

impl Plan {
    /// Reads and packs every weight. `base` is the encoder's root (after the family
    /// prefix), `root` the checkpoint's (for `lm_head`). The checkpoint must be f32 on CPU.
    pub(super) fn load(base: &VarBuilder, root: &VarBuilder, s: &Spec, ctc: bool) -> Result<Self> {
        let fe = base.pp("feature_extractor");
        let fp = base.pp("feature_projection");
        let enc = base.pp("encoder");
        let c = s.conv_dim.last().copied().unwrap_or(0);
        let proj_ln = if s.feat_proj_ln {
            Some(Norm::load(&fp.pp("layer_norm"), c, s.eps)?)
        } else {
            None
        };
        let mut layers = Vec::with_capacity(s.layers);
        for i in 0..s.layers {
            layers.push(Layer::load(&enc.pp("layers").pp(i), s)?);
        }
        let lm_head = if ctc {
            Some(Dense::load(&root.pp("lm_head"), s.hidden, s.vocab_size)?)
        } else {
            None
        };
        Ok(Self {
            conv: ConvStack::load(&fe, s)?,
            conv_dim: c,
            proj_ln,
            projection: Dense::load(&fp.pp("projection"), c, s.hidden)?,
            pos: PosEmbed::load(&enc.pp("pos_conv_embed"), s)?,
            layer_norm: Norm::load(&enc.pp("layer_norm"), s.hidden, s.eps)?,
            layers,
            rel: RelPos::load(&enc, s)?,
            lm_head,
            hidden: s.hidden,
            ffn: s.ffn,
            stable: s.stable,
            pool: Arc::default(),
        })
    }

    pub(super) fn has_ctc_head(&self) -> bool {
        self.lm_head.is_some()
    }

    /// Runs the plan on `input` `(B, N)` row-major; `t` frames per item, `lens` valid
    /// frames per item (a key mask is applied when `masked`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &self,
        input: &[f32],
        b: usize,
        n: usize,
        t: usize,
        lens: &[usize],
        masked: bool,
        opts: &ForwardOptions,
        hidden: &mut BTreeMap<usize, Tensor>,
    ) -> Result<super::EngineOutput> {
        let threads = match opts.threads {
            0 => rayon::current_num_threads(),
            n => n,
        };
        let (c, h) = (self.conv_dim, self.hidden);
        let rows = b * t;
        let dev = Device::Cpu;
        let mut feats = Vec::with_capacity(rows * c);
        {
            let _s = tracing::trace_span!("feature_extractor").entered();
            for i in 0..b {
                let f = self
                    .conv
                    .forward(&input[i * n..(i + 1) * n], &self.pool, threads)?;
                feats.extend_from_slice(&f);
                self.pool.give(f);
            }
        }
        if feats.len() != rows * c {
            return Err(Error::Internal {
                reason: format!(
                    "conv stack gave {} values, expected {}",
                    feats.len(),
                    rows * c
                ),
            });
        }
        let conv_t = if opts.intermediates {
            Some(Tensor::from_slice(&feats, (b, t, c), &dev)?)
        } else {
            None
        };
        let mut xs = vec![0f32; rows * h];
        {
            let _s = tracing::trace_span!("projection").entered();
            if let Some(ln) = &self.proj_ln {
                ln.apply(&mut feats, c, &[], threads);
            }
            self.projection
                .matmul_nobias(&mut xs, h, &feats, rows, false, threads)?;
            drop(feats);
            kernels::add_rows(&mut xs, &self.projection.bias, threads);
        }
        let proj_t = if opts.intermediates {
            Some(Tensor::from_slice(&xs, (b, t, h), &dev)?)
        } else {
            None
        };
        let key_masks: Vec<Vec<f32>> = if masked {
            for (i, &l) in lens.iter().enumerate() {
                xs[(i * t + l.min(t)) * h..(i + 1) * t * h].fill(0.0);
            }
            lens.iter()
                .map(|&l| (0..t).map(|j| if j < l { 0.0 } else { MASK_NEG }).collect())
                .collect()
        } else {
            vec![Vec::new(); b]
        };
        self.encoder(
            &mut xs,
            b,
            t,
            &key_masks,
            &opts.hidden_states,
            hidden,
            threads,
        )?;
        let logits = match &self.lm_head {
            Some(head) => {
                let v = head.out;
                let mut lg = vec![0f32; rows * v];
                head.matmul_nobias(&mut lg, v, &xs, rows, false, threads)?;
                kernels::add_rows(&mut lg, &head.bias, threads);
                Some(Tensor::from_vec(lg, (b, t, v), &dev)?)
            }
            None => None,
        };
        Ok(super::EngineOutput {
            conv: conv_t,
            proj: proj_t,
            last: Tensor::from_vec(xs, (b, t, h), &dev)?,
            logits,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn encoder(
        &self,
        x: &mut [f32],
        b: usize,
        t: usize,
        key_masks: &[Vec<f32>],
        sel: &LayerSelection,
        hidden: &mut BTreeMap<usize, Tensor>,
        threads: usize,
    ) -> Result<()> {
        let h = self.hidden;
        let rows = b * t;
        {
            let _s = tracing::trace_span!("pos_conv").entered();
            self.pos.add_to(x, b, t, threads)?;
            if !self.stable {
                self.layer_norm.apply(x, h, &[], threads);
            }
        }
        let dev = Device::Cpu;
        if sel.wants(0) {
            hidden.insert(0, Tensor::from_slice(x, (b, t, h), &dev)?);
        }
        let tables = self.rel.as_ref().map(|r| r.tables(t));
        let mut s = Scratch {
            qkv: vec![0f32; rows * 3 * h],
            ctx: vec![0f32; rows * h],
            heads: vec![0f32; rows * h],
            tmp: vec![0f32; rows * h],
            ff: vec![0f32; rows * self.ffn],
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let _span = tracing::trace_span!("encoder_layer", i).entered();
            layer.forward(
                x,
                &mut s,
                b,
                t,
                key_masks,
                tables.as_deref(),
                self.stable,
                threads,
            )?;
            if sel.wants(i + 1) {
                hidden.insert(i + 1, Tensor::from_slice(x, (b, t, h), &dev)?);
            }
        }
        if self.stable {
            self.layer_norm.apply(x, h, &[], threads);
        }
        Ok(())
    }
}
