//! WER family with jiwer 4.0.0 semantics (default transforms, RapidFuzz tie-breaking).
//!
//! * Words: runs of two or more whitespace characters collapse to one space, the text is
//!   stripped, then split on single spaces (jiwer `wer_default`; a lone tab or NBSP does *not*
//!   separate words, as in jiwer). "Whitespace" is Python `str.isspace`.
//! * Characters: stripped text, every code point (spaces included) is one item (`cer_default`).
//! * Counts come from RapidFuzz's optimal alignment, so H/S/D/I (hence MER/WIL/WIP) match
//!   jiwer exactly; corpus numbers sum counts over utterances, as jiwer does.

use serde::{Deserialize, Serialize};

use crate::levenshtein::{editops, EditTag};

/// Python `str.isspace` (Unicode 14; stable set of code points).
pub fn is_python_space(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{D}' | '\u{1C}'..='\u{20}' | '\u{85}' | '\u{A0}' | '\u{1680}'
        | '\u{2000}'..='\u{200A}' | '\u{2028}' | '\u{2029}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

/// jiwer `wer_default`: `RemoveMultipleSpaces` (`\s\s+` → space), `Strip`, split on `" "`.
pub fn jiwer_words(s: &str) -> Vec<String> {
    let collapsed = jiwer_collapse(s);
    jiwer_split(&collapsed).map(str::to_string).collect()
}

/// `RemoveMultipleSpaces` then `Strip`: runs of two or more whitespace characters become one
/// space; whitespace at both ends is removed.
fn jiwer_collapse(s: &str) -> String {
    let mut collapsed = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if is_python_space(c) && it.peek().is_some_and(|&d| is_python_space(d)) {
            while it.peek().is_some_and(|&d| is_python_space(d)) {
                it.next();
            }
            collapsed.push(' ');
        } else {
            collapsed.push(c);
        }
    }
    let stripped = py_strip(&collapsed);
    if stripped.len() == collapsed.len() {
        collapsed
    } else {
        stripped.to_string()
    }
}

/// Words of a collapsed, stripped text: split on `" "`, empty pieces dropped.
fn jiwer_split(collapsed: &str) -> impl Iterator<Item = &str> {
    collapsed.split(' ').filter(|w| !w.is_empty())
}

/// jiwer `cer_default`: stripped text as a list of code points.
pub fn jiwer_chars(s: &str) -> Vec<char> {
    py_strip(s).chars().collect()
}

/// Hits, substitutions, deletions, insertions (summable over utterances).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Correct items.
    pub hits: usize,
    /// Substituted items.
    pub substitutions: usize,
    /// Deleted reference items.
    pub deletions: usize,
    /// Inserted hypothesis items.
    pub insertions: usize,
}

impl ErrorCounts {
    /// Counts from aligning `r` to `h` with RapidFuzz's tie-breaking.
    pub fn from_sequences<T: Eq + std::hash::Hash>(r: &[T], h: &[T]) -> Self {
        let mut c = Self::default();
        for op in editops(r, h) {
            match op.tag {
                EditTag::Replace => c.substitutions += 1,
                EditTag::Delete => c.deletions += 1,
                EditTag::Insert => c.insertions += 1,
            }
        }
        c.hits = r.len() - c.substitutions - c.deletions;
        c
    }
    /// Reference length `H + S + D`.
    pub fn ref_len(&self) -> usize {
        self.hits + self.substitutions + self.deletions
    }
    /// Hypothesis length `H + S + I`.
    pub fn hyp_len(&self) -> usize {
        self.hits + self.substitutions + self.insertions
    }
    /// Edit count `S + D + I` (the Levenshtein distance).
    pub fn errors(&self) -> usize {
        self.substitutions + self.deletions + self.insertions
    }
    /// Element-wise sum.
    pub fn add(&self, o: &Self) -> Self {
        Self {
            hits: self.hits + o.hits,
            substitutions: self.substitutions + o.substitutions,
            deletions: self.deletions + o.deletions,
            insertions: self.insertions + o.insertions,
        }
    }
    /// WER, MER, WIL, WIP exactly as jiwer 4.0.0 computes them from these counts.
    pub fn measures(&self) -> WerMeasures {
        let (h, s, d, i) = (
            self.hits as f64,
            self.substitutions as f64,
            self.deletions as f64,
            self.insertions as f64,
        );
        let n_ref = self.ref_len();
        let n_hyp = self.hyp_len();
        let (wer, mer, wip) = if n_ref == 0 {
            // jiwer: empty reference gives WER = insertion count.
            let (mer, wip) = if n_hyp == 0 { (0.0, 1.0) } else { (1.0, 0.0) };
            (i, mer, wip)
        } else {
            let wer = (s + d + i) / (h + s + d);
            let mer = (s + d + i) / (h + s + d + i);
            let wip = if n_hyp >= 1 {
                (h / n_ref as f64) * (h / n_hyp as f64)
            } else {
                0.0
            };
            (wer, mer, wip)
        };
        WerMeasures {
            wer,
            mer,
            wil: 1.0 - wip,
            wip,
        }
    }
}

/// Rates derived from [`ErrorCounts`] (jiwer formulas, WIL computed as `1 - WIP`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WerMeasures {
    /// (S + D + I) / N, or I when N = 0.
    pub wer: f64,
    /// (S + D + I) / (H + S + D + I).
    pub mer: f64,
    /// 1 − WIP.
    pub wil: f64,
    /// (H / N) · (H / M).
    pub wip: f64,
}

/// Word counts of one pair after jiwer's default word transform.
pub fn word_counts(reference: &str, hypothesis: &str) -> ErrorCounts {
    // Words as slices of the collapsed texts (no String per word); equality is all that counts.
    let (rc, hc) = (jiwer_collapse(reference), jiwer_collapse(hypothesis));
    let r: Vec<&str> = jiwer_split(&rc).collect();
    let h: Vec<&str> = jiwer_split(&hc).collect();
    ErrorCounts::from_sequences(&r, &h)
}

/// Character counts of one pair after jiwer's default character transform (CER = `measures().wer`).
pub fn char_counts(reference: &str, hypothesis: &str) -> ErrorCounts {
    ErrorCounts::from_sequences(&jiwer_chars(reference), &jiwer_chars(hypothesis))
}

/// Word counts and rates of a whole corpus: what jiwer 4.0's `process_words(refs, hyps)` returns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorpusMeasures {
    /// Summed word counts over all pairs.
    pub counts: ErrorCounts,
    /// WER, MER, WIL, WIP of the summed counts.
    pub measures: WerMeasures,
}

fn summed<R: AsRef<str>, H: AsRef<str>>(
    refs: &[R],
    hyps: &[H],
    count: fn(&str, &str) -> ErrorCounts,
) -> crate::Result<ErrorCounts> {
    if refs.len() != hyps.len() {
        return Err(crate::Error::InvalidInput {
            what: "hypotheses",
            reason: format!("{} references but {} hypotheses", refs.len(), hyps.len()),
        });
    }
    if refs.is_empty() {
        return Err(crate::Error::Empty);
    }
    Ok(refs
        .iter()
        .zip(hyps)
        .fold(ErrorCounts::default(), |a, (r, h)| {
            a.add(&count(r.as_ref(), h.as_ref()))
        }))
}

/// jiwer 4.0 `measures` of a corpus in one call: word counts summed over the pairs, then the
/// rates of the sums (not the mean of per-pair rates), with jiwer's default transforms.
///
/// ```
/// let m = voxprobe_audit::measures(&["a b c d", "e f"], &["a x c", "e f"])?;
/// assert_eq!((m.counts.substitutions, m.counts.deletions), (1, 1));
/// assert_eq!(m.measures.wer, 2.0 / 6.0);
/// # Ok::<(), voxprobe_audit::Error>(())
/// ```
///
/// # Errors
/// [`crate::Error::InvalidInput`] when the lists differ in length, [`crate::Error::Empty`] when
/// they are empty.
pub fn measures<R: AsRef<str>, H: AsRef<str>>(
    refs: &[R],
    hyps: &[H],
) -> crate::Result<CorpusMeasures> {
    let counts = summed(refs, hyps, word_counts)?;
    Ok(CorpusMeasures {
        counts,
        measures: counts.measures(),
    })
}

/// jiwer 4.0 `wer(refs, hyps)`: corpus WER from summed word counts.
///
/// ```
/// assert_eq!(voxprobe_audit::wer(&["the cat sat"], &["the bat"])?, 2.0 / 3.0);
/// # Ok::<(), voxprobe_audit::Error>(())
/// ```
///
/// # Errors
/// As [`measures`].
pub fn wer<R: AsRef<str>, H: AsRef<str>>(refs: &[R], hyps: &[H]) -> crate::Result<f64> {
    Ok(measures(refs, hyps)?.measures.wer)
}

/// jiwer 4.0 `cer(refs, hyps)`: corpus CER from summed character counts.
///
/// ```
/// assert_eq!(voxprobe_audit::cer(&["abcd"], &["abd"])?, 0.25);
/// # Ok::<(), voxprobe_audit::Error>(())
/// ```
///
/// # Errors
/// As [`measures`].
pub fn cer<R: AsRef<str>, H: AsRef<str>>(refs: &[R], hyps: &[H]) -> crate::Result<f64> {
    Ok(summed(refs, hyps, char_counts)?.measures().wer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        let c = word_counts("a b c d", "a x c");
        assert_eq!(
            (c.hits, c.substitutions, c.deletions, c.insertions),
            (2, 1, 1, 0)
        );
        let m = c.measures();
        assert_eq!(m.wer, 0.5);
        let m = word_counts("a b", "a b c").measures();
        assert_eq!(m.wil, 0.33333333333333337);
        assert_eq!(
            word_counts("tab\tseparated\twords", "tab separated words")
                .measures()
                .wer,
            3.0
        );
        assert_eq!(word_counts("", "hello there").measures().wer, 2.0);
    }

    #[test]
    fn one_call_corpus_functions() {
        // Summed counts, not mean of rates: (1 + 0) / (3 + 1) = 0.25, not (1/3 + 0) / 2.
        assert_eq!(wer(&["a b c", "d"], &["a x c", "d"]).unwrap(), 0.25);
        assert_eq!(cer(&["ab", "cd"], &["ab", "c"]).unwrap(), 0.25);
        let owned: Vec<String> = vec!["a b".into()];
        assert_eq!(measures(&owned, &["a b c"]).unwrap().counts.insertions, 1);
        assert!(matches!(
            wer(&["a"], &["a", "b"]),
            Err(crate::Error::InvalidInput {
                what: "hypotheses",
                ..
            })
        ));
        assert!(matches!(
            wer::<&str, &str>(&[], &[]),
            Err(crate::Error::Empty)
        ));
    }
}
