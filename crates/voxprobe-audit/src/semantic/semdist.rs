//! SemDist (Kim et al., Interspeech 2021/2022; SpeechBrain `speechbrain/utils/semdist.py`).

use serde::{Deserialize, Serialize};

use super::{cosine, SentenceEncoder};
use crate::{Error, Result};

/// SpeechBrain's default scale α ("matching the authors' recommendation").
pub const DEFAULT_SEMDIST_SCALE: f64 = 1000.0;

/// SemDist options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SemDistOptions {
    /// Scale α of the reported value. Default: [`DEFAULT_SEMDIST_SCALE`] (1000).
    pub scale: f64,
    /// Sentences per encoder call. Default: 32.
    pub batch_size: usize,
}

impl Default for SemDistOptions {
    fn default() -> Self {
        Self {
            scale: DEFAULT_SEMDIST_SCALE,
            batch_size: 32,
        }
    }
}

impl SemDistOptions {
    /// Sets the scale α.
    pub fn scale(mut self, a: f64) -> Self {
        self.scale = a;
        self
    }
    /// Sets the encoder batch size.
    pub fn batch_size(mut self, b: usize) -> Self {
        self.batch_size = b;
        self
    }
}

/// Raw per-pair SemDist `1 − cos(E(ref), E(hyp))` (unscaled, may be slightly negative from
/// rounding), encoding `refs` and `hyps` in batches of `opts.batch_size`.
///
/// # Errors
/// [`Error::InvalidInput`] for different lengths, a zero batch size or a non-positive scale;
/// encoder errors.
pub fn semdist_raw(
    encoder: &dyn SentenceEncoder,
    refs: &[&str],
    hyps: &[&str],
    opts: &SemDistOptions,
) -> Result<Vec<f64>> {
    if refs.len() != hyps.len() {
        return Err(Error::InvalidInput {
            what: "semdist pairs",
            reason: format!("{} references but {} hypotheses", refs.len(), hyps.len()),
        });
    }
    if opts.batch_size == 0 {
        return Err(Error::InvalidInput {
            what: "semdist batch_size",
            reason: "must be at least 1".into(),
        });
    }
    if !(opts.scale.is_finite() && opts.scale > 0.0) {
        return Err(Error::InvalidInput {
            what: "semdist scale",
            reason: format!("must be a positive finite number, got {}", opts.scale),
        });
    }
    let mut out = Vec::with_capacity(refs.len());
    for (r, h) in refs
        .chunks(opts.batch_size)
        .zip(hyps.chunks(opts.batch_size))
    {
        // One call per side keeps padding per batch as SpeechBrain does.
        let er = encoder.encode(r)?;
        let eh = encoder.encode(h)?;
        if er.len() != r.len() || eh.len() != h.len() {
            return Err(Error::Encoder {
                model: encoder.describe(),
                reason: "returned a different number of embeddings than inputs".into(),
            });
        }
        out.extend(er.iter().zip(&eh).map(|(a, b)| 1.0 - cosine(a, b)));
    }
    Ok(out)
}

/// Reported SemDist: `scale · max(raw, 0)` — clipping only the reported value, as the spec says
/// (raw values can be −1e-7 from floating point).
pub fn semdist_scaled(raw: f64, scale: f64) -> f64 {
    scale * raw.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::HashedNgramEncoder;

    #[test]
    fn identical_text_is_zero_and_mismatch_errors() {
        let e = HashedNgramEncoder::default();
        let r = semdist_raw(
            &e,
            &["the cat sat", "a b"],
            &["the cat sat", "x y"],
            &SemDistOptions::default().batch_size(1),
        )
        .unwrap();
        assert!(r[0].abs() < 1e-6);
        assert!(r[1] > 0.5);
        assert_eq!(semdist_scaled(-1e-7, 1000.0), 0.0);
        assert_eq!(semdist_scaled(0.25, 1000.0), 250.0);
        let err = semdist_raw(&e, &["a"], &[], &SemDistOptions::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
        let err =
            semdist_raw(&e, &["a"], &["a"], &SemDistOptions::default().scale(0.0)).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }
}
