//! Corpus audit: inputs (Kaldi-style TSV or JSONL), per-utterance alignment and metrics, per-group
//! WER with bootstrap CIs and the "diversity tax", confusions, and `report.json` /
//! `utterances.jsonl` / `report.html` outputs.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::levenshtein::{opcodes, OpcodeTag};
use crate::metrics::{char_counts, jiwer_words, ErrorCounts, WerMeasures};
use crate::{error_align, AlignOp, AlignOptions, Error, Normalizer, OpType, Result};

/// One utterance to audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utterance {
    /// Utterance id.
    pub id: String,
    /// Group label (speaker group, accent, …); `None` puts it in group `"all"`.
    pub group: Option<String>,
    /// Reference transcript.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Hypothesis transcript.
    #[serde(rename = "hyp")]
    pub hypothesis: String,
}

/// Problems found while reading inputs that did not stop the audit (always listed in the report).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputIssues {
    /// `file:line` of every empty line that was skipped.
    pub empty_lines: Vec<String>,
    /// Reference ids with no hypothesis (scored as an empty hypothesis when allowed).
    pub missing_hypotheses: Vec<String>,
    /// Hypothesis ids with no reference (not scored).
    pub missing_references: Vec<String>,
}

/// A parsed `id<TAB>[group<TAB>]text` line.
struct Line {
    line: usize,
    id: String,
    group: Option<String>,
    text: String,
}

fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn parse_tsv(
    content: &str,
    file: &str,
    allow_group: bool,
    issues: &mut InputIssues,
) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            issues.empty_lines.push(format!("{file}:{line}"));
            continue;
        }
        let fields: Vec<&str> = raw.split('\t').collect();
        let (id, group, text) = match fields.as_slice() {
            [id] => (*id, None, ""),
            [id, text] => (*id, None, *text),
            [id, group, text] if allow_group => (*id, Some(group.to_string()), *text),
            _ => {
                return Err(Error::BadLine {
                    file: file.to_string(),
                    line,
                    problem: format!(
                        "expected id<TAB>{}text, found {} tab-separated fields",
                        if allow_group { "[group<TAB>]" } else { "" },
                        fields.len()
                    ),
                })
            }
        };
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::BadLine {
                file: file.to_string(),
                line,
                problem: "empty id".into(),
            });
        }
        if let Some(&first_line) = seen.get(id) {
            return Err(Error::DuplicateId {
                file: file.to_string(),
                line,
                first_line,
                id: id.to_string(),
            });
        }
        seen.insert(id.to_string(), line);
        out.push(Line {
            line,
            id: id.to_string(),
            group,
            text: text.to_string(),
        });
    }
    Ok(out)
}

/// Joins parsed refs and hyps by id, in reference order.
fn join(
    refs: Vec<Line>,
    hyps: Vec<Line>,
    allow_missing: bool,
    issues: &mut InputIssues,
) -> Result<Vec<Utterance>> {
    let mut hyp_by_id: HashMap<String, Line> =
        hyps.into_iter().map(|l| (l.id.clone(), l)).collect();
    let mut out = Vec::with_capacity(refs.len());
    let mut missing_hyp = Vec::new();
    for r in refs {
        let hyp = match hyp_by_id.remove(&r.id) {
            Some(h) => h.text,
            None => {
                missing_hyp.push(r.id.clone());
                String::new()
            }
        };
        out.push(Utterance {
            id: r.id,
            group: r.group,
            reference: r.text,
            hypothesis: hyp,
        });
    }
    let mut missing_ref: Vec<(usize, String)> =
        hyp_by_id.into_values().map(|l| (l.line, l.id)).collect();
    missing_ref.sort();
    let missing_ref: Vec<String> = missing_ref.into_iter().map(|(_, id)| id).collect();
    if !allow_missing && (!missing_hyp.is_empty() || !missing_ref.is_empty()) {
        return Err(Error::IdMismatch {
            missing_hyp: missing_hyp.len(),
            missing_ref: missing_ref.len(),
            example_missing_hyp: missing_hyp.first().cloned(),
            example_missing_ref: missing_ref.first().cloned(),
        });
    }
    issues.missing_hypotheses = missing_hyp;
    issues.missing_references = missing_ref;
    if out.is_empty() {
        return Err(Error::Empty);
    }
    Ok(out)
}

/// Parses Kaldi-style refs (`id<TAB>text` or `id<TAB>group<TAB>text`) and hyps (`id<TAB>text`).
///
/// Empty lines are skipped and listed in the returned [`InputIssues`]. Duplicate ids and malformed
/// lines are errors. Ids present on one side only are an [`Error::IdMismatch`] unless
/// `allow_missing`, in which case a missing hypothesis is scored as empty (all deletions) and a
/// hypothesis without reference is left out; both are listed.
///
/// # Errors
/// [`Error::BadLine`], [`Error::DuplicateId`], [`Error::IdMismatch`], [`Error::Empty`].
pub fn parse_kaldi(
    refs: &str,
    refs_name: &str,
    hyps: &str,
    hyps_name: &str,
    allow_missing: bool,
) -> Result<(Vec<Utterance>, InputIssues)> {
    let mut issues = InputIssues::default();
    let r = parse_tsv(refs, refs_name, true, &mut issues)?;
    let h = parse_tsv(hyps, hyps_name, false, &mut issues)?;
    let u = join(r, h, allow_missing, &mut issues)?;
    Ok((u, issues))
}

/// Reads Kaldi-style files, see [`parse_kaldi`].
///
/// # Errors
/// [`Error::Io`] plus those of [`parse_kaldi`].
pub fn read_kaldi(
    refs: &Path,
    hyps: &Path,
    allow_missing: bool,
) -> Result<(Vec<Utterance>, InputIssues)> {
    parse_kaldi(
        &read_to_string(refs)?,
        &refs.display().to_string(),
        &read_to_string(hyps)?,
        &hyps.display().to_string(),
        allow_missing,
    )
}

/// Parses JSONL with fields `id`, `ref`, `hyp` and optional `group`.
///
/// # Errors
/// [`Error::BadLine`] (invalid JSON or fields), [`Error::DuplicateId`], [`Error::Empty`].
pub fn parse_jsonl(content: &str, name: &str) -> Result<(Vec<Utterance>, InputIssues)> {
    let mut issues = InputIssues::default();
    let mut out = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            issues.empty_lines.push(format!("{name}:{line}"));
            continue;
        }
        let u: Utterance = serde_json::from_str(raw).map_err(|e| Error::BadLine {
            file: name.to_string(),
            line,
            problem: e.to_string(),
        })?;
        if let Some(&first_line) = seen.get(&u.id) {
            return Err(Error::DuplicateId {
                file: name.to_string(),
                line,
                first_line,
                id: u.id,
            });
        }
        seen.insert(u.id.clone(), line);
        out.push(u);
    }
    if out.is_empty() {
        return Err(Error::Empty);
    }
    Ok((out, issues))
}

/// Reads a JSONL pairs file, see [`parse_jsonl`].
///
/// # Errors
/// [`Error::Io`] plus those of [`parse_jsonl`].
pub fn read_jsonl(path: &Path) -> Result<(Vec<Utterance>, InputIssues)> {
    parse_jsonl(&read_to_string(path)?, &path.display().to_string())
}

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
    };
    Ok(Audit {
        report,
        utterances: results,
        worst_n: opts.worst_n,
    })
}

fn write_file(path: &Path, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Audit {
    /// Writes `report.json`, `utterances.jsonl` and `report.html` into `dir` (created if needed).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`].
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        write_file(
            &dir.join("report.json"),
            &serde_json::to_string_pretty(&self.report)?,
        )?;
        let mut lines = String::new();
        for u in &self.utterances {
            lines.push_str(&serde_json::to_string(u)?);
            lines.push('\n');
        }
        write_file(&dir.join("utterances.jsonl"), &lines)?;
        write_file(&dir.join("report.html"), &self.to_html())?;
        Ok(())
    }

    /// Self-contained HTML report (inline SVG charts, no scripts or external resources).
    pub fn to_html(&self) -> String {
        let r = &self.report;
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>ASR audit</title><style>\
body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse;margin:8px 0}}\
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}td.l{{text-align:left}}\
.M{{color:#2a7a2a}}.S{{background:#ffd8a8}}.D{{background:#ffc9c9;text-decoration:line-through}}\
.I{{background:#a5d8ff}}.utt{{margin:6px 0;padding:6px;border:1px solid #ddd;line-height:1.9}}\
.op{{padding:1px 3px;margin:0 1px;border-radius:3px}}small{{color:#666}}</style></head><body>"
        );
        let _ = write!(
            s,
            "<h1>ASR audit</h1><p>{} utterances, {} groups. Normalisation: <b>{}</b>. Alignment: error-align port \
(beam {}, word-level pass {}, method {:?}). Counts: {}.</p>",
            r.corpus.utterances,
            r.groups.len(),
            esc(&if r.normalization.is_empty() { "none (raw text)".to_string() } else { r.normalization.join(" → ") }),
            r.alignment.beam_size,
            r.alignment.word_level_pass,
            r.alignment.word_level_method,
            esc(&r.word_alignment)
        );
        s.push_str("<h2>Per-group WER (corpus-level, bootstrap 95% CI)</h2>");
        s.push_str(&self.wer_chart());
        s.push_str("<table><tr><th class=l>group</th><th>utts</th><th>WER</th><th>95% CI</th><th>diversity tax</th><th>MER</th><th>WIL</th><th>CER</th><th>mean utt WER</th><th>H</th><th>S</th><th>D</th><th>I</th></tr>");
        for g in r.groups.iter().chain(std::iter::once(&r.corpus)) {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td>{}</td><td>{:.4}</td><td>[{:.4}, {:.4}]</td><td>{:+.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&g.group), g.utterances, g.measures.wer, g.wer_ci95[0], g.wer_ci95[1], g.diversity_tax,
                g.measures.mer, g.measures.wil, g.cer, g.mean_utterance_wer, g.words.hits, g.words.substitutions,
                g.words.deletions, g.words.insertions
            );
        }
        s.push_str("</table><h2>Error-type breakdown (error-align ops per reference word)</h2>");
        s.push_str(&self.error_type_chart());
        s.push_str("<h2>Top confusions</h2><table><tr><th class=l>ref</th><th class=l>hyp</th><th>count</th></tr>");
        for c in &r.top_confusions {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td class=l>{}</td><td>{}</td></tr>",
                esc(&c.item.0),
                esc(&c.item.1),
                c.count
            );
        }
        s.push_str("</table><div style=\"display:flex;gap:40px\"><div><h3>Top deleted</h3><table>");
        for c in &r.top_deleted {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td>{}</td></tr>",
                esc(&c.item),
                c.count
            );
        }
        s.push_str("</table></div><div><h3>Top inserted</h3><table>");
        for c in &r.top_inserted {
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td>{}</td></tr>",
                esc(&c.item),
                c.count
            );
        }
        s.push_str("</table></div></div>");
        let iss = &r.input_issues;
        if !iss.empty_lines.is_empty()
            || !iss.missing_hypotheses.is_empty()
            || !iss.missing_references.is_empty()
        {
            let _ = write!(
                s,
                "<h2>Input issues</h2><p>{} empty lines skipped, {} refs without hyp (scored as empty), {} hyps without ref (ignored). See report.json.</p>",
                iss.empty_lines.len(), iss.missing_hypotheses.len(), iss.missing_references.len()
            );
        }
        let _ = write!(
            s,
            "<h2>Worst utterances</h2><p><span class=\"op M\">match</span> <span class=\"op S\">substitution (hyp → ref)</span> \
<span class=\"op D\">deletion</span> <span class=\"op I\">insertion</span> <small>- marks a compound piece</small></p>"
        );
        let mut worst: Vec<&UtteranceResult> = self.utterances.iter().collect();
        worst.sort_by(|a, b| {
            b.words
                .errors()
                .cmp(&a.words.errors())
                .then(b.measures.wer.total_cmp(&a.measures.wer))
        });
        for u in worst.iter().take(self.worst_n) {
            let _ = write!(
                s,
                "<div class=utt><small>{} · {} · WER {:.3} · S{} D{} I{}</small><br>",
                esc(&u.id),
                esc(&u.group),
                u.measures.wer,
                u.words.substitutions,
                u.words.deletions,
                u.words.insertions
            );
            for o in &u.ops {
                let hyp = format!(
                    "{}{}{}",
                    if o.left_compound { "-" } else { "" },
                    o.hyp_text.as_deref().unwrap_or(""),
                    if o.right_compound { "-" } else { "" }
                );
                let (class, text) = match o.op_type {
                    OpType::Match => ("M", o.ref_text.clone().unwrap_or_default()),
                    OpType::Delete => ("D", o.ref_text.clone().unwrap_or_default()),
                    OpType::Insert => ("I", hyp),
                    OpType::Substitute => (
                        "S",
                        format!("{} → {}", hyp, o.ref_text.as_deref().unwrap_or("")),
                    ),
                };
                let _ = write!(s, "<span class=\"op {class}\">{}</span> ", esc(&text));
            }
            s.push_str("</div>");
        }
        s.push_str("</body></html>\n");
        s
    }

    fn wer_chart(&self) -> String {
        let gs = &self.report.groups;
        let max = gs
            .iter()
            .map(|g| g.wer_ci95[1].max(g.measures.wer))
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let (w, row, left) = (900.0, 28.0, 170.0);
        let h = row * gs.len() as f64 + 40.0;
        let scale = (w - left - 80.0) / max;
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-size=\"12\">");
        for (k, g) in gs.iter().enumerate() {
            let y = 10.0 + row * k as f64;
            let bw = g.measures.wer * scale;
            let best = g.group == self.report.best_group;
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{}\" fill=\"{}\"/>\
<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\"/><text x=\"{:.1}\" y=\"{}\">{:.3}</text>",
                left - 6.0, y + 15.0, esc(&g.group), row - 8.0, if best { "#2f9e44" } else { "#4263eb" },
                left + g.wer_ci95[0] * scale, left + g.wer_ci95[1] * scale, y + 10.0, y + 10.0,
                left + g.wer_ci95[1].max(g.measures.wer) * scale + 6.0, y + 15.0, g.measures.wer
            );
        }
        let _ = write!(s, "<text x=\"{left}\" y=\"{}\" fill=\"#666\">WER (bar), 95% bootstrap CI (line); green = best group</text></svg>", h - 8.0);
        s
    }

    fn error_type_chart(&self) -> String {
        let gs = &self.report.groups;
        let (w, row, left) = (900.0, 28.0, 170.0);
        let h = row * gs.len() as f64 + 40.0;
        let rate = |g: &GroupSummary, n: usize| n as f64 / (g.words.ref_len().max(1)) as f64;
        let max = gs
            .iter()
            .map(|g| {
                rate(
                    g,
                    g.op_counts.substitutions + g.op_counts.deletions + g.op_counts.insertions,
                )
            })
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let scale = (w - left - 40.0) / max;
        let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-size=\"12\">");
        for (k, g) in gs.iter().enumerate() {
            let y = 10.0 + row * k as f64;
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 6.0,
                y + 15.0,
                esc(&g.group)
            );
            let mut x = left;
            for (n, color) in [
                (
                    g.op_counts.substitutions - g.op_counts.segmentation,
                    "#f08c00",
                ),
                (g.op_counts.segmentation, "#ffd43b"),
                (g.op_counts.deletions, "#e03131"),
                (g.op_counts.insertions, "#1c7ed6"),
            ] {
                let bw = rate(g, n) * scale;
                let _ = write!(s, "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{bw:.1}\" height=\"{}\" fill=\"{color}\"/>", row - 8.0);
                x += bw;
            }
        }
        let _ = write!(
            s,
            "<text x=\"{left}\" y=\"{}\" fill=\"#666\">orange substitutions, yellow segmentation (compound) substitutions, red deletions, blue insertions</text></svg>",
            h - 8.0
        );
        s
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
