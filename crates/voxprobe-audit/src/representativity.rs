//! Is the audit set representative? Coverage and distribution measures of an audit sample against
//! a target population, and the population-weighted (post-stratified) WER/CER.
//!
//! # Source of the definitions
//!
//! The motivation is Clemmensen & Kjærsgaard, *Data Representativity for Machine Learning and AI
//! Systems* (arXiv:2203.04706): a "representative sample" can mean a sample that **covers** the
//! input space or one that **mimics the distribution** of the target population, and the two pull
//! in opposite directions. The paper's full text (its formal definitions and section numbers) was
//! **not available** when this module was written, so nothing here claims to be the paper's exact
//! formulae. The measures below are standard ones, each defined in its own doc comment, chosen to
//! make the paper's two notions (plus the joint-versus-marginal question its census example
//! raises) measurable:
//!
//! 1. **Coverage** — of population strata ([`StrataCoverage`]: share of the strata with a positive
//!    target share that hold at least `min_count` sample utterances, and the population mass they
//!    carry) and of an input space ([`CellCoverage`]: k-means cells of a reference population's features that
//!    the sample reaches, and the reference mass of those cells).
//! 2. **Distributional fidelity** — distances between the sample's stratum shares `p` and the
//!    target shares `q`: total variation `½ Σ |p − q|`, Hellinger `sqrt(½ Σ (√p − √q)²)` and
//!    `KL(q ‖ p) = Σ q ln(q / p)` (`None` = +∞ when a target stratum has no sample).
//! 3. **Joint versus marginals** ([`JointVsMarginals`]) — with a joint target table, the total
//!    variation of the joint next to that of every marginal: a sample can match each marginal and
//!    still miss the joint.
//!
//! The population-weighted WER is classical post-stratification ([`PostStratified`]): within each
//! stratum the corpus WER (summed counts, as jiwer), then `Σ_s W_s · WER_s` with the target weights
//! `W_s`. Strata with target weight but no sample are listed in `missing_strata` and the estimate
//! covers only the reached part of the population (`covered_weight`; weights renormalised over it);
//! sample strata that the population does not list get weight 0 and are listed in `extra_strata`.
//! Confidence intervals: stratified percentile bootstrap (utterances resampled with replacement
//! within each stratum, stratum sizes fixed).
//!
//! # Inputs
//!
//! * Attributes ([`Attributes`]): one row per utterance id, TSV with a header (`id<TAB>accent<TAB>…`)
//!   or JSONL (`{"id": "…", "accent": "…", …}`; values strings or numbers).
//! * Population ([`Population`]): TSV with a header. Either a **joint** table — one column per
//!   attribute and a `share` column (`accent<TAB>gender<TAB>share`) — or **marginals** in long form
//!   (`attribute<TAB>value<TAB>share`). Shares are non-negative weights (counts are fine); they are
//!   normalised to sum to 1 per table (per attribute for marginals).
//!
//! The one call for a command line is [`Audit::add_representativity`](crate::audit::Audit::add_representativity).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::audit::UtteranceResult;
use crate::input::read_to_string;
use crate::metrics::ErrorCounts;
use crate::{Error, Result};

/// Tolerance for "the shares sum to one" in the distance functions (rounding of shares written
/// with a few decimals, not of the algorithms).
pub const SHARE_SUM_TOLERANCE: f64 = 1e-6;

/// Separator used to name a joint stratum (`"us × f"`).
pub const JOINT_SEPARATOR: &str = " × ";

fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        what,
        reason: reason.into(),
    }
}

fn bad_line(file: &str, line: usize, problem: impl Into<String>) -> Error {
    Error::BadLine {
        file: file.to_string(),
        line,
        problem: problem.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Distances between two distributions on the same support
// ---------------------------------------------------------------------------------------------

fn check_distribution(what: &'static str, p: &[f64]) -> Result<()> {
    if p.is_empty() {
        return Err(invalid(what, "empty distribution"));
    }
    if let Some(x) = p.iter().find(|x| !x.is_finite() || **x < 0.0) {
        return Err(invalid(
            what,
            format!("share {x} is negative or not finite"),
        ));
    }
    let s: f64 = p.iter().sum();
    if (s - 1.0).abs() > SHARE_SUM_TOLERANCE {
        return Err(invalid(what, format!("shares sum to {s}, not 1")));
    }
    Ok(())
}

fn check_pair(p: &[f64], q: &[f64]) -> Result<()> {
    check_distribution("sample shares", p)?;
    check_distribution("target shares", q)?;
    if p.len() != q.len() {
        return Err(invalid(
            "shares",
            format!("{} sample shares but {} target shares", p.len(), q.len()),
        ));
    }
    Ok(())
}

/// Total variation distance `½ Σ |p_i − q_i|`, in `[0, 1]`.
///
/// # Errors
/// [`Error::InvalidInput`] for empty, negative, non-finite, unequal-length inputs or inputs that do
/// not sum to 1 (within [`SHARE_SUM_TOLERANCE`]).
pub fn total_variation(p: &[f64], q: &[f64]) -> Result<f64> {
    check_pair(p, q)?;
    Ok(0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>())
}

/// Hellinger distance `sqrt(½ Σ (√p_i − √q_i)²)`, in `[0, 1]`.
///
/// # Errors
/// As [`total_variation`].
pub fn hellinger(p: &[f64], q: &[f64]) -> Result<f64> {
    check_pair(p, q)?;
    let s: f64 = p
        .iter()
        .zip(q)
        .map(|(a, b)| (a.sqrt() - b.sqrt()).powi(2))
        .sum();
    Ok((0.5 * s).sqrt())
}

/// Kullback–Leibler divergence `KL(q ‖ p) = Σ q_i ln(q_i / p_i)` of the target `q` from the sample
/// `p` (nats), `0 · ln(0 / p) = 0`. `None` means +∞: some `q_i > 0` has `p_i = 0` (a stratum of the
/// population with no sample).
///
/// # Errors
/// As [`total_variation`].
pub fn kl_target_from_sample(p: &[f64], q: &[f64]) -> Result<Option<f64>> {
    check_pair(p, q)?;
    let mut s = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        if b == 0.0 {
            continue;
        }
        if a == 0.0 {
            return Ok(None);
        }
        s += b * (b / a).ln();
    }
    Ok(Some(s))
}

/// The three distances between sample shares `p` and target shares `q`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Distances {
    /// [`total_variation`].
    pub total_variation: f64,
    /// [`hellinger`].
    pub hellinger: f64,
    /// [`kl_target_from_sample`]; `None` = +∞ (a target stratum has no sample).
    pub kl_target_from_sample: Option<f64>,
}

impl Distances {
    /// All three distances.
    ///
    /// # Errors
    /// As [`total_variation`].
    pub fn new(p: &[f64], q: &[f64]) -> Result<Self> {
        Ok(Self {
            total_variation: total_variation(p, q)?,
            hellinger: hellinger(p, q)?,
            kl_target_from_sample: kl_target_from_sample(p, q)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// Per-utterance attributes (accent, gender, age band, …), one row per utterance id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    names: Vec<String>,
    rows: HashMap<String, Vec<String>>,
}

impl Attributes {
    /// Attribute names, in file order (without `id`).
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// Value of `attribute` for utterance `id` (`None`: unknown id or attribute).
    pub fn get(&self, id: &str, attribute: &str) -> Option<&str> {
        let k = self.names.iter().position(|n| n == attribute)?;
        self.rows.get(id)?.get(k).map(String::as_str)
    }

    /// Parses TSV with a header line `id<TAB>attr1<TAB>attr2…`; every row has every column.
    ///
    /// # Errors
    /// [`Error::BadLine`] (no `id` column, wrong field count, empty id or value),
    /// [`Error::DuplicateId`], [`Error::Empty`] (no rows).
    pub fn parse_tsv(content: &str, name: &str) -> Result<Self> {
        let mut lines = content
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or(Error::Empty)?;
        let cols: Vec<String> = header.split('\t').map(|s| s.trim().to_string()).collect();
        let id_col = cols
            .iter()
            .position(|c| c == "id")
            .ok_or_else(|| bad_line(name, 1, "header has no `id` column"))?;
        let names: Vec<String> = cols
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != id_col)
            .map(|(_, c)| c.clone())
            .collect();
        if names.is_empty() {
            return Err(bad_line(name, 1, "header has no attribute column"));
        }
        let mut out = Self {
            names,
            rows: HashMap::new(),
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (k, raw) in lines {
            let line = k + 1;
            let f: Vec<&str> = raw.split('\t').map(str::trim).collect();
            if f.len() != cols.len() {
                return Err(bad_line(
                    name,
                    line,
                    format!(
                        "expected {} tab-separated fields, found {}",
                        cols.len(),
                        f.len()
                    ),
                ));
            }
            let id = f.get(id_col).copied().unwrap_or_default().to_string();
            let values: Vec<String> = f
                .iter()
                .enumerate()
                .filter(|(k, _)| *k != id_col)
                .map(|(_, v)| v.to_string())
                .collect();
            out.insert(name, line, id, values, &mut seen)?;
        }
        if out.rows.is_empty() {
            return Err(Error::Empty);
        }
        Ok(out)
    }

    /// Parses JSONL: one object per line with `id` and the attributes (string or number values).
    /// The attribute set is that of the first line; every line must carry all of them.
    ///
    /// # Errors
    /// As [`Attributes::parse_tsv`].
    pub fn parse_jsonl(content: &str, name: &str) -> Result<Self> {
        let mut out = Self::default();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (k, raw) in content.lines().enumerate() {
            let line = k + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(raw).map_err(|e| bad_line(name, line, e.to_string()))?;
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let id = obj
                .get("id")
                .and_then(text)
                .ok_or_else(|| bad_line(name, line, "no string `id` field"))?;
            if out.names.is_empty() {
                out.names = obj.keys().filter(|k| *k != "id").cloned().collect();
                if out.names.is_empty() {
                    return Err(bad_line(name, line, "no attribute field besides `id`"));
                }
            }
            let mut values = Vec::with_capacity(out.names.len());
            for n in &out.names {
                let v = obj.get(n).and_then(text).ok_or_else(|| {
                    bad_line(name, line, format!("missing or non-scalar attribute {n:?}"))
                })?;
                values.push(v);
            }
            out.insert(name, line, id, values, &mut seen)?;
        }
        if out.rows.is_empty() {
            return Err(Error::Empty);
        }
        Ok(out)
    }

    /// Reads a TSV or JSONL attributes file (JSONL when the first non-blank character is `{`).
    ///
    /// # Errors
    /// [`Error::Io`] plus those of the parsers.
    pub fn read(path: &Path) -> Result<Self> {
        let content = read_to_string(path)?;
        let name = path.display().to_string();
        if content.trim_start().starts_with('{') {
            Self::parse_jsonl(&content, &name)
        } else {
            Self::parse_tsv(&content, &name)
        }
    }

    fn insert(
        &mut self,
        file: &str,
        line: usize,
        id: String,
        values: Vec<String>,
        seen: &mut HashMap<String, usize>,
    ) -> Result<()> {
        if id.is_empty() {
            return Err(bad_line(file, line, "empty id"));
        }
        if let Some(k) = values.iter().position(String::is_empty) {
            let n = self.names.get(k).cloned().unwrap_or_default();
            return Err(bad_line(file, line, format!("empty value for {n:?}")));
        }
        if let Some(&first_line) = seen.get(&id) {
            return Err(Error::DuplicateId {
                file: file.to_string(),
                line,
                first_line,
                id,
            });
        }
        seen.insert(id.clone(), line);
        self.rows.insert(id, values);
        Ok(())
    }
}

/// Target population: a joint table over several attributes, or marginals per attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// Attributes, in file order (joint) or in order of first appearance (marginals).
    pub attributes: Vec<String>,
    /// Joint shares (values in `attributes` order), normalised to sum to 1; `None` for marginals.
    pub joint: Option<Vec<(Vec<String>, f64)>>,
    /// Marginal shares per attribute, each normalised to sum to 1 (summed from the joint if given).
    pub marginals: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Population {
    /// Parses a population table (see the module docs for both layouts).
    ///
    /// # Errors
    /// [`Error::BadLine`] (no `share` column, field count, bad or negative number, duplicate
    /// stratum, a table whose shares sum to 0), [`Error::Empty`].
    pub fn parse_tsv(content: &str, name: &str) -> Result<Self> {
        let mut lines = content
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let (hk, header) = lines.next().ok_or(Error::Empty)?;
        let cols: Vec<String> = header.split('\t').map(|s| s.trim().to_string()).collect();
        let share_col = cols
            .iter()
            .position(|c| c == "share")
            .ok_or_else(|| bad_line(name, hk + 1, "header has no `share` column"))?;
        let keys: Vec<usize> = (0..cols.len()).filter(|&k| k != share_col).collect();
        if keys.is_empty() {
            return Err(bad_line(name, hk + 1, "header has no attribute column"));
        }
        let mut rows: Vec<(usize, Vec<String>, f64)> = Vec::new();
        let mut seen: HashMap<Vec<String>, usize> = HashMap::new();
        for (k, raw) in lines {
            let line = k + 1;
            let f: Vec<&str> = raw.split('\t').map(str::trim).collect();
            if f.len() != cols.len() {
                return Err(bad_line(
                    name,
                    line,
                    format!(
                        "expected {} tab-separated fields, found {}",
                        cols.len(),
                        f.len()
                    ),
                ));
            }
            let share_text = f.get(share_col).copied().unwrap_or_default();
            let share: f64 = share_text.parse().map_err(|_| {
                bad_line(name, line, format!("share {share_text:?} is not a number"))
            })?;
            if !share.is_finite() || share < 0.0 {
                return Err(bad_line(
                    name,
                    line,
                    format!("share {share} is negative or not finite"),
                ));
            }
            let key: Vec<String> = keys
                .iter()
                .map(|&c| f.get(c).copied().unwrap_or_default().to_string())
                .collect();
            if key.iter().any(String::is_empty) {
                return Err(bad_line(name, line, "empty stratum value"));
            }
            if let Some(first) = seen.insert(key.clone(), line) {
                return Err(bad_line(
                    name,
                    line,
                    format!("stratum {key:?} already given on line {first}"),
                ));
            }
            rows.push((line, key, share));
        }
        if rows.is_empty() {
            return Err(Error::Empty);
        }
        let long_form = keys.len() == 2
            && cols.get(keys[0]).map(String::as_str) == Some("attribute")
            && cols.get(keys[1]).map(String::as_str) == Some("value");
        if long_form {
            let mut attributes: Vec<String> = Vec::new();
            let mut marginals: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for (_, key, share) in &rows {
                if !attributes.contains(&key[0]) {
                    attributes.push(key[0].clone());
                }
                marginals
                    .entry(key[0].clone())
                    .or_default()
                    .insert(key[1].clone(), *share);
            }
            for (a, m) in &mut marginals {
                let s: f64 = m.values().sum();
                if s <= 0.0 {
                    return Err(bad_line(name, hk + 1, format!("shares of {a:?} sum to 0")));
                }
                m.values_mut().for_each(|v| *v /= s);
            }
            Ok(Self {
                attributes,
                joint: None,
                marginals,
            })
        } else {
            let attributes: Vec<String> = keys.iter().map(|&c| cols[c].clone()).collect();
            let s: f64 = rows.iter().map(|r| r.2).sum();
            if s <= 0.0 {
                return Err(bad_line(name, hk + 1, "shares sum to 0"));
            }
            let joint: Vec<(Vec<String>, f64)> =
                rows.into_iter().map(|(_, k, v)| (k, v / s)).collect();
            let mut marginals: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
            for (k, v) in &joint {
                for (a, x) in attributes.iter().zip(k) {
                    *marginals
                        .entry(a.clone())
                        .or_default()
                        .entry(x.clone())
                        .or_insert(0.0) += v;
                }
            }
            Ok(Self {
                attributes,
                joint: Some(joint),
                marginals,
            })
        }
    }

    /// Reads a population TSV, see [`Population::parse_tsv`].
    ///
    /// # Errors
    /// [`Error::Io`] plus those of the parser.
    pub fn read(path: &Path) -> Result<Self> {
        Self::parse_tsv(&read_to_string(path)?, &path.display().to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Coverage of strata and post-stratification
// ---------------------------------------------------------------------------------------------

/// Options of [`Representativity::compute`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RepresentativityOptions {
    /// Utterances a stratum needs to count as covered. Default: 1.
    pub min_count: usize,
    /// Bootstrap resamples for the post-stratified CIs. Default: 1000.
    pub bootstrap_samples: usize,
    /// Bootstrap seed (Xoshiro256++). Default: 0.
    pub seed: u64,
}

impl Default for RepresentativityOptions {
    fn default() -> Self {
        Self {
            min_count: 1,
            bootstrap_samples: 1000,
            seed: 0,
        }
    }
}

impl RepresentativityOptions {
    /// Sets the minimum utterances per covered stratum.
    pub fn min_count(mut self, n: usize) -> Self {
        self.min_count = n;
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
}

/// Coverage of the population's strata by the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrataCoverage {
    /// Strata with target share > 0.
    pub strata: usize,
    /// Of those, strata holding at least `min_count` sample utterances.
    pub covered: usize,
    /// `covered / strata`.
    pub share_covered: f64,
    /// Sum of the target shares of the covered strata (population mass the sample reaches).
    pub mass_covered: f64,
    /// Strata with target share > 0 and fewer than `min_count` utterances (in the sample or not).
    pub missing: Vec<String>,
}

/// One stratum of a table (a value of an attribute, or a joint cell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StratumRow {
    /// Stratum label.
    pub stratum: String,
    /// Sample utterances.
    pub utterances: usize,
    /// Share of the attributed sample.
    pub sample_share: f64,
    /// Target share; `None` when the population does not list the stratum.
    pub target_share: Option<f64>,
    /// Corpus WER within the stratum (summed counts); `None` without utterances.
    pub wer: Option<f64>,
    /// Reference words within the stratum.
    pub ref_words: usize,
}

/// Population-weighted (post-stratified) corpus WER and CER.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostStratified {
    /// `Σ_s W_s · WER_s / covered_weight` over strata with sample; `None` when no stratum is
    /// covered.
    pub wer: Option<f64>,
    /// Stratified percentile bootstrap 95% CI of `wer`.
    pub wer_ci95: Option<[f64; 2]>,
    /// Same for CER.
    pub cer: Option<f64>,
    /// Stratified percentile bootstrap 95% CI of `cer`.
    pub cer_ci95: Option<[f64; 2]>,
    /// Target weight of the strata the estimate covers (1 when none is missing).
    pub covered_weight: f64,
    /// Strata with target weight but no sample utterance: not in the estimate.
    pub missing_strata: Vec<String>,
    /// Sample strata the population does not list: weight 0, not in the estimate.
    pub extra_strata: Vec<String>,
}

/// Everything measured for one attribute (or for the joint table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributeRepresentativity {
    /// Attribute name (`"accent × gender"` for the joint table).
    pub attribute: String,
    /// Rows: population strata in table order, then sample-only strata.
    pub rows: Vec<StratumRow>,
    /// Coverage of the population strata.
    pub coverage: StrataCoverage,
    /// Distances between sample and target shares over the union of strata.
    pub distances: Distances,
    /// Population-weighted WER/CER with this attribute's strata.
    pub post_stratified: PostStratified,
}

/// Joint versus marginal fidelity (only with a joint target table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JointVsMarginals {
    /// Total variation of the joint shares.
    pub joint_total_variation: f64,
    /// Total variation of each marginal.
    pub marginal_total_variation: BTreeMap<String, f64>,
    /// Largest marginal total variation.
    pub max_marginal_total_variation: f64,
}

/// A stratum and the counts of one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct StratifiedCounts {
    /// Stratum label.
    pub stratum: String,
    /// Word counts.
    pub words: ErrorCounts,
    /// Character counts.
    pub chars: ErrorCounts,
}

fn percentile_ci(mut v: Vec<f64>) -> Option<[f64; 2]> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = (pos.ceil() as usize).min(v.len() - 1);
        v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
    };
    Some([pct(0.025), pct(0.975)])
}

/// Post-stratified WER/CER of `items` with target `weights` (normalised here; non-negative).
///
/// `WER_ps = Σ_s W_s · WER_s / Σ_{s covered} W_s`, where `WER_s` sums the counts of stratum `s`
/// (jiwer's corpus WER within the stratum) and the sums run over strata with both a positive
/// weight and at least one utterance. The CI resamples utterances with replacement within each
/// stratum (sizes fixed) `bootstrap_samples` times.
///
/// # Errors
/// [`Error::InvalidInput`] when a weight is negative or not finite or all weights are 0.
pub fn post_stratify(
    items: &[StratifiedCounts],
    weights: &BTreeMap<String, f64>,
    bootstrap_samples: usize,
    seed: u64,
) -> Result<PostStratified> {
    if let Some(w) = weights.values().find(|w| !w.is_finite() || **w < 0.0) {
        return Err(invalid(
            "population weights",
            format!("weight {w} is negative or not finite"),
        ));
    }
    let total: f64 = weights.values().sum();
    if total <= 0.0 {
        return Err(invalid("population weights", "all weights are 0"));
    }
    let mut by: BTreeMap<&str, Vec<&StratifiedCounts>> = BTreeMap::new();
    for it in items {
        by.entry(it.stratum.as_str()).or_default().push(it);
    }
    let strata: Vec<(f64, &Vec<&StratifiedCounts>)> = weights
        .iter()
        .filter(|(_, w)| **w > 0.0)
        .filter_map(|(s, w)| by.get(s.as_str()).map(|v| (w / total, v)))
        .collect();
    let missing_strata: Vec<String> = weights
        .iter()
        .filter(|(s, w)| **w > 0.0 && !by.contains_key(s.as_str()))
        .map(|(s, _)| s.clone())
        .collect();
    let extra_strata: Vec<String> = by
        .keys()
        .filter(|s| weights.get(**s).is_none_or(|w| *w == 0.0))
        .map(|s| s.to_string())
        .collect();
    let covered_weight: f64 = strata.iter().map(|(w, _)| w).sum();
    let estimate = |counts: &[(f64, ErrorCounts)]| -> Option<f64> {
        if counts.is_empty() || covered_weight <= 0.0 {
            return None;
        }
        Some(
            counts
                .iter()
                .map(|(w, c)| w * c.measures().wer)
                .sum::<f64>()
                / covered_weight,
        )
    };
    let sum = |v: &[&StratifiedCounts], chars: bool| {
        v.iter().fold(ErrorCounts::default(), |a, u| {
            a.add(if chars { &u.chars } else { &u.words })
        })
    };
    let point = |chars: bool| {
        let c: Vec<(f64, ErrorCounts)> = strata.iter().map(|(w, v)| (*w, sum(v, chars))).collect();
        estimate(&c)
    };
    let (wer, cer) = (point(false), point(true));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut bw, mut bc) = (Vec::new(), Vec::new());
    if !strata.is_empty() {
        for _ in 0..bootstrap_samples {
            let mut cw = Vec::with_capacity(strata.len());
            let mut cc = Vec::with_capacity(strata.len());
            for (w, v) in &strata {
                let (mut a, mut b) = (ErrorCounts::default(), ErrorCounts::default());
                for _ in 0..v.len() {
                    let u = v[rng.random_range(0..v.len())];
                    a = a.add(&u.words);
                    b = b.add(&u.chars);
                }
                cw.push((*w, a));
                cc.push((*w, b));
            }
            bw.extend(estimate(&cw));
            bc.extend(estimate(&cc));
        }
    }
    Ok(PostStratified {
        wer,
        wer_ci95: percentile_ci(bw),
        cer,
        cer_ci95: percentile_ci(bc),
        covered_weight,
        missing_strata,
        extra_strata,
    })
}

/// Stratum table, coverage, distances and post-stratified WER of one attribute (or the joint).
///
/// `target` lists the population strata in display order with their shares (summing to 1).
///
/// # Errors
/// [`Error::Empty`] for no items; as [`post_stratify`] and [`Distances::new`].
pub fn compare_strata(
    attribute: &str,
    items: &[StratifiedCounts],
    target: &[(String, f64)],
    opts: &RepresentativityOptions,
) -> Result<AttributeRepresentativity> {
    if items.is_empty() {
        return Err(Error::Empty);
    }
    let n = items.len() as f64;
    let mut by: BTreeMap<&str, (usize, ErrorCounts)> = BTreeMap::new();
    for it in items {
        let e = by.entry(it.stratum.as_str()).or_default();
        e.0 += 1;
        e.1 = e.1.add(&it.words);
    }
    let tmap: BTreeMap<String, f64> = target.iter().cloned().collect();
    let mut order: Vec<String> = target.iter().map(|(s, _)| s.clone()).collect();
    order.extend(
        by.keys()
            .filter(|s| !tmap.contains_key(**s))
            .map(|s| s.to_string()),
    );
    let rows: Vec<StratumRow> = order
        .iter()
        .map(|s| {
            let (count, c) = by.get(s.as_str()).copied().unwrap_or_default();
            StratumRow {
                stratum: s.clone(),
                utterances: count,
                sample_share: count as f64 / n,
                target_share: tmap.get(s).copied(),
                wer: (count > 0).then(|| c.measures().wer),
                ref_words: c.ref_len(),
            }
        })
        .collect();
    let p: Vec<f64> = rows.iter().map(|r| r.sample_share).collect();
    let q: Vec<f64> = rows.iter().map(|r| r.target_share.unwrap_or(0.0)).collect();
    let distances = Distances::new(&p, &q)?;
    let positive: Vec<&StratumRow> = rows
        .iter()
        .filter(|r| r.target_share.is_some_and(|t| t > 0.0))
        .collect();
    let covered: Vec<&&StratumRow> = positive
        .iter()
        .filter(|r| r.utterances >= opts.min_count.max(1))
        .collect();
    let coverage = StrataCoverage {
        strata: positive.len(),
        covered: covered.len(),
        share_covered: if positive.is_empty() {
            0.0
        } else {
            covered.len() as f64 / positive.len() as f64
        },
        mass_covered: covered.iter().filter_map(|r| r.target_share).sum(),
        missing: positive
            .iter()
            .filter(|r| r.utterances < opts.min_count.max(1))
            .map(|r| r.stratum.clone())
            .collect(),
    };
    let post_stratified = post_stratify(items, &tmap, opts.bootstrap_samples, opts.seed)?;
    Ok(AttributeRepresentativity {
        attribute: attribute.to_string(),
        rows,
        coverage,
        distances,
        post_stratified,
    })
}

// ---------------------------------------------------------------------------------------------
// Coverage of an input space (k-means cells of a reference population)
// ---------------------------------------------------------------------------------------------

/// Options of [`input_space_coverage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CellCoverageOptions {
    /// k-means cells fitted on the reference population. Default: 16.
    pub n_cells: usize,
    /// Lloyd iterations at most. Default: 100.
    pub max_iter: usize,
    /// Stop when no centroid moves more than this (Euclidean). Default: 1e-6.
    pub tolerance: f64,
    /// Seed of the k-means++ initialisation (Xoshiro256++). Default: 0.
    pub seed: u64,
    /// Sample points a cell needs to count as reached. Default: 1.
    pub min_count: usize,
}

impl Default for CellCoverageOptions {
    fn default() -> Self {
        Self {
            n_cells: 16,
            max_iter: 100,
            tolerance: 1e-6,
            seed: 0,
            min_count: 1,
        }
    }
}

impl CellCoverageOptions {
    /// Sets the number of cells.
    pub fn n_cells(mut self, k: usize) -> Self {
        self.n_cells = k;
        self
    }
    /// Sets the iteration cap.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }
    /// Sets the convergence tolerance.
    pub fn tolerance(mut self, t: f64) -> Self {
        self.tolerance = t;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Sets the minimum points per reached cell.
    pub fn min_count(mut self, n: usize) -> Self {
        self.min_count = n;
        self
    }
}

/// Coverage of the reference population's cells by the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellCoverage {
    /// Number of cells.
    pub n_cells: usize,
    /// Reference points per cell.
    pub reference_counts: Vec<usize>,
    /// Sample points per cell.
    pub sample_counts: Vec<usize>,
    /// Cells with reference points.
    pub occupied_cells: usize,
    /// Of those, cells with at least `min_count` sample points.
    pub reached_cells: usize,
    /// `reached_cells / occupied_cells`.
    pub share_reached: f64,
    /// Reference share of the reached cells (population mass the sample reaches).
    pub mass_reached: f64,
    /// Distances between sample and reference cell shares.
    pub distances: Distances,
}

/// Coverage from cell assignments made elsewhere (e.g. voxprobe-kmex on SSL embeddings): cells are
/// `0..n_cells`.
///
/// # Errors
/// [`Error::InvalidInput`] for empty inputs, `n_cells = 0` or a cell `>= n_cells`.
pub fn cell_coverage(
    reference_cells: &[usize],
    sample_cells: &[usize],
    n_cells: usize,
    min_count: usize,
) -> Result<CellCoverage> {
    if n_cells == 0 {
        return Err(invalid("n_cells", "must be at least 1"));
    }
    if reference_cells.is_empty() {
        return Err(invalid("reference cells", "empty"));
    }
    if sample_cells.is_empty() {
        return Err(invalid("sample cells", "empty"));
    }
    let count = |what: &'static str, cells: &[usize]| -> Result<Vec<usize>> {
        let mut c = vec![0usize; n_cells];
        for &k in cells {
            *c.get_mut(k)
                .ok_or_else(|| invalid(what, format!("cell {k} >= n_cells {n_cells}")))? += 1;
        }
        Ok(c)
    };
    let rc = count("reference cells", reference_cells)?;
    let sc = count("sample cells", sample_cells)?;
    let (nr, ns) = (reference_cells.len() as f64, sample_cells.len() as f64);
    let q: Vec<f64> = rc.iter().map(|&c| c as f64 / nr).collect();
    let p: Vec<f64> = sc.iter().map(|&c| c as f64 / ns).collect();
    let occupied = rc.iter().filter(|&&c| c > 0).count();
    let reached: Vec<usize> = (0..n_cells)
        .filter(|&k| rc[k] > 0 && sc[k] >= min_count.max(1))
        .collect();
    Ok(CellCoverage {
        n_cells,
        occupied_cells: occupied,
        reached_cells: reached.len(),
        share_reached: reached.len() as f64 / occupied as f64,
        mass_reached: reached.iter().map(|&k| q[k]).sum(),
        distances: Distances::new(&p, &q)?,
        reference_counts: rc,
        sample_counts: sc,
    })
}

fn check_points(what: &'static str, x: &[Vec<f32>], dim: Option<usize>) -> Result<usize> {
    let first = x.first().ok_or_else(|| invalid(what, "no points"))?;
    let d = dim.unwrap_or(first.len());
    if d == 0 {
        return Err(invalid(what, "points have dimension 0"));
    }
    for (i, v) in x.iter().enumerate() {
        if v.len() != d {
            return Err(invalid(
                what,
                format!("point {i} has dimension {}, expected {d}", v.len()),
            ));
        }
        if v.iter().any(|a| !a.is_finite()) {
            return Err(invalid(
                what,
                format!("point {i} has a NaN or infinite value"),
            ));
        }
    }
    Ok(d)
}

fn sq_dist(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - y).powi(2))
        .sum()
}

fn nearest(x: &[f32], centroids: &[Vec<f64>]) -> usize {
    let mut best = (0, f64::INFINITY);
    for (k, c) in centroids.iter().enumerate() {
        let d = sq_dist(x, c);
        if d < best.1 {
            best = (k, d);
        }
    }
    best.0
}

/// k-means (k-means++ seeding, Lloyd iterations) of the reference points; returns the centroids.
///
/// A small, self-contained k-means so that this crate needs no other voxprobe crate (domain
/// crates never depend on each other); with a fitted model elsewhere, pass its assignments to
/// [`cell_coverage`] instead.
///
/// # Errors
/// [`Error::InvalidInput`] for no points, ragged or non-finite points, `n_cells = 0` or more
/// cells than points.
pub fn fit_cells(reference: &[Vec<f32>], opts: &CellCoverageOptions) -> Result<Vec<Vec<f64>>> {
    let d = check_points("reference", reference, None)?;
    let k = opts.n_cells;
    if k == 0 || k > reference.len() {
        return Err(invalid(
            "n_cells",
            format!(
                "must be in 1..={} (reference points), got {k}",
                reference.len()
            ),
        ));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed);
    let to64 = |v: &[f32]| v.iter().map(|&a| f64::from(a)).collect::<Vec<f64>>();
    let mut centroids = vec![to64(&reference[rng.random_range(0..reference.len())])];
    let mut d2: Vec<f64> = reference
        .iter()
        .map(|x| sq_dist(x, &centroids[0]))
        .collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let mut r = rng.random::<f64>() * total;
            let mut pick = d2.len() - 1;
            for (i, &w) in d2.iter().enumerate() {
                if r < w {
                    pick = i;
                    break;
                }
                r -= w;
            }
            pick
        } else {
            rng.random_range(0..reference.len())
        };
        let c = to64(&reference[pick]);
        for (v, x) in d2.iter_mut().zip(reference) {
            *v = v.min(sq_dist(x, &c));
        }
        centroids.push(c);
    }
    for _ in 0..opts.max_iter {
        let mut sums = vec![vec![0.0f64; d]; k];
        let mut counts = vec![0usize; k];
        for x in reference {
            let c = nearest(x, &centroids);
            counts[c] += 1;
            for (s, &v) in sums[c].iter_mut().zip(x) {
                *s += f64::from(v);
            }
        }
        let mut moved = 0.0f64;
        for ((c, s), &n) in centroids.iter_mut().zip(&sums).zip(&counts) {
            if n == 0 {
                continue; // an empty cell keeps its centroid
            }
            let new: Vec<f64> = s.iter().map(|v| v / n as f64).collect();
            let shift = c
                .iter()
                .zip(&new)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            moved = moved.max(shift);
            *c = new;
        }
        if moved <= opts.tolerance {
            break;
        }
    }
    Ok(centroids)
}

/// Coverage of an input space: fits [`fit_cells`] on the `reference` population's features
/// (fbank/MFCC statistics, SSL embeddings, …), assigns both sets to the nearest centroid and
/// measures [`cell_coverage`].
///
/// # Errors
/// As [`fit_cells`]; sample points of another dimension or non-finite are
/// [`Error::InvalidInput`].
pub fn input_space_coverage(
    reference: &[Vec<f32>],
    sample: &[Vec<f32>],
    opts: &CellCoverageOptions,
) -> Result<CellCoverage> {
    let centroids = fit_cells(reference, opts)?;
    let d = centroids.first().map_or(0, Vec::len);
    check_points("sample", sample, Some(d))?;
    let rc: Vec<usize> = reference.iter().map(|x| nearest(x, &centroids)).collect();
    let sc: Vec<usize> = sample.iter().map(|x| nearest(x, &centroids)).collect();
    cell_coverage(&rc, &sc, opts.n_cells, opts.min_count)
}

// ---------------------------------------------------------------------------------------------
// The report section
// ---------------------------------------------------------------------------------------------

/// The representativity section of `report.json` / `report.html`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Representativity {
    /// Where the definitions come from and what is standard (always shown with the numbers).
    pub definitions: String,
    /// `"joint"` or `"marginals"`.
    pub population_kind: String,
    /// Sample utterances with attributes (the base of the sample shares).
    pub attributed_utterances: usize,
    /// Audited utterances with no attribute row: in no stratum, listed, never dropped silently.
    pub unattributed_utterances: Vec<String>,
    /// The sample's own corpus WER over all audited utterances (summed counts).
    pub sample_corpus_wer: f64,
    /// The sample's own corpus CER over all audited utterances.
    pub sample_corpus_cer: f64,
    /// One table per population attribute (marginals).
    pub attributes: Vec<AttributeRepresentativity>,
    /// The joint table, when the population is joint over two or more attributes.
    pub joint: Option<AttributeRepresentativity>,
    /// Joint versus marginal fidelity, with a joint table.
    pub joint_vs_marginals: Option<JointVsMarginals>,
    /// Coverage of an input space, when the caller measured it ([`input_space_coverage`]).
    pub input_space: Option<CellCoverage>,
}

/// What the report says about the definitions (see the module docs).
pub const DEFINITIONS: &str = "Motivated by Clemmensen & Kjærsgaard, Data Representativity for \
Machine Learning and AI Systems (arXiv:2203.04706): coverage of the input space versus mimicking \
the target distribution. The paper's own formulae were not available to this implementation; the \
measures are standard ones: coverage = share of population strata (target share > 0) with at \
least min_count sample utterances, and the population mass of those strata; distances between \
sample shares p and target shares q: total variation ½Σ|p−q|, Hellinger sqrt(½Σ(√p−√q)²), \
KL(q‖p) (∞ when a target stratum has no sample); joint versus marginal total variation. \
Population-weighted WER = post-stratification ΣW_s·WER_s over covered strata, renormalised by \
their weight; CIs by stratified percentile bootstrap.";

impl Representativity {
    /// Computes the section for audited utterances.
    ///
    /// Every population attribute must be a column of `attributes`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a population attribute is not in `attributes`,
    /// [`Error::Empty`] when no audited utterance has attributes; as [`compare_strata`].
    pub fn compute(
        utterances: &[UtteranceResult],
        attributes: &Attributes,
        population: &Population,
        opts: &RepresentativityOptions,
    ) -> Result<Self> {
        if let Some(a) = population
            .attributes
            .iter()
            .find(|a| !attributes.names().contains(a))
        {
            return Err(invalid(
                "population",
                format!(
                    "attribute {a:?} is not a column of the attributes file (columns: {})",
                    attributes.names().join(", ")
                ),
            ));
        }
        let mut attributed: Vec<(&UtteranceResult, Vec<&str>)> = Vec::new();
        let mut unattributed = Vec::new();
        for u in utterances {
            let vals: Option<Vec<&str>> = population
                .attributes
                .iter()
                .map(|a| attributes.get(&u.id, a))
                .collect();
            match vals {
                Some(v) => attributed.push((u, v)),
                None => unattributed.push(u.id.clone()),
            }
        }
        if attributed.is_empty() {
            return Err(invalid(
                "attributes",
                "no audited utterance id has a row in the attributes file",
            ));
        }
        let items_for = |label: &dyn Fn(&[&str]) -> String| -> Vec<StratifiedCounts> {
            attributed
                .iter()
                .map(|(u, v)| StratifiedCounts {
                    stratum: label(v),
                    words: u.words,
                    chars: u.chars,
                })
                .collect()
        };
        let mut tables = Vec::new();
        for (k, a) in population.attributes.iter().enumerate() {
            let items = items_for(&|v: &[&str]| v.get(k).copied().unwrap_or_default().to_string());
            let target: Vec<(String, f64)> = population
                .marginals
                .get(a)
                .map(|m| m.iter().map(|(s, w)| (s.clone(), *w)).collect())
                .unwrap_or_default();
            tables.push(compare_strata(a, &items, &target, opts)?);
        }
        let (joint, joint_vs_marginals) = match &population.joint {
            Some(j) if population.attributes.len() >= 2 => {
                let items = items_for(&|v: &[&str]| v.join(JOINT_SEPARATOR));
                let target: Vec<(String, f64)> = j
                    .iter()
                    .map(|(k, w)| (k.join(JOINT_SEPARATOR), *w))
                    .collect();
                let t = compare_strata(
                    &population.attributes.join(JOINT_SEPARATOR),
                    &items,
                    &target,
                    opts,
                )?;
                let marginal_total_variation: BTreeMap<String, f64> = tables
                    .iter()
                    .map(|m| (m.attribute.clone(), m.distances.total_variation))
                    .collect();
                let jvm = JointVsMarginals {
                    joint_total_variation: t.distances.total_variation,
                    max_marginal_total_variation: marginal_total_variation
                        .values()
                        .fold(0.0, |a: f64, &b| a.max(b)),
                    marginal_total_variation,
                };
                (Some(t), Some(jvm))
            }
            _ => (None, None),
        };
        let sum = |chars: bool| {
            utterances.iter().fold(ErrorCounts::default(), |a, u| {
                a.add(if chars { &u.chars } else { &u.words })
            })
        };
        Ok(Self {
            definitions: DEFINITIONS.to_string(),
            population_kind: if population.joint.is_some() {
                "joint"
            } else {
                "marginals"
            }
            .to_string(),
            attributed_utterances: attributed.len(),
            unattributed_utterances: unattributed,
            sample_corpus_wer: sum(false).measures().wer,
            sample_corpus_cer: sum(true).measures().wer,
            attributes: tables,
            joint,
            joint_vs_marginals,
            input_space: None,
        })
    }

    /// Sets the input-space coverage (from [`input_space_coverage`] or [`cell_coverage`]).
    pub fn with_input_space(mut self, c: CellCoverage) -> Self {
        self.input_space = Some(c);
        self
    }
}

impl crate::audit::Audit {
    /// Adds the representativity section to this audit's `report.json` / `report.html` from an
    /// attributes file (TSV or JSONL, see [`Attributes`]) and a population table (see
    /// [`Population`]): the one call behind `--attributes FILE --population FILE`.
    ///
    /// # Errors
    /// [`Error::Io`], parse errors of both files, and those of [`Representativity::compute`].
    pub fn add_representativity(
        &mut self,
        attributes: &Path,
        population: &Path,
        opts: &RepresentativityOptions,
    ) -> Result<()> {
        let a = Attributes::read(attributes)?;
        let p = Population::read(population)?;
        let r = Representativity::compute(&self.utterances, &a, &p, opts)?;
        self.report.representativity = Some(r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    const EPS: f64 = 1e-12;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    fn counts(h: usize, s: usize, d: usize, i: usize) -> ErrorCounts {
        ErrorCounts {
            hits: h,
            substitutions: s,
            deletions: d,
            insertions: i,
        }
    }

    fn item(s: &str, w: ErrorCounts) -> StratifiedCounts {
        StratifiedCounts {
            stratum: s.into(),
            words: w,
            chars: w,
        }
    }

    #[test]
    fn distances_hand_computed() {
        // p = (0.5, 0.5, 0), q = (0.25, 0.25, 0.5)
        let (p, q) = ([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]);
        assert!(close(total_variation(&p, &q).unwrap(), 0.5));
        // ½[(√.5−.5)²·2 + .5] = (√.5−.5)² + .25
        let h2 = (0.5f64.sqrt() - 0.5).powi(2) + 0.25;
        assert!(close(hellinger(&p, &q).unwrap(), h2.sqrt()));
        // a target stratum absent from the sample: KL(q‖p) = ∞
        assert_eq!(kl_target_from_sample(&p, &q).unwrap(), None);
        // a sample stratum absent from the population: finite, 0·ln term skipped
        // KL(p‖q) with roles swapped = 0.5 ln 2 · 2 = ln 2
        assert!(close(
            kl_target_from_sample(&q, &p).unwrap().unwrap(),
            2.0f64.ln()
        ));
        // single stratum: all zero
        let one = [1.0];
        assert_eq!(total_variation(&one, &one).unwrap(), 0.0);
        assert_eq!(hellinger(&one, &one).unwrap(), 0.0);
        assert_eq!(kl_target_from_sample(&one, &one).unwrap(), Some(0.0));
        // disjoint supports: TV = H = 1
        assert!(close(
            total_variation(&[1.0, 0.0], &[0.0, 1.0]).unwrap(),
            1.0
        ));
        assert!(close(hellinger(&[1.0, 0.0], &[0.0, 1.0]).unwrap(), 1.0));
    }

    #[test]
    fn distances_reject_bad_input() {
        assert!(matches!(
            total_variation(&[], &[]),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            total_variation(&[0.5, 0.5], &[1.0]),
            Err(Error::InvalidInput { what: "shares", .. })
        ));
        assert!(matches!(
            hellinger(&[f64::NAN, 1.0], &[0.5, 0.5]),
            Err(Error::InvalidInput {
                what: "sample shares",
                ..
            })
        ));
        assert!(matches!(
            hellinger(&[0.5, 0.5], &[0.7, 0.7]),
            Err(Error::InvalidInput {
                what: "target shares",
                ..
            })
        ));
    }

    #[test]
    fn post_stratified_wer_by_hand() {
        // Stratum a: two utterances, 1 error in 4 words + 1 error in 6 words → WER_a = 2/10.
        // Stratum b: one utterance, 3 errors in 5 words → WER_b = 3/5.
        // Targets a 0.25, b 0.75 → 0.25·0.2 + 0.75·0.6 = 0.5 (sample corpus WER: 5/15 = 1/3).
        let items = vec![
            item("a", counts(3, 1, 0, 0)),
            item("a", counts(5, 0, 1, 0)),
            item("b", counts(2, 2, 1, 0)),
        ];
        let w: BTreeMap<String, f64> = [("a".into(), 0.25), ("b".into(), 0.75)].into();
        let ps = post_stratify(&items, &w, 200, 1).unwrap();
        assert!(close(ps.wer.unwrap(), 0.5));
        assert!(close(ps.covered_weight, 1.0));
        assert!(ps.missing_strata.is_empty() && ps.extra_strata.is_empty());
        let ci = ps.wer_ci95.unwrap();
        assert!(ci[0] <= 0.5 && 0.5 <= ci[1], "{ci:?}");
        // b has one utterance: its resamples are all identical, a varies in [0.15, 0.25]
        // (two copies of the 4-word one: 2/8 = .25; of the 6-word one: 2/12 ≈ .167).
        assert!(ci[0] >= 0.25 * (2.0 / 12.0) + 0.45 - EPS && ci[1] <= 0.25 * 0.25 + 0.45 + EPS);
        // Weights given as counts are normalised: same estimate.
        let w2: BTreeMap<String, f64> = [("a".into(), 1.0), ("b".into(), 3.0)].into();
        assert!(close(
            post_stratify(&items, &w2, 0, 1).unwrap().wer.unwrap(),
            0.5
        ));
    }

    #[test]
    fn post_stratified_missing_and_extra_strata() {
        // c (weight 0.5) has no sample: reported, estimate over a and b renormalised by 0.5;
        // x has sample but no weight: reported, weight 0.
        let items = vec![
            item("a", counts(4, 1, 0, 0)), // 0.2
            item("b", counts(1, 1, 0, 0)), // 0.5
            item("x", counts(0, 1, 0, 0)), // 1.0, ignored
        ];
        let w: BTreeMap<String, f64> =
            [("a".into(), 0.25), ("b".into(), 0.25), ("c".into(), 0.5)].into();
        let ps = post_stratify(&items, &w, 0, 0).unwrap();
        assert!(close(ps.wer.unwrap(), (0.25 * 0.2 + 0.25 * 0.5) / 0.5));
        assert!(close(ps.covered_weight, 0.5));
        assert_eq!(ps.missing_strata, vec!["c".to_string()]);
        assert_eq!(ps.extra_strata, vec!["x".to_string()]);
        assert_eq!(ps.wer_ci95, None); // no resamples asked
                                       // single stratum: the estimate is that stratum's corpus WER
        let one: BTreeMap<String, f64> = [("b".into(), 1.0)].into();
        assert!(close(
            post_stratify(&items, &one, 10, 0).unwrap().wer.unwrap(),
            0.5
        ));
        // no covered stratum at all
        let none: BTreeMap<String, f64> = [("c".into(), 1.0)].into();
        let ps = post_stratify(&items, &none, 10, 0).unwrap();
        assert_eq!((ps.wer, ps.wer_ci95, ps.covered_weight), (None, None, 0.0));
        let zero: BTreeMap<String, f64> = [("a".into(), 0.0)].into();
        assert!(matches!(
            post_stratify(&items, &zero, 0, 0),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn strata_table_coverage_and_distances() {
        // sample: a ×2, x ×2 (x not in population); target a .5, b .5 (b absent from sample).
        let items = vec![
            item("a", counts(1, 0, 0, 0)),
            item("a", counts(1, 1, 0, 0)),
            item("x", counts(1, 0, 0, 0)),
            item("x", counts(1, 0, 0, 0)),
        ];
        let target = vec![("a".to_string(), 0.5), ("b".to_string(), 0.5)];
        let t =
            compare_strata("acc", &items, &target, &RepresentativityOptions::default()).unwrap();
        let labels: Vec<&str> = t.rows.iter().map(|r| r.stratum.as_str()).collect();
        assert_eq!(labels, ["a", "b", "x"]);
        assert_eq!(t.rows[1].utterances, 0);
        assert_eq!(t.rows[1].wer, None);
        assert_eq!(t.rows[2].target_share, None);
        assert!(close(t.rows[0].wer.unwrap(), 1.0 / 3.0));
        // p = (.5, 0, .5), q = (.5, .5, 0): TV .5, H = sqrt(½(.5+.5)) = sqrt(.5), KL ∞
        assert!(close(t.distances.total_variation, 0.5));
        assert!(close(t.distances.hellinger, 0.5f64.sqrt()));
        assert_eq!(t.distances.kl_target_from_sample, None);
        assert_eq!((t.coverage.strata, t.coverage.covered), (2, 1));
        assert!(close(t.coverage.share_covered, 0.5) && close(t.coverage.mass_covered, 0.5));
        assert_eq!(t.coverage.missing, vec!["b".to_string()]);
        // min_count 3: a (2 utterances) no longer counts as covered
        let t3 = compare_strata(
            "acc",
            &items,
            &target,
            &RepresentativityOptions::default().min_count(3),
        )
        .unwrap();
        assert_eq!(t3.coverage.covered, 0);
        assert_eq!(t3.coverage.missing, vec!["a".to_string(), "b".to_string()]);
        // single stratum everywhere: perfect coverage and fidelity
        let one = vec![("a".to_string(), 1.0)];
        let t1 = compare_strata(
            "acc",
            &items[..2],
            &one,
            &RepresentativityOptions::default(),
        )
        .unwrap();
        assert_eq!(t1.distances.total_variation, 0.0);
        assert_eq!(t1.distances.kl_target_from_sample, Some(0.0));
        assert!(close(t1.coverage.share_covered, 1.0) && close(t1.coverage.mass_covered, 1.0));
    }

    #[test]
    fn population_tables() {
        let joint = "accent\tgender\tshare\nus\tf\t3\nus\tm\t3\nuk\tf\t1\nuk\tm\t1\n";
        let p = Population::parse_tsv(joint, "pop").unwrap();
        assert_eq!(p.attributes, ["accent", "gender"]);
        assert!(close(p.marginals["accent"]["us"], 0.75));
        assert!(close(p.marginals["gender"]["f"], 0.5));
        assert!(close(p.joint.as_ref().unwrap()[2].1, 0.125));
        let long = "# comment\nattribute\tvalue\tshare\naccent\tus\t0.6\naccent\tuk\t0.4\ngender\tf\t50\ngender\tm\t50\n";
        let m = Population::parse_tsv(long, "pop").unwrap();
        assert!(m.joint.is_none());
        assert!(close(m.marginals["gender"]["m"], 0.5));
        assert!(matches!(
            Population::parse_tsv("accent\tweight\nus\t1\n", "pop"),
            Err(Error::BadLine { line: 1, .. })
        ));
        assert!(matches!(
            Population::parse_tsv("accent\tshare\nus\t-1\n", "pop"),
            Err(Error::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            Population::parse_tsv("accent\tshare\nus\t1\nus\t2\n", "pop"),
            Err(Error::BadLine { line: 3, .. })
        ));
        assert!(matches!(
            Population::parse_tsv("accent\tshare\nus\t0\n", "pop"),
            Err(Error::BadLine { .. })
        ));
        assert!(matches!(
            Population::parse_tsv("", "pop"),
            Err(Error::Empty)
        ));
    }

    #[test]
    fn attribute_files() {
        let a = Attributes::parse_tsv("id\taccent\n1\tus\n2\tuk\n", "a").unwrap();
        assert_eq!(a.get("2", "accent"), Some("uk"));
        assert_eq!(a.get("3", "accent"), None);
        let j = Attributes::parse_jsonl(
            "{\"id\":\"1\",\"age\":30}\n\n{\"id\":\"2\",\"age\":\"40\"}\n",
            "j",
        )
        .unwrap();
        assert_eq!(j.get("1", "age"), Some("30"));
        assert!(matches!(
            Attributes::parse_tsv("accent\nus\n", "a"),
            Err(Error::BadLine { line: 1, .. })
        ));
        assert!(matches!(
            Attributes::parse_tsv("id\taccent\n1\tus\n1\tuk\n", "a"),
            Err(Error::DuplicateId {
                line: 3,
                first_line: 2,
                ..
            })
        ));
        assert!(matches!(
            Attributes::parse_jsonl("{\"id\":\"1\",\"age\":30}\n{\"id\":\"2\"}\n", "j"),
            Err(Error::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            Attributes::parse_tsv("id\taccent\n1\t\n", "a"),
            Err(Error::BadLine { line: 2, .. })
        ));
    }

    #[test]
    fn cell_coverage_hand_computed() {
        // reference cells: 0,0,1,2 (4 points); sample: 0,0,0,3 → cell 3 has no reference point.
        let c = cell_coverage(&[0, 0, 1, 2], &[0, 0, 0, 1], 4, 1).unwrap();
        assert_eq!(c.occupied_cells, 3);
        assert_eq!(c.reached_cells, 2);
        assert!(close(c.share_reached, 2.0 / 3.0));
        assert!(close(c.mass_reached, 0.75));
        // p = (.75, .25, 0, 0), q = (.5, .25, .25, 0): TV = .25
        assert!(close(c.distances.total_variation, 0.25));
        assert_eq!(c.distances.kl_target_from_sample, None);
        assert!(matches!(
            cell_coverage(&[0, 5], &[0], 4, 1),
            Err(Error::InvalidInput {
                what: "reference cells",
                ..
            })
        ));
        assert!(matches!(
            cell_coverage(&[0], &[], 4, 1),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn input_space_two_blobs() {
        // Reference: two well-separated blobs of 5 points; the sample sits in one blob only.
        let mut reference = Vec::new();
        for i in 0..5 {
            reference.push(vec![i as f32 * 0.01, 0.0]);
            reference.push(vec![10.0 + i as f32 * 0.01, 10.0]);
        }
        let sample = vec![vec![0.02f32, 0.01], vec![0.03, -0.01]];
        let opts = CellCoverageOptions::default().n_cells(2).seed(3);
        let c = input_space_coverage(&reference, &sample, &opts).unwrap();
        assert_eq!(
            c.reference_counts.iter().copied().collect::<BTreeSet<_>>(),
            [5].into()
        );
        assert_eq!((c.occupied_cells, c.reached_cells), (2, 1));
        assert!(close(c.mass_reached, 0.5) && close(c.distances.total_variation, 0.5));
        // a single cell: everything is reached
        let c1 = input_space_coverage(&reference, &sample, &opts.clone().n_cells(1)).unwrap();
        assert!(close(c1.share_reached, 1.0) && c1.distances.total_variation == 0.0);
        assert!(matches!(
            input_space_coverage(&reference, &[vec![0.0]], &opts),
            Err(Error::InvalidInput { what: "sample", .. })
        ));
        assert!(matches!(
            input_space_coverage(&reference, &[vec![f32::NAN, 0.0]], &opts),
            Err(Error::InvalidInput { what: "sample", .. })
        ));
        assert!(matches!(
            fit_cells(&reference, &opts.clone().n_cells(11)),
            Err(Error::InvalidInput {
                what: "n_cells",
                ..
            })
        ));
    }
}
