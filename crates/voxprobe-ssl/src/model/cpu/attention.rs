//! The CPU engine's self-attention, WavLM's gated relative position bias included.
//!
//! Q, K and V come from one GEMM into one `(T, 3H)` buffer; per (item, head) one GEMM for
//! the scores (read as strided views, no head split copies), one fused pass for bias, mask
//! and softmax, one GEMM for the context.
//!
//! WavLM (`WavLMAttention`, transformers 5.23.0 `wavlm/modular_wavlm.py`): the bias of head
//! h between query q and key k is `emb[bucket(k − q)][h]`, so it depends on k − q only. It is
//! kept as one table per head over the 2T − 1 offsets ([`RelPos::tables`], computed once per
//! forward pass) instead of transformers' `(h, T, T)` tensor, and row q's bias is the
//! contiguous slice starting at T − 1 − q. Each layer gates it per (item, head, query) from
//! its attention input: `g = σ(a)·(σ(b)·c_h − 1) + 2`, where a and b are sums of four of the
//! eight outputs of `gru_rel_pos_linear` on the head's slice of the input; the gated bias is
//! added inside the softmax pass (`kernels::softmax_rows_relpos`).

use super::dense::Dense;
use super::{read_f32, Scratch};
use crate::config::{Family, Spec};
use crate::error::{Error, Result};
use crate::kernels::{self, gemm, Mat};
use crate::model::wavlm_bucket;
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// WavLM's per-layer gate (`gru_rel_pos_linear` `(8, d)` and bias, `gru_rel_pos_const` per
/// head).
#[derive(Debug, Clone)]
struct Gate {
    w: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

/// Self-attention of one layer (`attention.*`).
#[derive(Debug, Clone)]
pub(super) struct Attention {
    /// `[q_proj; k_proj; v_proj]` as one layer of 3H outputs.
    qkv: Dense,
    pub(super) out: Dense,
    heads: usize,
    head_dim: usize,
    gate: Option<Gate>,
}

impl Attention {
    pub(super) fn load(vb: &VarBuilder, s: &Spec) -> Result<Self> {
        let (h, heads) = (s.hidden, s.heads);
        let head_dim = h / heads;
        let qkv = Dense::fused(&[vb.pp("q_proj"), vb.pp("k_proj"), vb.pp("v_proj")], h, h)?;
        let gate = if s.family == Family::WavLm {
            let g = vb.pp("gru_rel_pos_linear");
            Some(Gate {
                w: read_f32(&g, (8, head_dim), "weight")?,
                b: read_f32(&g, 8, "bias")?,
                c: read_f32(vb, (1, heads, 1, 1), "gru_rel_pos_const")?,
            })
        } else {
            None
        };
        Ok(Self {
            qkv,
            out: Dense::load(&vb.pp("out_proj"), h, h)?,
            heads,
            head_dim,
            gate,
        })
    }

    /// Per (item, head, query) gates `(B, heads, T)` from the attention input `x` `(B·T, H)`.
    fn gates(&self, gate: &Gate, x: &[f32], b: usize, t: usize, threads: usize) -> Vec<f32> {
        let (nh, hd) = (self.heads, self.head_dim);
        let h = nh * hd;
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let one = |(task, out): (usize, &mut [f32])| {
            let (i, hh) = (task / nh, task % nh);
            let c = gate.c[hh];
            for (q, o) in out.iter_mut().enumerate() {
                let xs = &x[(i * t + q) * h + hh * hd..(i * t + q) * h + (hh + 1) * hd];
                let mut p = [0f32; 8];
                for (j, pj) in p.iter_mut().enumerate() {
                    let w = &gate.w[j * hd..(j + 1) * hd];
                    *pj = xs.iter().zip(w).map(|(a, b)| a * b).sum::<f32>() + gate.b[j];
                }
                let ga = sigmoid(p[0] + p[1] + p[2] + p[3]);
                let gb = sigmoid(p[4] + p[5] + p[6] + p[7]);
                *o = ga * (gb * c - 1.0) + 2.0;
            }
        };
        let mut g = vec![0f32; b * nh * t];
        if threads > 1 {
            g.par_chunks_mut(t).enumerate().for_each(one);
        } else {
            g.chunks_mut(t).enumerate().for_each(one);
        }
        g
    }

    /// Self-attention of `s.tmp` `(B·T, H)` into `s.ctx` `(B·T, H)` (before the output
    /// projection). `rel` holds WavLM's bias tables ([`RelPos::tables`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &self,
        s: &mut Scratch,
        b: usize,
        t: usize,
        key_masks: &[Vec<f32>],
        rel: Option<&[f32]>,
        threads: usize,
    ) -> Result<()> {
        let (nh, hd) = (self.heads, self.head_dim);
        let h = nh * hd;
        let rows = b * t;
        let h3 = 3 * h;
        {
            let _s = tracing::trace_span!("qkv_proj").entered();
            self.qkv
                .matmul_nobias(&mut s.qkv, h3, &s.tmp, rows, false, threads)?;
            kernels::add_rows(&mut s.qkv, &self.qkv.bias, threads);
        }
        let gated = match (&self.gate, rel) {
            (Some(g), Some(tab)) => {
                if tab.len() != nh * (2 * t - 1) {
                    return Err(Error::Internal {
                        reason: format!(
                            "relative position tables of {} values for {nh} heads × {t} frames",
                            tab.len()
                        ),
                    });
                }
                Some((self.gates(g, &s.tmp, b, t, threads), tab))
            }
            (None, None) => None,
            _ => {
                return Err(Error::Internal {
                    reason: "relative position gate without bias tables, or the reverse".into(),
                })
            }
        };
        let _s = tracing::trace_span!("scores_softmax_ctx").entered();
        let scale = 1.0 / (hd as f32).sqrt();
        let qkv = &s.qkv;
        let run = |task: usize, out: &mut [f32], scores: &mut Vec<f32>| -> Result<()> {
            let (i, hh) = (task / nh, task % nh);
            let base = i * t * h3;
            let view = |off: usize| Mat {
                data: &qkv[base + off + hh * hd..],
                rows: t,
                cols: hd,
                rs: h3,
                cs: 1,
            };
            scores.resize(t * t, 0.0);
            gemm(scores, t, view(0), view(h).t(), scale, false, 1)?;
            match &gated {
                Some((g, tab)) => {
                    let tab = &tab[hh * (2 * t - 1)..(hh + 1) * (2 * t - 1)];
                    let g = &g[task * t..(task + 1) * t];
                    kernels::softmax_rows_relpos(scores, t, &key_masks[i], tab, g);
                }
                None => kernels::softmax_rows(scores, t, &key_masks[i]),
            }
            gemm(out, hd, Mat::rm(scores, t, t), view(2 * h), 1.0, false, 1)
        };
        // One task per (item, head). Tiles of queries were measured: with K and V read as
        // strided views they re-pack them per tile (slower); with Kᵀ and V copied contiguous
        // per head first, the same speed at 10 s and 4% faster attention at 30 s.
        let heads = &mut s.heads;
        if threads > 1 {
            heads
                .par_chunks_mut(t * hd)
                .enumerate()
                .map_init(Vec::new, |sc, (task, out)| run(task, out, sc))
                .collect::<Result<()>>()?;
        } else {
            let mut sc = Vec::new();
            for (task, out) in heads.chunks_mut(t * hd).enumerate() {
                run(task, out, &mut sc)?;
            }
        }
        // (B, heads, T, hd) → (B·T, H)
        for (task, src) in s.heads.chunks_exact(t * hd).enumerate() {
            let (i, hh) = (task / nh, task % nh);
            for (r, v) in src.chunks_exact(hd).enumerate() {
                let o = (i * t + r) * h + hh * hd;
                s.ctx[o..o + hd].copy_from_slice(v);
            }
        }
        Ok(())
    }
}

/// WavLM's relative position embedding (`layers.0.attention.rel_attn_embed`, `(buckets,
/// heads)`), shared by every layer.
#[derive(Debug, Clone)]
pub(super) struct RelPos {
    emb: Vec<f32>,
    buckets: usize,
    max_distance: usize,
    heads: usize,
}

impl RelPos {
    pub(super) fn load(vb: &VarBuilder, s: &Spec) -> Result<Option<Self>> {
        let Some((buckets, max_distance)) = s.buckets else {
            return Ok(None);
        };
        let vb = vb.pp("layers").pp(0).pp("attention").pp("rel_attn_embed");
        Ok(Some(Self {
            emb: read_f32(&vb, (buckets, s.heads), "weight")?,
            buckets,
            max_distance,
            heads: s.heads,
        }))
    }

    /// Per head, the bias at each offset k − q = −(T−1)..=T−1: `(heads, 2T − 1)`.
    pub(super) fn tables(&self, t: usize) -> Vec<f32> {
        let w = 2 * t - 1;
        let mut tab = vec![0f32; self.heads * w];
        for (j, off) in (-(t as i64 - 1)..=(t as i64 - 1)).enumerate() {
            let bk = wavlm_bucket(off, self.buckets, self.max_distance);
            let row = &self.emb[bk * self.heads..(bk + 1) * self.heads];
            for (hh, &v) in row.iter().enumerate() {
                tab[hh * w + j] = v;
            }
        }
        tab
    }
}
