//! Semantic ASR metrics: SemDist (sentence-embedding distance) and EmbER (embedding-weighted
//! word error rate), with injectable encoders so that tests need no model weights.
//!
//! * [`SentenceEncoder`] — batch of strings → embeddings. Implementations: [`HashedNgramEncoder`]
//!   (deterministic bag of hashed character n-grams; lexical, not semantic — the spec's toy
//!   encoder and the offline fallback), and with feature `encoder` the BERT-family
//!   [`BertSentenceEncoder`] (candle + `tokenizers`, sentence-transformers pooling).
//! * [`WordSimilarity`] — cosine between two words, `None` when either is out of vocabulary.
//!   Implementations: [`WordVectors`] (fastText `.vec`) and [`EncoderWordSimilarity`] (the sentence
//!   encoder applied to single words: a documented fallback when no static vectors exist).

#[cfg(feature = "encoder")]
mod bert;
mod ember;
#[cfg(feature = "encoder")]
mod hub;
mod semdist;

#[cfg(feature = "encoder")]
pub use bert::{BertSentenceEncoder, EncoderOptions, Pooling, DEFAULT_ENCODER};
pub use ember::{
    ember, EmberDenominator, EmberOptions, EmberResult, EmberSubstitution, EncoderWordSimilarity,
    WordVectors,
};
pub use semdist::{semdist_raw, semdist_scaled, SemDistOptions, DEFAULT_SEMDIST_SCALE};

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::Result;

/// Epsilon guarding cosine against zero vectors (as SpeechBrain's `cosine_similarity(eps=1e-8)`).
pub const COSINE_EPS: f64 = 1e-8;

/// Maps a batch of sentences to fixed-size embeddings (one `Vec<f32>` per input, same length).
pub trait SentenceEncoder: Send + Sync {
    /// Embeds `texts` (any length, may be empty strings).
    ///
    /// # Errors
    /// Implementation specific ([`crate::Error::Encoder`] for model failures).
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;
    /// A short description for reports (model id, pooling, …).
    fn describe(&self) -> String;
}

/// Similarity of two words; `None` when either word has no vector (EmbER then costs 1).
pub trait WordSimilarity: Send + Sync {
    /// Cosine similarity in [-1, 1], or `None` for an out-of-vocabulary word.
    fn similarity(&self, a: &str, b: &str) -> Option<f64>;
    /// A short description for reports.
    fn describe(&self) -> String;
}

/// Cosine similarity in f64 with `max(‖a‖·‖b‖, eps)` in the denominator ([`COSINE_EPS`]);
/// vectors of different lengths compare over the shorter prefix.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    dot / (na.sqrt() * nb.sqrt()).max(COSINE_EPS)
}

/// Deterministic toy encoder: L2-normalised bag of hashed character n-grams of the lower-cased,
/// space-padded text (`n` in `min_n..=max_n`, `dim` buckets).
///
/// It measures *surface* overlap, not meaning ("cat"/"dog" are unrelated, "colour"/"color" are
/// close). Used by tests and, loudly labelled, as the offline fallback when no BERT model is
/// available. The hash is `std`'s SipHash with fixed keys, so it is stable across runs of one
/// build but not a cross-language standard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashedNgramEncoder {
    dim: usize,
    min_n: usize,
    max_n: usize,
}

impl Default for HashedNgramEncoder {
    fn default() -> Self {
        Self {
            dim: 512,
            min_n: 2,
            max_n: 4,
        }
    }
}

impl HashedNgramEncoder {
    /// Encoder with `dim` buckets and n-grams of `min_n..=max_n` characters (clamped to ≥ 1).
    pub fn new(dim: usize, min_n: usize, max_n: usize) -> Self {
        let min_n = min_n.max(1);
        Self {
            dim: dim.max(1),
            min_n,
            max_n: max_n.max(min_n),
        }
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        let padded: Vec<char> = format!(" {} ", text.to_lowercase()).chars().collect();
        for n in self.min_n..=self.max_n {
            for w in padded.windows(n) {
                let mut h = DefaultHasher::new();
                w.hash(&mut h);
                v[(h.finish() % self.dim as u64) as usize] += 1.0;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

impl SentenceEncoder for HashedNgramEncoder {
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed(t)).collect())
    }
    fn describe(&self) -> String {
        format!(
            "hashed character {}-{}-grams, {} buckets (lexical toy encoder, not semantic)",
            self.min_n, self.max_n, self.dim
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
        assert!((cosine(&[1.0, 1.0], &[-1.0, -1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }

    #[test]
    fn ngram_encoder_is_deterministic_and_lexical() {
        let e = HashedNgramEncoder::default();
        let v = e.encode(&["colour", "color", "banana", "colour"]).unwrap();
        assert_eq!(v[0], v[3]);
        assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]));
        let n: f32 = v[0].iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
    }
}
