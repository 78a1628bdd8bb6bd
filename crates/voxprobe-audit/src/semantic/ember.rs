//! EmbER (Bañeras-Roux, Rouvier, Wottawa, Dufour, Interspeech 2022; SpeechBrain
//! `EmbeddingErrorRateSimilarity` + `WeightedErrorRateStats`).
//!
//! The word alignment is the crate's one Levenshtein routine ([`crate::levenshtein::editops`],
//! RapidFuzz/jiwer tie-breaking), so EmbER's substituted pairs are exactly jiwer's: for ref
//! "a b" / hyp "a c d" that is *insert c, substitute b→d* (spec §3.6), not the
//! insertions-last pairing (b, c).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{cosine, SentenceEncoder, WordSimilarity};
use crate::levenshtein::{editops, EditTag};
use crate::{Error, Result};

/// Denominator of the weighted error rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmberDenominator {
    /// Reference length N (the paper's EmbER, consistent with WER). Default.
    #[default]
    RefLength,
    /// Alignment length N + I (SpeechBrain `WeightedErrorRateStats`); equal to N when I = 0.
    AlignmentLength,
}

/// EmbER options (defaults = the paper's values, chosen there for French fastText).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmberOptions {
    /// Cosine threshold τ: a substitution whose words have cosine ≥ τ is "similar". Default 0.4.
    pub threshold: f64,
    /// Cost of a similar substitution (β_hi in the spec). Default 0.1.
    pub similar_weight: f64,
    /// Cost of a dissimilar or out-of-vocabulary substitution. Default 1.0.
    pub dissimilar_weight: f64,
    /// Denominator of [`EmberResult::score`]. Default: [`EmberDenominator::RefLength`].
    pub denominator: EmberDenominator,
}

impl Default for EmberOptions {
    fn default() -> Self {
        Self {
            threshold: 0.4,
            similar_weight: 0.1,
            dissimilar_weight: 1.0,
            denominator: EmberDenominator::RefLength,
        }
    }
}

impl EmberOptions {
    /// Sets the similarity threshold τ.
    pub fn threshold(mut self, t: f64) -> Self {
        self.threshold = t;
        self
    }
    /// Sets the cost of a similar substitution.
    pub fn similar_weight(mut self, w: f64) -> Self {
        self.similar_weight = w;
        self
    }
    /// Sets the cost of a dissimilar substitution.
    pub fn dissimilar_weight(mut self, w: f64) -> Self {
        self.dissimilar_weight = w;
        self
    }
    /// Sets the denominator.
    pub fn denominator(mut self, d: EmberDenominator) -> Self {
        self.denominator = d;
        self
    }
}

/// One weighted substitution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmberSubstitution {
    /// Reference word.
    pub reference: String,
    /// Hypothesis word.
    pub hypothesis: String,
    /// Cosine of their embeddings, `None` when out of vocabulary.
    pub cosine: Option<f64>,
    /// Cost charged.
    pub weight: f64,
}

/// EmbER of one utterance (summable: corpus EmbER = Σ weighted errors / Σ denominators).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmberResult {
    /// I + D + Σ substitution weights.
    pub weighted_errors: f64,
    /// Reference length N.
    pub ref_len: usize,
    /// Alignment length N + I.
    pub alignment_len: usize,
    /// Insertions.
    pub insertions: usize,
    /// Deletions.
    pub deletions: usize,
    /// Substitutions with their weights, in alignment order.
    pub substitutions: Vec<EmberSubstitution>,
    /// Score under the chosen denominator (N = 0 gives the weighted error count, as jiwer's WER).
    pub score: f64,
}

impl EmberResult {
    /// `weighted_errors / N` (or the weighted errors when N = 0).
    pub fn over_ref_length(&self) -> f64 {
        ratio(self.weighted_errors, self.ref_len)
    }
    /// `weighted_errors / (N + I)` (SpeechBrain's denominator).
    pub fn over_alignment_length(&self) -> f64 {
        ratio(self.weighted_errors, self.alignment_len)
    }
}

fn ratio(num: f64, den: usize) -> f64 {
    if den == 0 {
        num
    } else {
        num / den as f64
    }
}

/// EmbER of one pair of word sequences (already normalised and split).
///
/// # Errors
/// [`Error::InvalidInput`] for a non-finite threshold or negative weights.
pub fn ember<S: AsRef<str>>(
    reference: &[S],
    hypothesis: &[S],
    sim: &dyn WordSimilarity,
    opts: &EmberOptions,
) -> Result<EmberResult> {
    let weight_ok = |w: f64| w.is_finite() && w >= 0.0;
    if !opts.threshold.is_finite()
        || !weight_ok(opts.similar_weight)
        || !weight_ok(opts.dissimilar_weight)
    {
        return Err(Error::InvalidInput {
            what: "ember options",
            reason: format!(
                "threshold and weights must be finite, weights non-negative, got τ={} β=({}, {})",
                opts.threshold, opts.similar_weight, opts.dissimilar_weight
            ),
        });
    }
    let r: Vec<&str> = reference.iter().map(AsRef::as_ref).collect();
    let h: Vec<&str> = hypothesis.iter().map(AsRef::as_ref).collect();
    let (mut ins, mut del, mut subs) = (0usize, 0usize, Vec::new());
    for op in editops(&r, &h) {
        match op.tag {
            EditTag::Insert => ins += 1,
            EditTag::Delete => del += 1,
            EditTag::Replace => {
                let (a, b) = (r[op.src_pos], h[op.dest_pos]);
                let cos = if a.is_empty() || b.is_empty() {
                    None
                } else {
                    sim.similarity(a, b)
                };
                let weight = match cos {
                    Some(c) if c >= opts.threshold => opts.similar_weight,
                    _ => opts.dissimilar_weight,
                };
                subs.push(EmberSubstitution {
                    reference: a.to_string(),
                    hypothesis: b.to_string(),
                    cosine: cos,
                    weight,
                });
            }
        }
    }
    let weighted_errors = (ins + del) as f64 + subs.iter().map(|s| s.weight).sum::<f64>();
    let ref_len = r.len();
    let alignment_len = ref_len + ins;
    let score = match opts.denominator {
        EmberDenominator::RefLength => ratio(weighted_errors, ref_len),
        EmberDenominator::AlignmentLength => ratio(weighted_errors, alignment_len),
    };
    Ok(EmberResult {
        weighted_errors,
        ref_len,
        alignment_len,
        insertions: ins,
        deletions: del,
        substitutions: subs,
        score,
    })
}

/// Static word vectors (fastText `.vec` text format, or any in-memory table).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WordVectors {
    vectors: HashMap<String, Vec<f32>>,
    dim: usize,
    source: String,
}

impl WordVectors {
    /// Table from `(word, vector)` pairs; all vectors must have the same length.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for mixed dimensions or non-finite values.
    pub fn from_pairs<I, W>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (W, Vec<f32>)>,
        W: Into<String>,
    {
        let mut out = Self {
            source: "in-memory table".into(),
            ..Self::default()
        };
        for (w, v) in pairs {
            let w = w.into();
            out.check(&w, &v).map_err(|reason| Error::InvalidInput {
                what: "word vectors",
                reason,
            })?;
            out.vectors.insert(w, v);
        }
        Ok(out)
    }

    fn check(&mut self, w: &str, v: &[f32]) -> std::result::Result<(), String> {
        if self.dim == 0 {
            self.dim = v.len();
        }
        if v.is_empty() || v.len() != self.dim {
            return Err(format!(
                "word {w:?} has {} values, expected {}",
                v.len(),
                self.dim
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!("word {w:?} has a non-finite value"));
        }
        Ok(())
    }

    /// Reads the fastText `.vec` text format (`count dim` header line, then `word v1 … vd` per
    /// line). Reads at most `max_words` entries when given (fastText files are sorted by
    /// frequency, so a prefix keeps the common words). The first occurrence of a word wins.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::BadLine`] naming the line for a malformed entry.
    pub fn read_vec(path: &Path, max_words: Option<usize>) -> Result<Self> {
        let name = path.display().to_string();
        let f = std::fs::File::open(path).map_err(|source| Error::Io {
            path: name.clone(),
            source,
        })?;
        Self::parse_vec(std::io::BufReader::new(f), &name, max_words)
    }

    /// [`WordVectors::read_vec`] on any reader; `name` is used in errors.
    ///
    /// # Errors
    /// As [`WordVectors::read_vec`].
    pub fn parse_vec<R: BufRead>(reader: R, name: &str, max_words: Option<usize>) -> Result<Self> {
        let mut out = Self {
            source: format!("fastText vectors {name}"),
            ..Self::default()
        };
        let bad = |line: usize, problem: String| Error::BadLine {
            file: name.to_string(),
            line,
            problem,
        };
        for (k, raw) in reader.lines().enumerate() {
            let line = k + 1;
            let raw = raw.map_err(|source| Error::Io {
                path: name.to_string(),
                source,
            })?;
            let mut parts = raw.split_ascii_whitespace();
            let Some(word) = parts.next() else {
                continue;
            };
            let rest: Vec<&str> = parts.collect();
            if line == 1 && rest.len() == 1 && word.parse::<usize>().is_ok() {
                // Header `count dim`.
                out.dim = rest[0]
                    .parse()
                    .map_err(|_| bad(line, format!("bad dimension {:?} in header", rest[0])))?;
                continue;
            }
            if max_words.is_some_and(|m| out.vectors.len() >= m) {
                break;
            }
            let v = rest
                .iter()
                .map(|x| x.parse::<f32>())
                .collect::<std::result::Result<Vec<f32>, _>>()
                .map_err(|e| bad(line, format!("word {word:?}: {e}")))?;
            out.check(word, &v).map_err(|p| bad(line, p))?;
            out.vectors.entry(word.to_string()).or_insert(v);
        }
        if out.vectors.is_empty() {
            return Err(bad(0, "no word vectors found".into()));
        }
        Ok(out)
    }

    /// The vector of `word`.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        self.vectors.get(word).map(Vec::as_slice)
    }
    /// Number of words.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }
    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }
}

impl WordSimilarity for WordVectors {
    fn similarity(&self, a: &str, b: &str) -> Option<f64> {
        Some(cosine(self.get(a)?, self.get(b)?))
    }
    fn describe(&self) -> String {
        format!("{} ({} words, dim {})", self.source, self.len(), self.dim)
    }
}

/// Word similarity from a sentence encoder applied to single words — a **fallback** when no
/// static word vectors are available. Contextual encoders embed isolated words less reliably
/// than fastText, and τ = 0.4 was tuned for fastText, so EmbER values from this fallback are
/// not comparable to the paper's. Embeddings are cached per word.
pub struct EncoderWordSimilarity<'a> {
    encoder: &'a dyn SentenceEncoder,
    cache: Mutex<HashMap<String, Option<Vec<f32>>>>,
}

impl<'a> EncoderWordSimilarity<'a> {
    /// Wraps `encoder`.
    pub fn new(encoder: &'a dyn SentenceEncoder) -> Self {
        Self {
            encoder,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Embeds all `words` not yet cached in batches of `batch_size` (one encoder call each).
    ///
    /// # Errors
    /// Encoder errors.
    pub fn prefetch<S: AsRef<str>>(&self, words: &[S], batch_size: usize) -> Result<()> {
        let todo: Vec<String> = {
            let cache = self.cache.lock().map_err(|_| self.poisoned())?;
            let mut seen = std::collections::HashSet::new();
            words
                .iter()
                .map(|w| w.as_ref())
                .filter(|w| !w.is_empty() && !cache.contains_key(*w) && seen.insert(*w))
                .map(str::to_string)
                .collect()
        };
        for chunk in todo.chunks(batch_size.max(1)) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let embs = self.encoder.encode(&refs)?;
            let mut cache = self.cache.lock().map_err(|_| self.poisoned())?;
            for (w, e) in chunk.iter().zip(embs) {
                cache.insert(w.clone(), Some(e));
            }
        }
        Ok(())
    }

    fn poisoned(&self) -> Error {
        Error::Encoder {
            model: self.encoder.describe(),
            reason: "word cache lock poisoned by a panicking thread".into(),
        }
    }

    fn vector(&self, w: &str) -> Option<Vec<f32>> {
        if let Ok(cache) = self.cache.lock() {
            if let Some(v) = cache.get(w) {
                return v.clone();
            }
        }
        // A failing encoder makes the word out-of-vocabulary (cost 1), as for fastText OOVs.
        let v = self.encoder.encode(&[w]).ok().and_then(|mut e| e.pop());
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(w.to_string(), v.clone());
        }
        v
    }
}

impl WordSimilarity for EncoderWordSimilarity<'_> {
    fn similarity(&self, a: &str, b: &str) -> Option<f64> {
        Some(cosine(&self.vector(a)?, &self.vector(b)?))
    }
    fn describe(&self) -> String {
        format!(
            "sentence encoder on single words (fallback): {}",
            self.encoder.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table where cat·dog = 0.8 (or `c`), b·c similar, d orthogonal to b.
    fn table(cat_dog: f32) -> WordVectors {
        let s = (1.0 - cat_dog * cat_dog).sqrt();
        WordVectors::from_pairs([
            ("cat", vec![1.0, 0.0, 0.0]),
            ("dog", vec![cat_dog, s, 0.0]),
            ("b", vec![1.0, 0.0, 0.0]),
            ("c", vec![0.9, 0.1, 0.0]),
            ("d", vec![0.0, 0.0, 1.0]),
        ])
        .unwrap()
    }

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn spec_vector_cat_dog() {
        let r = ember(
            &words("the cat sat"),
            &words("the dog sat"),
            &table(0.8),
            &EmberOptions::default(),
        )
        .unwrap();
        assert!((r.substitutions[0].cosine.unwrap() - 0.8).abs() < 1e-6);
        assert!((r.score - 0.1 / 3.0).abs() < 1e-12);
        let r = ember(
            &words("the cat sat"),
            &words("the dog sat"),
            &table(0.2),
            &EmberOptions::default(),
        )
        .unwrap();
        assert!((r.score - 1.0 / 3.0).abs() < 1e-12);
        // Exactly at τ counts as similar (≥).
        let at = ember(
            &words("cat"),
            &words("dog"),
            &table(0.8),
            &EmberOptions::default().threshold(r_cos(0.8)),
        )
        .unwrap();
        assert_eq!(at.weighted_errors, 0.1);
    }

    fn r_cos(c: f32) -> f64 {
        let s = (1.0 - c * c).sqrt();
        cosine(&[1.0, 0.0, 0.0], &[c, s, 0.0])
    }

    #[test]
    fn spec_vector_tie_breaking_follows_jiwer() {
        // jiwer 4.0.0 / RapidFuzz: equal a, insert c, substitute b→d (spec §3.6).
        let r = ember(
            &words("a b"),
            &words("a c d"),
            &table(0.8),
            &EmberOptions::default(),
        )
        .unwrap();
        assert_eq!(r.substitutions.len(), 1);
        assert_eq!(
            (
                r.substitutions[0].reference.as_str(),
                r.substitutions[0].hypothesis.as_str()
            ),
            ("b", "d")
        );
        assert_eq!((r.insertions, r.deletions), (1, 0));
        assert!((r.over_ref_length() - 1.0).abs() < 1e-12);
        assert!((r.over_alignment_length() - 2.0 / 3.0).abs() < 1e-12);
        let sb = ember(
            &words("a b"),
            &words("a c d"),
            &table(0.8),
            &EmberOptions::default().denominator(EmberDenominator::AlignmentLength),
        )
        .unwrap();
        assert!((sb.score - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn oov_and_empty_cost_one_and_bad_options_error() {
        let r = ember(
            &words("the zebra"),
            &words("the cat"),
            &table(0.8),
            &EmberOptions::default(),
        )
        .unwrap();
        assert_eq!(r.substitutions[0].cosine, None);
        assert_eq!(r.score, 0.5);
        let empty: [&str; 0] = [];
        let r = ember(&empty, &words("x y"), &table(0.8), &EmberOptions::default()).unwrap();
        assert_eq!(r.score, 2.0);
        let e = ember(
            &words("a"),
            &words("b"),
            &table(0.8),
            &EmberOptions::default().similar_weight(-1.0),
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }));
    }

    #[test]
    fn vec_format_parsing() {
        let text = "3 2\nhello 1 0\nworld 0 1\nhi 0.9 0.1\n";
        let v = WordVectors::parse_vec(text.as_bytes(), "t.vec", None).unwrap();
        assert_eq!((v.len(), v.dim()), (3, 2));
        assert!(v.similarity("hello", "hi").unwrap() > 0.9);
        assert_eq!(v.similarity("hello", "nope"), None);
        let v = WordVectors::parse_vec(text.as_bytes(), "t.vec", Some(1)).unwrap();
        assert_eq!(v.len(), 1);
        let e = WordVectors::parse_vec("2 2\na 1 x\n".as_bytes(), "t.vec", None).unwrap_err();
        assert!(matches!(e, Error::BadLine { line: 2, .. }));
        let e = WordVectors::parse_vec("a 1 2\nb 1\n".as_bytes(), "t.vec", None).unwrap_err();
        assert!(matches!(e, Error::BadLine { line: 2, .. }));
    }

    #[test]
    fn encoder_fallback_caches() {
        let enc = crate::semantic::HashedNgramEncoder::default();
        let s = EncoderWordSimilarity::new(&enc);
        s.prefetch(&["colour", "color", ""], 8).unwrap();
        assert!(s.similarity("colour", "color").unwrap() > 0.4);
        assert!(s.describe().contains("fallback"));
    }
}
