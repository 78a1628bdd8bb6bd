//! Long audio: overlapping windows, stitched at frame level.
//!
//! The waveform is normalised once as a whole (per the preprocessor config), then cut into
//! windows that start on a frame boundary (a multiple of the hop, 320 samples), so window
//! frames line up exactly with the frames of an unchunked run. Window k *keeps* the global
//! frames `[k·S, (k+1)·S)` (S = `chunk_seconds` in frames) and also sees `context_seconds` of
//! audio on each side, which is run through the model and discarded. The kept pieces are
//! concatenated along time, so the output has exactly as many frames as an unchunked run.
//!
//! The result is an approximation of the unchunked output: attention, GroupNorm statistics and
//! the positional conv see only the window. With a few seconds of context the difference is
//! small for frames far from window edges; audio shorter than one window is run unchunked and
//! matches a plain forward pass exactly.

use crate::error::{Error, Result};
use crate::model::{ForwardOptions, SslOutput};
use crate::preprocess::Normalization;
use crate::pretrained::Pretrained;
use candle_core::{Tensor, D};
use std::collections::BTreeMap;

/// Window geometry for [`Pretrained::embed_long`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChunkOptions {
    /// Length of the kept part of each window, in seconds. Default: 20.
    pub chunk_seconds: f32,
    /// Extra audio seen on each side of the kept part, in seconds. Default: 2.
    pub context_seconds: f32,
    /// Normalisation of the whole waveform. Default: [`Normalization::Auto`].
    pub normalize: Normalization,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            chunk_seconds: 20.0,
            context_seconds: 2.0,
            normalize: Normalization::Auto,
        }
    }
}

impl ChunkOptions {
    /// Sets [`ChunkOptions::chunk_seconds`].
    pub fn chunk_seconds(mut self, s: f32) -> Self {
        self.chunk_seconds = s;
        self
    }
    /// Sets [`ChunkOptions::context_seconds`].
    pub fn context_seconds(mut self, s: f32) -> Self {
        self.context_seconds = s;
        self
    }
    /// Sets [`ChunkOptions::normalize`].
    pub fn normalize(mut self, n: Normalization) -> Self {
        self.normalize = n;
        self
    }
}

fn cat_opt(parts: Vec<Tensor>) -> Result<Option<Tensor>> {
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Tensor::cat(&parts, 1)?))
}

impl Pretrained {
    /// Runs one (possibly long) waveform in overlapping windows and stitches the frames; see
    /// the [module docs](crate::chunk). Returns a batch of one.
    pub fn embed_long(
        &self,
        wave: &[f32],
        chunk: &ChunkOptions,
        fwd: &ForwardOptions,
    ) -> Result<SslOutput> {
        if wave.is_empty() {
            return Err(Error::InvalidInput {
                reason: "empty waveform".into(),
            });
        }
        if let Some(p) = wave.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidInput {
                reason: format!("non-finite sample at index {p}"),
            });
        }
        if !(chunk.chunk_seconds > 0.0 && chunk.context_seconds >= 0.0) {
            return Err(Error::InvalidInput {
                reason: "chunk_seconds must be > 0 and context_seconds >= 0".into(),
            });
        }
        let m = &self.model;
        let hop = m.hop_length();
        let rf = m.receptive_field();
        let rate = self.preprocessor.sampling_rate as f32;
        let stride_f = ((chunk.chunk_seconds * rate) as usize / hop).max(1);
        let ctx_f = (chunk.context_seconds * rate) as usize / hop;
        let x = if chunk.normalize.resolve(&self.preprocessor) {
            crate::preprocess::normalize(wave)
        } else {
            wave.to_vec()
        };
        let total = m.frames_for(x.len());
        if total == 0 {
            return Err(Error::InputTooShort {
                samples: x.len(),
                min_samples: rf,
            });
        }
        let run = |samples: &[f32]| -> Result<SslOutput> {
            let t = Tensor::from_slice(samples, (1, samples.len()), m.device())?;
            m.forward(&t, None, fwd)
        };
        if total <= stride_f + 2 * ctx_f {
            return run(&x);
        }
        let mut last = Vec::new();
        let mut logits = Vec::new();
        let mut conv = Vec::new();
        let mut proj = Vec::new();
        let mut hidden: BTreeMap<usize, Vec<Tensor>> = BTreeMap::new();
        let mut k = 0;
        while k * stride_f < total {
            let keep0 = k * stride_f;
            let keep1 = ((k + 1) * stride_f).min(total);
            let f0 = keep0.saturating_sub(ctx_f);
            let f1 = (keep1 + ctx_f).min(total);
            let s0 = f0 * hop;
            let s1 = ((f1 - 1) * hop + rf).min(x.len());
            let out = run(&x[s0..s1])?;
            let local = out.last_hidden_state.dim(1)?;
            let off = keep0 - f0;
            let len = keep1 - keep0;
            if off + len > local {
                return Err(Error::ShapeMismatch {
                    what: "chunk frames".into(),
                    expected: vec![off + len],
                    actual: vec![local],
                });
            }
            let cut = |t: &Tensor| t.narrow(1, off, len);
            last.push(cut(&out.last_hidden_state)?);
            if let Some(l) = &out.logits {
                logits.push(cut(l)?);
            }
            if let Some(c) = &out.conv_features {
                conv.push(cut(c)?);
            }
            if let Some(p) = &out.projected_features {
                proj.push(cut(p)?);
            }
            for (i, h) in &out.hidden_states {
                hidden.entry(*i).or_default().push(cut(h)?);
            }
            k += 1;
        }
        let last = Tensor::cat(&last, 1)?;
        debug_assert_eq!(last.dim(D::Minus2).unwrap_or(total), total);
        let mut hs = BTreeMap::new();
        for (i, parts) in hidden {
            hs.insert(i, Tensor::cat(&parts, 1)?);
        }
        Ok(SslOutput {
            last_hidden_state: last,
            hidden_states: hs,
            logits: cat_opt(logits)?,
            conv_features: cat_opt(conv)?,
            projected_features: cat_opt(proj)?,
            frame_lengths: vec![total],
            frame_mask: None,
        })
    }
}
