//! Diversity audit over a panel of systems: per-group WER / MER / EmbER / SemDist with bootstrap
//! CIs, sample difficulty (SDI-rank, SDI-fit; this project's reading of the paper), data maps
//! across the panel, and the utterances on which WER and SemDist disagree most.
//! Writes `report.json`, `utterances.jsonl` and a self-contained `report.html`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::Utterance;
use crate::cartography::{
    cartography, confidence_from_error, confidence_from_semdist, data_map_svg, CartographyOptions,
    MapPoint, Region,
};
use crate::difficulty::{
    group_stats, percentile_ranks, sdi_fit, sdi_rank, FactorTable, GroupStat, SdiFit,
};
use crate::html::esc;
use crate::metrics::{jiwer_words, ErrorCounts};
use crate::semantic::{
    ember, semdist_raw, semdist_scaled, EmberOptions, SemDistOptions, SentenceEncoder,
    WordSimilarity,
};
use crate::{Error, Normalizer, Result};

/// One system of the panel: a name and its utterances (same ids, groups and references as the
/// other systems).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInput {
    /// System name (e.g. the hypothesis file name).
    pub name: String,
    /// Utterances with this system's hypotheses.
    pub utterances: Vec<Utterance>,
}

/// Diversity-audit options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DiversityOptions {
    /// Normalisation applied to both sides before every metric. Default: [`Normalizer::standard`].
    pub normalizer: Normalizer,
    /// EmbER settings. Default: τ 0.4, weights 0.1 / 1, denominator N.
    pub ember: EmberOptions,
    /// SemDist settings. Default: α = 1000.
    pub semdist: SemDistOptions,
    /// Data-map settings.
    pub cartography: CartographyOptions,
    /// A pair counts as "semantically correct" when raw SemDist ≤ this δ. Default 0.02.
    pub semdist_correct: f64,
    /// Bootstrap resamples. Default 1000.
    pub bootstrap_samples: usize,
    /// Bootstrap seed. Default 0.
    pub seed: u64,
    /// Reference group of the diversity tax. Default: the group with the lowest panel-mean WER.
    pub reference_group: Option<String>,
    /// Length of the WER-vs-SemDist disagreement list. Default 15.
    pub top_disagreements: usize,
}

impl Default for DiversityOptions {
    fn default() -> Self {
        Self {
            normalizer: Normalizer::standard(),
            ember: EmberOptions::default(),
            semdist: SemDistOptions::default(),
            cartography: CartographyOptions::default(),
            semdist_correct: 0.02,
            bootstrap_samples: 1000,
            seed: 0,
            reference_group: None,
            top_disagreements: 15,
        }
    }
}

impl DiversityOptions {
    /// Sets the normaliser.
    pub fn normalizer(mut self, n: Normalizer) -> Self {
        self.normalizer = n;
        self
    }
    /// Sets the EmbER options.
    pub fn ember(mut self, e: EmberOptions) -> Self {
        self.ember = e;
        self
    }
    /// Sets the SemDist options.
    pub fn semdist(mut self, s: SemDistOptions) -> Self {
        self.semdist = s;
        self
    }
    /// Sets the cartography options.
    pub fn cartography(mut self, c: CartographyOptions) -> Self {
        self.cartography = c;
        self
    }
    /// Sets the bootstrap resamples.
    pub fn bootstrap_samples(mut self, b: usize) -> Self {
        self.bootstrap_samples = b;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Sets the reference group.
    pub fn reference_group(mut self, g: impl Into<String>) -> Self {
        self.reference_group = Some(g.into());
        self
    }
    /// Sets the length of the disagreement list.
    pub fn top_disagreements(mut self, k: usize) -> Self {
        self.top_disagreements = k;
        self
    }
}

/// Per-utterance metrics of one system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairMetrics {
    /// Normalised hypothesis.
    pub hypothesis: String,
    /// Word counts (jiwer semantics on the normalised text).
    pub counts: ErrorCounts,
    /// WER.
    pub wer: f64,
    /// MER.
    pub mer: f64,
    /// EmbER weighted errors (I + D + Σ w).
    pub ember_errors: f64,
    /// EmbER under the chosen denominator.
    pub ember: f64,
    /// Raw SemDist `1 − cos` (unclipped).
    pub semdist_raw: f64,
}

/// One utterance across the panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtteranceRecord {
    /// Id.
    pub id: String,
    /// Group.
    pub group: String,
    /// Normalised reference.
    pub reference: String,
    /// One entry per system, in panel order.
    pub systems: Vec<PairMetrics>,
    /// SDI-rank (WER percentiles averaged over systems).
    pub sdi_rank: f64,
    /// SDI-fit (z-score of the factor-attributed WER).
    pub sdi_fit: f64,
    /// Data-map point with WER-based confidence (correct = WER 0).
    pub map_wer: MapPoint,
    /// Data-map point with SemDist-based confidence (correct = raw SemDist ≤ δ).
    pub map_semdist: MapPoint,
}

/// Per-group metrics of one system (ratio-of-sums CIs: WER = ΣE/ΣN, MER = ΣE/Σ(H+S+D+I),
/// EmbER = Σ weighted errors / Σ denominators; SemDist = mean of the scaled, clipped values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemGroups {
    /// System name.
    pub system: String,
    /// Corpus WER / MER / EmbER / SemDist (scaled).
    pub corpus: BTreeMap<String, f64>,
    /// Per metric (`wer`, `mer`, `ember`, `semdist`), per group.
    pub groups: BTreeMap<String, Vec<GroupStat>>,
}

/// SDI summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdiSummary {
    /// What the SDI is computed from.
    pub definition: String,
    /// SDI-rank by group (CI over utterances).
    pub rank_by_group: Vec<GroupStat>,
    /// SDI-fit regression.
    pub fit: SdiFit,
    /// SDI-fit by group.
    pub fit_by_group: Vec<GroupStat>,
    /// Per group: mean contribution of each factor to the fitted WER (error units).
    pub decomposition: BTreeMap<String, BTreeMap<String, f64>>,
    /// Spearman correlation of SDI-rank with each panel-mean per-utterance metric.
    pub spearman_with: BTreeMap<String, f64>,
}

/// An utterance on which WER and SemDist disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    /// Utterance id.
    pub id: String,
    /// Group.
    pub group: String,
    /// System.
    pub system: String,
    /// Normalised reference.
    pub reference: String,
    /// Normalised hypothesis.
    pub hypothesis: String,
    /// WER.
    pub wer: f64,
    /// Scaled SemDist.
    pub semdist: f64,
    /// Percentile of WER minus percentile of SemDist (> 0: WER harsher than meaning loss).
    pub rank_gap: f64,
}

/// `report.json` of a diversity audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiversityReport {
    /// Systems in panel order.
    pub systems: Vec<String>,
    /// Utterances per system.
    pub utterances: usize,
    /// Normalisation steps.
    pub normalization: Vec<String>,
    /// Sentence encoder description.
    pub encoder: String,
    /// Word similarity used by EmbER.
    pub word_similarity: String,
    /// SemDist scale α.
    pub semdist_scale: f64,
    /// EmbER settings.
    pub ember: EmberOptions,
    /// Data-map settings.
    pub cartography: CartographyOptions,
    /// Raw-SemDist threshold δ for "semantically correct".
    pub semdist_correct: f64,
    /// How word alignments are chosen.
    pub tie_breaking: String,
    /// Bootstrap description.
    pub bootstrap: String,
    /// Reference group of the diversity tax.
    pub reference_group: String,
    /// Warnings to show prominently (fallback encoders, …).
    pub warnings: Vec<String>,
    /// Per system: corpus and per-group metrics.
    pub per_system: Vec<SystemGroups>,
    /// Sample difficulty.
    pub sdi: SdiSummary,
    /// Region counts per group: `{map: {group: {region: n}}}`.
    pub regions: BTreeMap<String, BTreeMap<String, BTreeMap<String, usize>>>,
    /// Utterances whose WER map region differs from their SemDist map region.
    pub region_disagreements: usize,
    /// Largest WER-vs-SemDist rank gaps (both directions).
    pub disagreements: Vec<Disagreement>,
}

/// Diversity audit result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiversityAudit {
    /// Summary.
    pub report: DiversityReport,
    /// Per-utterance records.
    pub records: Vec<UtteranceRecord>,
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (percentile_ranks(a), percentile_ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

/// Runs the audit. `warnings` are copied into the report (e.g. "fallback encoder").
///
/// # Errors
/// [`Error::Empty`], [`Error::InvalidInput`] when systems disagree on ids / references / groups,
/// encoder and metric errors.
pub fn diversity_audit(
    panel: &[SystemInput],
    encoder: &dyn SentenceEncoder,
    words: &dyn WordSimilarity,
    opts: &DiversityOptions,
    warnings: Vec<String>,
) -> Result<DiversityAudit> {
    let first = panel.first().ok_or(Error::Empty)?;
    if first.utterances.is_empty() {
        return Err(Error::Empty);
    }
    let n = first.utterances.len();
    let index: HashMap<&str, usize> = first
        .utterances
        .iter()
        .enumerate()
        .map(|(k, u)| (u.id.as_str(), k))
        .collect();
    // Hypotheses per system in the first system's utterance order.
    let mut hyps: Vec<Vec<&str>> = Vec::with_capacity(panel.len());
    for s in panel {
        if s.utterances.len() != n {
            return Err(Error::InvalidInput {
                what: "panel",
                reason: format!(
                    "system {:?} has {} utterances, {:?} has {n}",
                    s.name,
                    s.utterances.len(),
                    first.name
                ),
            });
        }
        let mut h = vec![""; n];
        for u in &s.utterances {
            let k = *index
                .get(u.id.as_str())
                .ok_or_else(|| Error::InvalidInput {
                    what: "panel",
                    reason: format!("system {:?}: id {:?} not in {:?}", s.name, u.id, first.name),
                })?;
            let f = &first.utterances[k];
            if f.reference != u.reference || f.group != u.group {
                return Err(Error::InvalidInput {
                    what: "panel",
                    reason: format!(
                        "system {:?}: id {:?} has another reference or group",
                        s.name, u.id
                    ),
                });
            }
            h[k] = u.hypothesis.as_str();
        }
        hyps.push(h);
    }
    let norm = |s: &str| opts.normalizer.apply(s);
    let refs: Vec<String> = first
        .utterances
        .iter()
        .map(|u| norm(&u.reference))
        .collect();
    let groups: Vec<String> = first
        .utterances
        .iter()
        .map(|u| u.group.clone().unwrap_or_else(|| "all".into()))
        .collect();
    let ref_words: Vec<Vec<String>> = refs.iter().map(|r| jiwer_words(r)).collect();
    let ref_strs: Vec<&str> = refs.iter().map(String::as_str).collect();

    let mut per_sys: Vec<Vec<PairMetrics>> = Vec::with_capacity(panel.len());
    for h in &hyps {
        let hn: Vec<String> = h.iter().map(|x| norm(x)).collect();
        let hn_strs: Vec<&str> = hn.iter().map(String::as_str).collect();
        let sem = semdist_raw(encoder, &ref_strs, &hn_strs, &opts.semdist)?;
        let rows: Vec<PairMetrics> = (0..n)
            .into_par_iter()
            .map(|i| {
                let hw = jiwer_words(&hn[i]);
                let counts = ErrorCounts::from_sequences(&ref_words[i], &hw);
                let m = counts.measures();
                let e = ember(&ref_words[i], &hw, words, &opts.ember)?;
                Ok(PairMetrics {
                    hypothesis: hn[i].clone(),
                    counts,
                    wer: m.wer,
                    mer: m.mer,
                    ember_errors: e.weighted_errors,
                    ember: e.score,
                    semdist_raw: sem[i],
                })
            })
            .collect::<Result<_>>()?;
        per_sys.push(rows);
    }

    // Per-system group statistics.
    let alpha = opts.semdist.scale;
    let b = opts.bootstrap_samples;
    let mean_wer_by_group = {
        let all_wer: Vec<f64> = (0..n)
            .map(|i| per_sys.iter().map(|s| s[i].wer).sum::<f64>() / panel.len() as f64)
            .collect();
        group_stats(&groups, &all_wer, &vec![1.0; n], None, 0, 0)?
    };
    let reference_group = match &opts.reference_group {
        Some(g) => g.clone(),
        None => mean_wer_by_group
            .iter()
            .min_by(|a, c| a.mean.total_cmp(&c.mean))
            .map(|g| g.group.clone())
            .unwrap_or_default(),
    };
    let rg = Some(reference_group.as_str());
    let mut per_system = Vec::new();
    for (k, (s, rows)) in panel.iter().zip(&per_sys).enumerate() {
        let seed = opts.seed.wrapping_add(1000 * k as u64);
        let nref: Vec<f64> = rows.iter().map(|r| r.counts.ref_len() as f64).collect();
        let errs: Vec<f64> = rows.iter().map(|r| r.counts.errors() as f64).collect();
        let mer_den: Vec<f64> = rows
            .iter()
            .map(|r| (r.counts.ref_len() + r.counts.insertions) as f64)
            .collect();
        let ember_den: Vec<f64> = rows
            .iter()
            .map(|r| match opts.ember.denominator {
                crate::semantic::EmberDenominator::RefLength => r.counts.ref_len() as f64,
                crate::semantic::EmberDenominator::AlignmentLength => {
                    (r.counts.ref_len() + r.counts.insertions) as f64
                }
            })
            .collect();
        let ember_num: Vec<f64> = rows.iter().map(|r| r.ember_errors).collect();
        let sem: Vec<f64> = rows
            .iter()
            .map(|r| semdist_scaled(r.semdist_raw, alpha))
            .collect();
        let ones = vec![1.0; n];
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        let ratio = |a: f64, c: f64| if c > 0.0 { a / c } else { a };
        let mut corpus = BTreeMap::new();
        corpus.insert("wer".into(), ratio(sum(&errs), sum(&nref)));
        corpus.insert("mer".into(), ratio(sum(&errs), sum(&mer_den)));
        corpus.insert("ember".into(), ratio(sum(&ember_num), sum(&ember_den)));
        corpus.insert("semdist".into(), sum(&sem) / n as f64);
        let mut g = BTreeMap::new();
        g.insert(
            "wer".into(),
            group_stats(&groups, &errs, &nref, rg, b, seed)?,
        );
        g.insert(
            "mer".into(),
            group_stats(&groups, &errs, &mer_den, rg, b, seed + 1)?,
        );
        g.insert(
            "ember".into(),
            group_stats(&groups, &ember_num, &ember_den, rg, b, seed + 2)?,
        );
        g.insert(
            "semdist".into(),
            group_stats(&groups, &sem, &ones, rg, b, seed + 3)?,
        );
        per_system.push(SystemGroups {
            system: s.name.clone(),
            corpus,
            groups: g,
        });
    }

    // SDI on per-utterance WER.
    let wer_panel: Vec<Vec<f64>> = per_sys
        .iter()
        .map(|s| s.iter().map(|r| r.wer).collect())
        .collect();
    let rank = sdi_rank(&wer_panel)?;
    let lens: Vec<f64> = ref_words.iter().map(|w| w.len() as f64).collect();
    let mut factors = FactorTable::new(n).categorical("group", &groups, &reference_group)?;
    // A constant length would duplicate the system intercepts (singular design): leave it out.
    if lens.iter().any(|&l| l != lens[0]) {
        factors = factors.numeric("ref_words", lens)?;
    }
    let fit = sdi_fit(&wer_panel, &factors)?;
    let ones = vec![1.0; n];
    let rank_by_group = group_stats(&groups, &rank, &ones, rg, b, opts.seed + 77)?;
    let fit_by_group = group_stats(&groups, &fit.sdi, &ones, rg, b, opts.seed + 78)?;
    let mut decomposition: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        *counts.entry(g).or_default() += 1;
        let e = decomposition.entry(g.clone()).or_default();
        for (name, c) in fit.factor_names.iter().zip(&fit.contributions[i]) {
            *e.entry(name.clone()).or_default() += c;
        }
    }
    for (g, e) in decomposition.iter_mut() {
        let c = counts.get(g.as_str()).copied().unwrap_or(1) as f64;
        e.values_mut().for_each(|v| *v /= c);
    }
    let panel_mean = |f: &dyn Fn(&PairMetrics) -> f64| -> Vec<f64> {
        (0..n)
            .map(|i| per_sys.iter().map(|s| f(&s[i])).sum::<f64>() / panel.len() as f64)
            .collect()
    };
    let mut spearman_with = BTreeMap::new();
    spearman_with.insert("wer".into(), spearman(&rank, &panel_mean(&|r| r.wer)));
    spearman_with.insert("mer".into(), spearman(&rank, &panel_mean(&|r| r.mer)));
    spearman_with.insert("ember".into(), spearman(&rank, &panel_mean(&|r| r.ember)));
    spearman_with.insert(
        "semdist".into(),
        spearman(&rank, &panel_mean(&|r| r.semdist_raw)),
    );

    // Data maps across the panel.
    let q_wer: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            per_sys
                .iter()
                .map(|s| confidence_from_error(s[i].wer))
                .collect()
        })
        .collect();
    let c_wer: Vec<Vec<bool>> = (0..n)
        .map(|i| per_sys.iter().map(|s| s[i].counts.errors() == 0).collect())
        .collect();
    let q_sem: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            per_sys
                .iter()
                .map(|s| confidence_from_semdist(s[i].semdist_raw))
                .collect()
        })
        .collect();
    let c_sem: Vec<Vec<bool>> = (0..n)
        .map(|i| {
            per_sys
                .iter()
                .map(|s| s[i].semdist_raw <= opts.semdist_correct)
                .collect()
        })
        .collect();
    let map_wer = cartography(&q_wer, &c_wer, &opts.cartography)?;
    let map_sem = cartography(&q_sem, &c_sem, &opts.cartography)?;
    let mut regions: BTreeMap<String, BTreeMap<String, BTreeMap<String, usize>>> = BTreeMap::new();
    for (name, map) in [("wer", &map_wer), ("semdist", &map_sem)] {
        let m = regions.entry(name.into()).or_default();
        for (p, g) in map.iter().zip(&groups) {
            *m.entry(g.clone())
                .or_default()
                .entry(p.region.name().into())
                .or_default() += 1;
        }
    }
    let region_disagreements = map_wer
        .iter()
        .zip(&map_sem)
        .filter(|(a, c)| a.region != c.region)
        .count();

    // WER vs SemDist disagreement over all (system, utterance) pairs.
    let all_wer: Vec<f64> = per_sys.iter().flatten().map(|r| r.wer).collect();
    let all_sem: Vec<f64> = per_sys.iter().flatten().map(|r| r.semdist_raw).collect();
    let (pw, ps) = (percentile_ranks(&all_wer), percentile_ranks(&all_sem));
    let mut gaps: Vec<(usize, f64)> = pw.iter().zip(&ps).map(|(a, c)| a - c).enumerate().collect();
    gaps.sort_by(|a, c| c.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&c.0)));
    let disagreements = gaps
        .iter()
        .take(opts.top_disagreements)
        .map(|&(k, gap)| {
            let (s, i) = (k / n, k % n);
            let r = &per_sys[s][i];
            Disagreement {
                id: first.utterances[i].id.clone(),
                group: groups[i].clone(),
                system: panel[s].name.clone(),
                reference: refs[i].clone(),
                hypothesis: r.hypothesis.clone(),
                wer: r.wer,
                semdist: semdist_scaled(r.semdist_raw, alpha),
                rank_gap: gap,
            }
        })
        .collect();

    let records = (0..n)
        .map(|i| UtteranceRecord {
            id: first.utterances[i].id.clone(),
            group: groups[i].clone(),
            reference: refs[i].clone(),
            systems: per_sys.iter().map(|s| s[i].clone()).collect(),
            sdi_rank: rank[i],
            sdi_fit: fit.sdi[i],
            map_wer: map_wer[i].clone(),
            map_semdist: map_sem[i].clone(),
        })
        .collect();
    let report = DiversityReport {
        systems: panel.iter().map(|s| s.name.clone()).collect(),
        utterances: n,
        normalization: opts
            .normalizer
            .describe()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        encoder: encoder.describe(),
        word_similarity: words.describe(),
        semdist_scale: alpha,
        ember: opts.ember.clone(),
        cartography: opts.cartography.clone(),
        semdist_correct: opts.semdist_correct,
        tie_breaking: "RapidFuzz/jiwer 4.0 Levenshtein backtrace on normalised words (shared by WER, MER, EmbER)".into(),
        bootstrap: format!(
            "{b} percentile-bootstrap resamples of utterances within each group, seed {}",
            opts.seed
        ),
        reference_group,
        warnings,
        per_system,
        sdi: SdiSummary {
            definition: "this project's reading (the paper's SDI formula is not public): \
SDI-rank = mean over systems of the utterance's WER percentile; SDI-fit = z-score of the \
factor part of an OLS fit of per-(utterance, system) WER on group one-hots + reference length \
+ one intercept per system"
                .into(),
            rank_by_group,
            fit,
            fit_by_group,
            decomposition,
            spearman_with,
        },
        regions,
        region_disagreements,
        disagreements,
    };
    Ok(DiversityAudit { report, records })
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DiversityAudit {
    /// SVG data map of the WER-based (`semdist = false`) or SemDist-based map, coloured by
    /// SDI-rank (WER map) or by WER correctness across the panel (SemDist map).
    pub fn data_map_svg(&self, semdist: bool) -> String {
        let pts: Vec<MapPoint> = self
            .records
            .iter()
            .map(|r| {
                if semdist {
                    r.map_semdist.clone()
                } else {
                    r.map_wer.clone()
                }
            })
            .collect();
        let colour: Vec<f64> = self
            .records
            .iter()
            .map(|r| {
                if semdist {
                    r.map_wer.correctness
                } else {
                    r.sdi_rank
                }
            })
            .collect();
        let titles: Vec<String> = self
            .records
            .iter()
            .map(|r| format!("{} [{}] SDI-rank {:.2}", r.id, r.group, r.sdi_rank))
            .collect();
        let (label, title) = if semdist {
            (
                "WER-correct",
                "Data map, confidence = 1 − SemDist (colour: fraction of systems with WER 0)",
            )
        } else {
            (
                "SDI-rank",
                "Data map, confidence = 1 − min(1, WER) (colour: SDI-rank)",
            )
        };
        data_map_svg(
            &pts,
            &colour,
            label,
            &titles,
            &self.report.cartography,
            title,
        )
    }

    /// Writes `report.json`, `utterances.jsonl`, `report.html`, `data_map_wer.svg` and
    /// `data_map_semdist.svg` into `dir` (created if needed).
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Json`].
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let w = |name: &str, s: &str| {
            let p = dir.join(name);
            std::fs::write(&p, s).map_err(|e| io_err(&p, e))
        };
        w("report.json", &serde_json::to_string_pretty(&self.report)?)?;
        let mut lines = String::new();
        for r in &self.records {
            lines.push_str(&serde_json::to_string(r)?);
            lines.push('\n');
        }
        w("utterances.jsonl", &lines)?;
        w("data_map_wer.svg", &self.data_map_svg(false))?;
        w("data_map_semdist.svg", &self.data_map_svg(true))?;
        w("report.html", &self.to_html())?;
        Ok(())
    }

    /// Self-contained HTML report (inline SVG, no scripts or external resources).
    pub fn to_html(&self) -> String {
        let r = &self.report;
        let mut s = String::new();
        let _ = write!(
            s,
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Diversity audit</title><style>\
body{{font-family:sans-serif;margin:24px;color:#222;max-width:1300px}}table{{border-collapse:collapse;margin:8px 0}}\
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right;font-size:13px}}th{{background:#f3f3f3}}td.l,th.l{{text-align:left}}\
.warn{{background:#ffe3e3;border:2px solid #c92a2a;padding:10px;font-weight:bold;margin:10px 0}}\
.bar{{display:inline-block;height:9px;background:#e8590c;vertical-align:middle}}.maps svg{{margin-right:16px}}\
.meta{{color:#555;font-size:13px}}</style></head><body><h1>Beyond WER: diversity audit</h1>"
        );
        for w in &r.warnings {
            let _ = write!(s, "<div class=\"warn\">⚠ {}</div>", esc(w));
        }
        let _ = write!(
            s,
            "<p class=\"meta\">{} utterances × {} systems ({}). Normalisation: {}. Encoder: {}. \
EmbER word similarity: {} (τ = {}, similar weight {}, denominator {:?}). SemDist α = {}, \
clipped at 0 in reported values. Alignment: {}. CIs: {}. Diversity tax relative to <b>{}</b>.</p>",
            r.utterances,
            r.systems.len(),
            esc(&r.systems.join(", ")),
            esc(&r.normalization.join(" → ")),
            esc(&r.encoder),
            esc(&r.word_similarity),
            r.ember.threshold,
            r.ember.similar_weight,
            r.ember.denominator,
            r.semdist_scale,
            esc(&r.tie_breaking),
            esc(&r.bootstrap),
            esc(&r.reference_group)
        );
        let _ = write!(
            s,
            "<h2>Data maps across the panel</h2><div class=\"maps\">{}{}</div>\
<p class=\"meta\">Regions: ambiguous = variability ≥ {}; otherwise easy when confidence ≥ {}, else hard. \
{} utterances fall in different regions on the two maps.</p>",
            self.data_map_svg(false),
            self.data_map_svg(true),
            r.cartography.ambiguous_variability,
            r.cartography.easy_confidence,
            r.region_disagreements
        );
        s.push_str("<h2>Per-group metrics (95% bootstrap CIs)</h2>");
        for sys in &r.per_system {
            let _ = write!(
                s,
                "<h3>{}</h3><p class=\"meta\">corpus: WER {:.3}, MER {:.3}, EmbER {:.3}, SemDist {:.1}</p>\
<table><tr><th class=\"l\">group</th><th>n</th><th>WER</th><th>tax</th><th></th><th>MER</th><th>EmbER</th><th>SemDist (×α)</th></tr>",
                esc(&sys.system),
                sys.corpus.get("wer").copied().unwrap_or(f64::NAN),
                sys.corpus.get("mer").copied().unwrap_or(f64::NAN),
                sys.corpus.get("ember").copied().unwrap_or(f64::NAN),
                sys.corpus.get("semdist").copied().unwrap_or(f64::NAN),
            );
            let get = |m: &str| sys.groups.get(m).cloned().unwrap_or_default();
            let (wer, mer, emb, sem) = (get("wer"), get("mer"), get("ember"), get("semdist"));
            for (k, g) in wer.iter().enumerate() {
                let cell = |v: &[GroupStat], d: usize| {
                    v.get(k).map_or(String::new(), |x| {
                        format!(
                            "{:.d$} <small>[{:.d$}, {:.d$}]</small>",
                            x.mean, x.ci95[0], x.ci95[1]
                        )
                    })
                };
                let _ = write!(
                    s,
                    "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{:+.3}</td>\
<td class=\"l\"><span class=\"bar\" style=\"width:{:.0}px\"></span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&g.group),
                    g.n,
                    cell(&wer, 3),
                    g.tax,
                    (g.tax.max(0.0) * 150.0).min(300.0),
                    cell(&mer, 3),
                    cell(&emb, 3),
                    cell(&sem, 1)
                );
            }
            s.push_str("</table>");
        }
        let sdi = &r.sdi;
        let _ = write!(
            s,
            "<h2>Sample difficulty index</h2><p class=\"meta\">{}. SDI-fit R² = {:.3}; Spearman(SDI-rank, metric): {}.</p>\
<table><tr><th class=\"l\">group</th><th>n</th><th>SDI-rank</th><th>tax</th><th>SDI-fit</th><th>tax</th>",
            esc(&sdi.definition),
            sdi.fit.r_squared,
            sdi.spearman_with
                .iter()
                .map(|(k, v)| format!("{k} {v:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for f in &sdi.fit.factor_names {
            let _ = write!(s, "<th>{}</th>", esc(f));
        }
        s.push_str("</tr>");
        for (k, g) in sdi.rank_by_group.iter().enumerate() {
            let f = sdi.fit_by_group.get(k);
            let _ = write!(
                s,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{:.3} <small>[{:.3}, {:.3}]</small></td><td>{:+.3}</td><td>{}</td><td>{}</td>",
                esc(&g.group),
                g.n,
                g.mean,
                g.ci95[0],
                g.ci95[1],
                g.tax,
                f.map_or(String::new(), |x| format!(
                    "{:+.2} <small>[{:+.2}, {:+.2}]</small>",
                    x.mean, x.ci95[0], x.ci95[1]
                )),
                f.map_or(String::new(), |x| format!("{:+.2}", x.tax)),
            );
            let dec = sdi.decomposition.get(&g.group);
            for name in &sdi.fit.factor_names {
                let v = dec.and_then(|d| d.get(name)).copied().unwrap_or(0.0);
                let _ = write!(s, "<td>{v:+.3}</td>");
            }
            s.push_str("</tr>");
        }
        s.push_str("</table><p class=\"meta\">Factor columns: mean contribution β·(x − x̄) of each factor to the group's fitted WER.</p>");
        s.push_str("<h2>Map regions by group</h2><table><tr><th class=\"l\">map</th><th class=\"l\">group</th><th>easy</th><th>ambiguous</th><th>hard</th></tr>");
        for (map, gs) in &r.regions {
            for (g, c) in gs {
                let n = |x: Region| c.get(x.name()).copied().unwrap_or(0);
                let _ = write!(
                    s,
                    "<tr><td class=\"l\">{map}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(g),
                    n(Region::Easy),
                    n(Region::Ambiguous),
                    n(Region::Hard)
                );
            }
        }
        s.push_str("</table><h2>Where WER and SemDist disagree most</h2><p class=\"meta\">rank gap = WER percentile − SemDist percentile over all (system, utterance) pairs; positive: WER punishes more than the meaning loss, negative: few word errors but a large meaning change.</p>\
<table><tr><th class=\"l\">id</th><th class=\"l\">group</th><th class=\"l\">system</th><th class=\"l\">reference</th><th class=\"l\">hypothesis</th><th>WER</th><th>SemDist</th><th>gap</th></tr>");
        for d in &r.disagreements {
            let _ = write!(
                s,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{:.3}</td><td>{:.1}</td><td>{:+.2}</td></tr>",
                esc(&d.id),
                esc(&d.group),
                esc(&d.system),
                esc(&d.reference),
                esc(&d.hypothesis),
                d.wer,
                d.semdist,
                d.rank_gap
            );
        }
        s.push_str("</table></body></html>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic::{HashedNgramEncoder, WordVectors};

    fn utt(id: &str, g: &str, r: &str, h: &str) -> Utterance {
        Utterance {
            id: id.into(),
            group: Some(g.into()),
            reference: r.into(),
            hypothesis: h.into(),
        }
    }

    #[test]
    fn small_panel_end_to_end() {
        let a = SystemInput {
            name: "a".into(),
            utterances: vec![
                utt("1", "x", "the cat sat", "the cat sat"),
                utt("2", "x", "a b c d", "a b c d"),
                utt("3", "y", "the cat sat", "the dog sat"),
                utt("4", "y", "one two three", "won too tree"),
            ],
        };
        let mut b = a.clone();
        b.name = "b".into();
        b.utterances[0].hypothesis = "the hat sat".into();
        b.utterances.reverse(); // order must not matter
        let vecs =
            WordVectors::from_pairs([("cat", vec![1.0, 0.0]), ("dog", vec![0.8, 0.6])]).unwrap();
        let enc = HashedNgramEncoder::default();
        let out = diversity_audit(
            &[a.clone(), b],
            &enc,
            &vecs,
            &DiversityOptions::default().bootstrap_samples(50),
            vec!["test warning".into()],
        )
        .unwrap();
        let r = &out.report;
        assert_eq!(r.reference_group, "x");
        let wer_y = &r.per_system[0].groups["wer"][1];
        assert_eq!(wer_y.group, "y");
        assert!((wer_y.mean - 4.0 / 6.0).abs() < 1e-12);
        // EmbER of system a, group y: (0.1 + 3)/6 (cat→dog cos 0.8 ≥ 0.4).
        let ember_y = &r.per_system[0].groups["ember"][1];
        assert!((ember_y.mean - 3.1 / 6.0).abs() < 1e-12);
        assert_eq!(out.records[0].systems[1].hypothesis, "the hat sat");
        assert!(out.records[3].sdi_rank > out.records[1].sdi_rank);
        let html = out.to_html();
        assert!(html.contains("test warning") && html.contains("<svg"));
        // A system missing an utterance is an error naming the system.
        let mut c = a.clone();
        c.name = "c".into();
        c.utterances.pop();
        let e = diversity_audit(
            &[a, c],
            &enc,
            &vecs,
            &DiversityOptions::default(),
            Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }) && e.to_string().contains("\"c\""));
    }
}
