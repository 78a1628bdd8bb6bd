//! Corpus audit, the computing part: per-utterance alignment and metrics, per-group WER with
//! bootstrap CIs and the "diversity tax", confusions. Inputs are read by [`crate::input`] (its
//! readers are re-exported here); `report.json` / `utterances.jsonl` / `report.html` are written
//! by the `html` module ([`Audit::write_dir`], [`Audit::to_html`]).

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::levenshtein::{opcodes, OpcodeTag};
use crate::metrics::{char_counts, jiwer_words, ErrorCounts, WerMeasures};
use crate::{error_align, AlignOp, AlignOptions, Error, Normalizer, OpType, Result};

pub use crate::input::{parse_jsonl, parse_kaldi, read_jsonl, read_kaldi, InputIssues, Utterance};

/// Audit options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditOptions {
    /// error-align options. Default: [`AlignOptions::default`].
    pub align: AlignOptions,
    /// Normalisation applied to both sides before every metric. Default: none (raw text).
    pub normalizer: Normalizer,
    /// Bootstrap resamples per group. Default: 1000.
    pub bootstrap_samples: usize,
    /// Bootstrap seed (Xoshiro256++). Default: 0.
    pub seed: u64,
    /// Length of the confusion / deleted / inserted lists. Default: 20.
    pub top_k: usize,
    /// Number of worst utterances shown in the HTML. Default: 20.
    pub worst_n: usize,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            align: AlignOptions::default(),
            normalizer: Normalizer::new(),
            bootstrap_samples: 1000,
            seed: 0,
            top_k: 20,
            worst_n: 20,
        }
    }
}

impl AuditOptions {
    /// Sets the alignment options.
    pub fn align(mut self, a: AlignOptions) -> Self {
        self.align = a;
        self
    }
    /// Sets the normaliser.
    pub fn normalizer(mut self, n: Normalizer) -> Self {
        self.normalizer = n;
        self
    }
    /// Sets the number of bootstrap resamples.
    pub fn bootstrap_samples(mut self, b: usize) -> Self {
        self.bootstrap_samples = b;
        self
    }
    /// Sets the bootstrap seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Sets the top-k list length.
    pub fn top_k(mut self, k: usize) -> Self {
        self.top_k = k;
        self
    }
    /// Sets the number of worst utterances in the HTML view.
    pub fn worst_n(mut self, n: usize) -> Self {
        self.worst_n = n;
        self
    }
}

/// error-align op counts (not a WER: error-align computes no metric; defined here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// MATCH ops.
    pub matches: usize,
    /// SUBSTITUTE ops.
    pub substitutions: usize,
    /// DELETE ops.
    pub deletions: usize,
    /// INSERT ops.
    pub insertions: usize,
    /// SUBSTITUTE ops whose hyp is a compound piece with the same letters as the ref
    /// ("segmentation errors", e.g. `ice cream` → `icecream`).
    pub segmentation: usize,
}

impl OpCounts {
    fn from_ops(ops: &[AlignOp]) -> Self {
        let mut c = Self::default();
        for o in ops {
            match o.op_type {
                OpType::Match => c.matches += 1,
                OpType::Insert => c.insertions += 1,
                OpType::Delete => c.deletions += 1,
                OpType::Substitute => {
                    c.substitutions += 1;
                    let letters = |s: &Option<String>| -> String {
                        s.as_deref()
                            .unwrap_or("")
                            .chars()
                            .filter(|c| c.is_alphanumeric())
                            .flat_map(char::to_lowercase)
                            .collect()
                    };
                    if letters(&o.ref_text) == letters(&o.hyp_text) {
                        c.segmentation += 1;
                    }
                }
            }
        }
        c
    }
    fn add(&self, o: &Self) -> Self {
        Self {
            matches: self.matches + o.matches,
            substitutions: self.substitutions + o.substitutions,
            deletions: self.deletions + o.deletions,
            insertions: self.insertions + o.insertions,
            segmentation: self.segmentation + o.segmentation,
        }
    }
}

/// Per-utterance result (one line of `utterances.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtteranceResult {
    /// Utterance id.
    pub id: String,
    /// Group label.
    pub group: String,
    /// Reference after normalisation (the text the spans index).
    #[serde(rename = "ref")]
    pub reference: String,
    /// Hypothesis after normalisation.
    #[serde(rename = "hyp")]
    pub hypothesis: String,
    /// jiwer word counts.
    pub words: ErrorCounts,
    /// jiwer word measures.
    pub measures: WerMeasures,
    /// jiwer character counts.
    pub chars: ErrorCounts,
    /// Character error rate.
    pub cer: f64,
    /// error-align op counts.
    pub op_counts: OpCounts,
    /// error-align ops.
    pub ops: Vec<AlignOp>,
    #[serde(skip)]
    word_pairs: WordEvents,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct WordEvents {
    confusions: Vec<(String, String)>,
    deleted: Vec<String>,
    inserted: Vec<String>,
}

/// Summary of one group (or of the corpus).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Group label (`"corpus"` for the whole set).
    pub group: String,
    /// Utterances.
    pub utterances: usize,
    /// Summed word counts.
    pub words: ErrorCounts,
    /// Corpus-level measures (summed counts, as jiwer).
    pub measures: WerMeasures,
    /// Mean of per-utterance WER (a different number from `measures.wer`).
    pub mean_utterance_wer: f64,
    /// Corpus-level CER (summed character counts).
    pub cer: f64,
    /// error-align op counts.
    pub op_counts: OpCounts,
    /// Bootstrap 95% percentile CI of the corpus-level WER (utterances resampled within group).
    pub wer_ci95: [f64; 2],
    /// This group's WER minus the best (lowest) group's WER.
    pub diversity_tax: f64,
}

/// Counted item of a top-k list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted<T> {
    /// The item.
    pub item: T,
    /// How often.
    pub count: usize,
}

/// `report.json` contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Normalisation steps applied to both sides before every metric.
    pub normalization: Vec<String>,
    /// Alignment settings.
    pub alignment: AlignOptions,
    /// How counts are made.
    pub word_alignment: String,
    /// Bootstrap settings.
    pub bootstrap: BootstrapInfo,
    /// Whole corpus.
    pub corpus: GroupSummary,
    /// Per group, sorted by label.
    pub groups: Vec<GroupSummary>,
    /// Best group (lowest WER).
    pub best_group: String,
    /// Most frequent `(ref word, hyp word)` substitutions.
    pub top_confusions: Vec<Counted<(String, String)>>,
    /// Most frequently deleted reference words.
    pub top_deleted: Vec<Counted<String>>,
    /// Most frequently inserted hypothesis words.
    pub top_inserted: Vec<Counted<String>>,
    /// Input problems that were reported but did not stop the audit.
    pub input_issues: InputIssues,
    /// Is the sample representative of a target population? Added by
    /// [`Audit::add_representativity`]; absent (and not written) otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representativity: Option<crate::representativity::Representativity>,
}

/// Bootstrap description for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapInfo {
    /// Resamples.
    pub samples: usize,
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: String,
}

/// Full audit result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Summary.
    pub report: Report,
    /// Per-utterance results, input order.
    pub utterances: Vec<UtteranceResult>,
    /// Number of worst utterances for the HTML view.
    pub worst_n: usize,
}

fn word_events(r: &str, h: &str) -> WordEvents {
    let rw = jiwer_words(r);
    let hw = jiwer_words(h);
    let mut ev = WordEvents::default();
    for o in opcodes(&rw, &hw) {
        match o.tag {
            OpcodeTag::Equal => {}
            OpcodeTag::Replace => {
                for (a, b) in rw[o.src_start..o.src_end]
                    .iter()
                    .zip(&hw[o.dest_start..o.dest_end])
                {
                    ev.confusions.push((a.clone(), b.clone()));
                }
            }
            OpcodeTag::Delete => ev
                .deleted
                .extend(rw[o.src_start..o.src_end].iter().cloned()),
            OpcodeTag::Insert => ev
                .inserted
                .extend(hw[o.dest_start..o.dest_end].iter().cloned()),
        }
    }
    ev
}

fn process(u: &Utterance, opts: &AuditOptions) -> Result<UtteranceResult> {
    let r = opts.normalizer.apply(&u.reference);
    let h = opts.normalizer.apply(&u.hypothesis);
    let words = crate::metrics::word_counts(&r, &h);
    let chars = char_counts(&r, &h);
    let ops = error_align(&r, &h, &opts.align)?;
    Ok(UtteranceResult {
        id: u.id.clone(),
        group: u.group.clone().unwrap_or_else(|| "all".to_string()),
        measures: words.measures(),
        cer: chars.measures().wer,
        op_counts: OpCounts::from_ops(&ops),
        word_pairs: word_events(&r, &h),
        reference: r,
        hypothesis: h,
        words,
        chars,
        ops,
    })
}

fn top<T: Ord + Clone>(items: impl Iterator<Item = T>, k: usize) -> Vec<Counted<T>> {
    let mut m: BTreeMap<T, usize> = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    let mut v: Vec<Counted<T>> = m
        .into_iter()
        .map(|(item, count)| Counted { item, count })
        .collect();
    // Stable sort keeps ties in lexicographic order: deterministic output.
    v.sort_by_key(|c| std::cmp::Reverse(c.count));
    v.truncate(k);
    v
}

fn summarize(group: &str, us: &[&UtteranceResult], opts: &AuditOptions, seed: u64) -> GroupSummary {
    let words = us
        .iter()
        .fold(ErrorCounts::default(), |a, u| a.add(&u.words));
    let chars = us
        .iter()
        .fold(ErrorCounts::default(), |a, u| a.add(&u.chars));
    let op_counts = us
        .iter()
        .fold(OpCounts::default(), |a, u| a.add(&u.op_counts));
    let measures = words.measures();
    let mean_utterance_wer = if us.is_empty() {
        0.0
    } else {
        us.iter().map(|u| u.measures.wer).sum::<f64>() / us.len() as f64
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(opts.bootstrap_samples);
    if !us.is_empty() {
        for _ in 0..opts.bootstrap_samples {
            let mut c = ErrorCounts::default();
            for _ in 0..us.len() {
                let k = rng.random_range(0..us.len());
                c = c.add(&us[k].words);
            }
            stats.push(c.measures().wer);
        }
    }
    stats.sort_by(f64::total_cmp);
    let pct = |q: f64| -> f64 {
        if stats.is_empty() {
            return measures.wer;
        }
        let pos = q * (stats.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let (a, b) = (stats[lo], stats[hi.min(stats.len() - 1)]);
        a + (b - a) * (pos - lo as f64)
    };
    GroupSummary {
        group: group.to_string(),
        utterances: us.len(),
        words,
        measures,
        mean_utterance_wer,
        cer: chars.measures().wer,
        op_counts,
        wer_ci95: [pct(0.025), pct(0.975)],
        diversity_tax: 0.0,
    }
}

/// Audits utterances in parallel; `progress` is called once per finished utterance.
///
/// # Errors
/// [`Error::Empty`] for no utterances; alignment errors ([`Error::InvalidBeamSize`]).
pub fn audit(
    utts: &[Utterance],
    issues: InputIssues,
    opts: &AuditOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Audit> {
    if utts.is_empty() {
        return Err(Error::Empty);
    }
    let results: Vec<UtteranceResult> = utts
        .par_iter()
        .map(|u| {
            let r = process(u, opts);
            progress();
            r
        })
        .collect::<Result<_>>()?;
    let all: Vec<&UtteranceResult> = results.iter().collect();
    let corpus = summarize("corpus", &all, opts, opts.seed);
    let mut by_group: BTreeMap<&str, Vec<&UtteranceResult>> = BTreeMap::new();
    for r in &results {
        by_group.entry(r.group.as_str()).or_default().push(r);
    }
    let mut groups: Vec<GroupSummary> = by_group
        .iter()
        .enumerate()
        .map(|(k, (g, us))| summarize(g, us, opts, opts.seed.wrapping_add(1 + k as u64)))
        .collect();
    let best = groups
        .iter()
        .min_by(|a, b| a.measures.wer.total_cmp(&b.measures.wer))
        .map(|g| (g.group.clone(), g.measures.wer))
        .unwrap_or_default();
    for g in &mut groups {
        g.diversity_tax = g.measures.wer - best.1;
    }
    let report = Report {
        normalization: opts.normalizer.describe().iter().map(|s| s.to_string()).collect(),
        alignment: opts.align.clone(),
        word_alignment: "jiwer 4.0 default transforms; RapidFuzz Levenshtein tie-breaking; corpus = summed counts".into(),
        bootstrap: BootstrapInfo {
            samples: opts.bootstrap_samples,
            seed: opts.seed,
            method: "percentile, utterances resampled with replacement within each group".into(),
        },
        corpus,
        groups,
        best_group: best.0,
        top_confusions: top(results.iter().flat_map(|r| r.word_pairs.confusions.iter().cloned()), opts.top_k),
        top_deleted: top(results.iter().flat_map(|r| r.word_pairs.deleted.iter().cloned()), opts.top_k),
        top_inserted: top(results.iter().flat_map(|r| r.word_pairs.inserted.iter().cloned()), opts.top_k),
        input_issues: issues,
        representativity: None,
    };
    Ok(Audit {
        report,
        utterances: results,
        worst_n: opts.worst_n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaldi_inputs_report_problems() {
        let refs = "a\tg1\tthe cat\n\nb\tg2\thello\n";
        let hyps = "a\tthe bat\nc\textra\n";
        let e = parse_kaldi(refs, "refs", hyps, "hyps", false);
        assert!(matches!(
            e,
            Err(Error::IdMismatch {
                missing_hyp: 1,
                missing_ref: 1,
                ..
            })
        ));
        let (u, iss) = parse_kaldi(refs, "refs", hyps, "hyps", true).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(iss.empty_lines, vec!["refs:2".to_string()]);
        assert_eq!(iss.missing_hypotheses, vec!["b".to_string()]);
        assert_eq!(iss.missing_references, vec!["c".to_string()]);
        let dup = parse_kaldi("a\tx\na\ty\n", "refs", "a\tx\n", "hyps", false);
        assert!(matches!(
            dup,
            Err(Error::DuplicateId {
                line: 2,
                first_line: 1,
                ..
            })
        ));
    }

    #[test]
    fn audit_groups_and_tax() {
        let u = |id: &str, g: &str, r: &str, h: &str| Utterance {
            id: id.into(),
            group: Some(g.into()),
            reference: r.into(),
            hypothesis: h.into(),
        };
        let utts = vec![
            u("1", "a", "the cat sat", "the cat sat"),
            u("2", "b", "the cat sat", "the bat"),
        ];
        let a = audit(
            &utts,
            InputIssues::default(),
            &AuditOptions::default().bootstrap_samples(50),
            &|| {},
        )
        .unwrap();
        assert_eq!(a.report.best_group, "a");
        assert!((a.report.groups[1].diversity_tax - 2.0 / 3.0).abs() < 1e-12);
        assert!(a.to_html().contains("<svg"));
    }
}
