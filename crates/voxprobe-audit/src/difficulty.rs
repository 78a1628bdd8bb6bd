//! Sample difficulty index (SDI) — **this project's reading** of Cheng, Clemmensen & Das (2026).
//!
//! The paper's SDI formula is not public (spec §6: "unknown"); these are the spec's two inferred
//! candidates, named so that nobody mistakes them for the paper's numbers:
//!
//! * **SDI-rank** (empirical): for each system, the mid-rank percentile of the utterance's error
//!   among all utterances, in [0, 1] (ties share their average rank; 0.5 = median); SDI-rank is the
//!   mean over systems. Needs no factors, uses only the panel.
//! * **SDI-fit** (factor-attributed): ordinary least squares of the per-(utterance, system) error on
//!   intrinsic factors (one-hot groups, numeric factors such as length) plus one intercept per
//!   system (a fixed-effect stand-in for the spec's random intercept). SDI-fit is the z-score of
//!   the fitted factor part over the data set; per-factor contributions `β_k·(x_ik − mean x_k)`
//!   add up to it (before scaling) and give the per-group "diversity tax" decomposition.
//!
//! Group summaries carry percentile-bootstrap CIs from resampling utterances within each group
//! (conditional on the fitted model: the regression is not refitted per resample).

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Mid-rank percentiles in [0, 1] of `values` (ties get their average rank; one value → 0.5).
pub fn percentile_ranks(values: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n <= 1 {
        return vec![0.5; n];
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; n];
    let mut k = 0;
    while k < n {
        let mut j = k;
        while j + 1 < n && values[idx[j + 1]].total_cmp(&values[idx[k]]).is_eq() {
            j += 1;
        }
        let avg_rank = (k + j) as f64 / 2.0; // 0-based average rank of the tie block
        for &i in &idx[k..=j] {
            out[i] = avg_rank / (n - 1) as f64;
        }
        k = j + 1;
    }
    out
}

fn check_panel(errors: &[Vec<f64>]) -> Result<usize> {
    let n = errors.first().map(Vec::len).ok_or(Error::InvalidInput {
        what: "error panel",
        reason: "no systems".into(),
    })?;
    if n == 0 {
        return Err(Error::InvalidInput {
            what: "error panel",
            reason: "no utterances".into(),
        });
    }
    for (m, e) in errors.iter().enumerate() {
        if e.len() != n {
            return Err(Error::InvalidInput {
                what: "error panel",
                reason: format!("system {m} has {} utterances, system 0 has {n}", e.len()),
            });
        }
        if let Some(i) = e.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidInput {
                what: "error panel",
                reason: format!("system {m}, utterance {i}: non-finite error"),
            });
        }
    }
    Ok(n)
}

/// SDI-rank per utterance from `errors[system][utterance]`.
///
/// # Errors
/// [`Error::InvalidInput`] for an empty or ragged panel or non-finite errors.
pub fn sdi_rank(errors: &[Vec<f64>]) -> Result<Vec<f64>> {
    let n = check_panel(errors)?;
    let mut sdi = vec![0.0; n];
    for e in errors {
        for (s, r) in sdi.iter_mut().zip(percentile_ranks(e)) {
            *s += r;
        }
    }
    let m = errors.len() as f64;
    Ok(sdi.into_iter().map(|s| s / m).collect())
}

/// Intrinsic factors of each utterance (design columns for SDI-fit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FactorTable {
    n: usize,
    /// Column names (`group=en-029` for one-hot levels).
    pub names: Vec<String>,
    /// Column values, one `Vec` of length n per column.
    pub columns: Vec<Vec<f64>>,
}

impl FactorTable {
    /// Empty table for `n` utterances.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            ..Self::default()
        }
    }

    /// Utterances.
    pub fn len(&self) -> usize {
        self.n
    }
    /// Whether there are no utterances.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Adds a numeric factor.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a wrong length or non-finite values.
    pub fn numeric(mut self, name: &str, values: Vec<f64>) -> Result<Self> {
        if values.len() != self.n || values.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput {
                what: "factor",
                reason: format!(
                    "{name}: {} values (need {} finite values)",
                    values.len(),
                    self.n
                ),
            });
        }
        self.names.push(name.to_string());
        self.columns.push(values);
        Ok(self)
    }

    /// Adds a categorical factor as one-hot columns for every level except `reference` (the
    /// baseline whose effect is absorbed by the intercepts).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a wrong length or a reference level that does not occur.
    pub fn categorical<S: AsRef<str>>(
        mut self,
        name: &str,
        labels: &[S],
        reference: &str,
    ) -> Result<Self> {
        if labels.len() != self.n {
            return Err(Error::InvalidInput {
                what: "factor",
                reason: format!("{name}: {} labels for {} utterances", labels.len(), self.n),
            });
        }
        let levels: std::collections::BTreeSet<&str> = labels.iter().map(AsRef::as_ref).collect();
        if !levels.contains(reference) {
            return Err(Error::InvalidInput {
                what: "factor",
                reason: format!("{name}: reference level {reference:?} does not occur"),
            });
        }
        for lv in levels.into_iter().filter(|l| *l != reference) {
            self.names.push(format!("{name}={lv}"));
            self.columns.push(
                labels
                    .iter()
                    .map(|l| f64::from(u8::from(l.as_ref() == lv)))
                    .collect(),
            );
        }
        Ok(self)
    }
}

/// SDI-fit result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SdiFit {
    /// Factor names (as in the [`FactorTable`]).
    pub factor_names: Vec<String>,
    /// Coefficient per factor.
    pub coefficients: Vec<f64>,
    /// Intercept per system.
    pub system_intercepts: Vec<f64>,
    /// R² of the stacked regression.
    pub r_squared: f64,
    /// Fitted factor part `Σ_k β_k x_ik` per utterance (unscaled, in error units).
    pub fitted: Vec<f64>,
    /// SDI-fit: z-score of `fitted` over utterances (0 when all are equal).
    pub sdi: Vec<f64>,
    /// `contributions[i][k] = β_k·(x_ik − mean_i x_k)`; sums over k to `fitted_i − mean fitted`.
    pub contributions: Vec<Vec<f64>>,
}

/// Solves `A x = b` (A symmetric positive semi-definite, n×n row-major) by Gaussian elimination
/// with partial pivoting; `None` when singular (collinear factors).
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    let scale = (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max);
    for c in 0..n {
        let p = (c..n).max_by(|&x, &y| a[x * n + c].abs().total_cmp(&a[y * n + c].abs()))?;
        if a[p * n + c].abs() <= 1e-12 * scale.max(1e-300) {
            return None;
        }
        if p != c {
            for k in 0..n {
                a.swap(c * n + k, p * n + k);
            }
            b.swap(c, p);
        }
        for r in c + 1..n {
            let f = a[r * n + c] / a[c * n + c];
            for k in c..n {
                a[r * n + k] -= f * a[c * n + k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for c in (0..n).rev() {
        let s: f64 = (c + 1..n).map(|k| a[c * n + k] * x[k]).sum();
        x[c] = (b[c] - s) / a[c * n + c];
    }
    Some(x)
}

/// SDI-fit from `errors[system][utterance]` and the utterances' factors.
///
/// # Errors
/// [`Error::InvalidInput`] for a ragged panel, a factor table of another length, or collinear
/// factors (e.g. a numeric factor that is constant within the data).
pub fn sdi_fit(errors: &[Vec<f64>], factors: &FactorTable) -> Result<SdiFit> {
    let n = check_panel(errors)?;
    if factors.len() != n {
        return Err(Error::InvalidInput {
            what: "factor table",
            reason: format!("{} rows for {n} utterances", factors.len()),
        });
    }
    let ms = errors.len();
    let kf = factors.columns.len();
    let p = ms + kf;
    // Normal equations XᵀX β = Xᵀy over the stacked (utterance, system) rows.
    let mut xtx = vec![0.0; p * p];
    let mut xty = vec![0.0; p];
    let mut row = vec![0.0; p];
    for (m, e) in errors.iter().enumerate() {
        for i in 0..n {
            row.iter_mut().for_each(|v| *v = 0.0);
            row[m] = 1.0;
            for (k, col) in factors.columns.iter().enumerate() {
                row[ms + k] = col[i];
            }
            for a in 0..p {
                if row[a] == 0.0 {
                    continue;
                }
                xty[a] += row[a] * e[i];
                for b in 0..p {
                    xtx[a * p + b] += row[a] * row[b];
                }
            }
        }
    }
    let beta = solve(xtx, xty, p).ok_or_else(|| Error::InvalidInput {
        what: "factor table",
        reason: format!(
            "collinear factors (design matrix is singular): {:?}",
            factors.names
        ),
    })?;
    let coefficients = beta[ms..].to_vec();
    let fitted: Vec<f64> = (0..n)
        .map(|i| {
            factors
                .columns
                .iter()
                .zip(&coefficients)
                .map(|(c, b)| b * c[i])
                .sum()
        })
        .collect();
    // R² of the full stacked model.
    let all: Vec<f64> = errors.iter().flatten().copied().collect();
    let ybar = all.iter().sum::<f64>() / all.len() as f64;
    let (mut ss_res, mut ss_tot) = (0.0, 0.0);
    for (m, e) in errors.iter().enumerate() {
        for i in 0..n {
            let yhat = beta[m] + fitted[i];
            ss_res += (e[i] - yhat).powi(2);
            ss_tot += (e[i] - ybar).powi(2);
        }
    }
    let r_squared = if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else {
        1.0
    };
    let mean_f = fitted.iter().sum::<f64>() / n as f64;
    let sd = (fitted.iter().map(|f| (f - mean_f).powi(2)).sum::<f64>() / n as f64).sqrt();
    let sdi = fitted
        .iter()
        .map(|f| if sd > 0.0 { (f - mean_f) / sd } else { 0.0 })
        .collect();
    let means: Vec<f64> = factors
        .columns
        .iter()
        .map(|c| c.iter().sum::<f64>() / n as f64)
        .collect();
    let contributions = (0..n)
        .map(|i| {
            (0..kf)
                .map(|k| coefficients[k] * (factors.columns[k][i] - means[k]))
                .collect()
        })
        .collect();
    Ok(SdiFit {
        factor_names: factors.names.clone(),
        coefficients,
        system_intercepts: beta[..ms].to_vec(),
        r_squared,
        fitted,
        sdi,
        contributions,
    })
}

/// A group mean with its bootstrap CI and its gap to the reference group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStat {
    /// Group label.
    pub group: String,
    /// Utterances in the group.
    pub n: usize,
    /// Group mean.
    pub mean: f64,
    /// 95% percentile-bootstrap CI of the mean.
    pub ci95: [f64; 2],
    /// Mean minus the reference group's mean ("diversity tax").
    pub tax: f64,
    /// 95% CI of the tax (both groups resampled independently).
    pub tax_ci95: [f64; 2],
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Ratio-of-sums group statistics `Σ num / Σ den` (den = 1 everywhere gives the mean), with
/// percentile-bootstrap CIs (`samples` resamples of utterances within each group, seeded) and the
/// tax relative to `reference` (default: the group with the lowest value).
///
/// # Errors
/// [`Error::InvalidInput`] for mismatched lengths, no utterances or an unknown reference.
pub fn group_stats<S: AsRef<str>>(
    groups: &[S],
    num: &[f64],
    den: &[f64],
    reference: Option<&str>,
    samples: usize,
    seed: u64,
) -> Result<Vec<GroupStat>> {
    if groups.len() != num.len() || num.len() != den.len() || num.is_empty() {
        return Err(Error::InvalidInput {
            what: "group statistics",
            reason: format!(
                "{} groups, {} numerators, {} denominators (need equal, non-zero)",
                groups.len(),
                num.len(),
                den.len()
            ),
        });
    }
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        by.entry(g.as_ref()).or_default().push(i);
    }
    let ratio = |idx: &mut dyn Iterator<Item = usize>| {
        let (mut a, mut b) = (0.0, 0.0);
        for i in idx {
            a += num[i];
            b += den[i];
        }
        if b > 0.0 {
            a / b
        } else {
            a
        }
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut stats = Vec::new();
    let mut boots: Vec<Vec<f64>> = Vec::new();
    for (g, idx) in &by {
        let mean = ratio(&mut idx.iter().copied());
        let mut bs: Vec<f64> = (0..samples)
            .map(|_| {
                let mut it = (0..idx.len()).map(|_| idx[rng.random_range(0..idx.len())]);
                ratio(&mut it)
            })
            .collect();
        let unsorted = bs.clone();
        bs.sort_by(f64::total_cmp);
        stats.push(GroupStat {
            group: (*g).to_string(),
            n: idx.len(),
            mean,
            ci95: [pct(&bs, 0.025), pct(&bs, 0.975)],
            tax: 0.0,
            tax_ci95: [0.0, 0.0],
        });
        boots.push(unsorted);
    }
    let r = match reference {
        Some(name) => {
            stats
                .iter()
                .position(|s| s.group == name)
                .ok_or_else(|| Error::InvalidInput {
                    what: "reference group",
                    reason: format!("{name:?} is not a group"),
                })?
        }
        None => (0..stats.len())
            .min_by(|&a, &b| stats[a].mean.total_cmp(&stats[b].mean))
            .unwrap_or(0),
    };
    let ref_mean = stats[r].mean;
    for (k, s) in stats.iter_mut().enumerate() {
        s.tax = s.mean - ref_mean;
        let mut d: Vec<f64> = boots[k].iter().zip(&boots[r]).map(|(a, b)| a - b).collect();
        d.sort_by(f64::total_cmp);
        s.tax_ci95 = if samples == 0 {
            [f64::NAN, f64::NAN]
        } else {
            [pct(&d, 0.025), pct(&d, 0.975)]
        };
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn percentile_ranks_with_ties() {
        assert_eq!(
            percentile_ranks(&[0.3, 0.1, 0.3, 0.9]),
            vec![0.5, 0.0, 0.5, 1.0]
        );
        assert_eq!(percentile_ranks(&[2.0]), vec![0.5]);
        let s = sdi_rank(&[vec![0.0, 1.0, 2.0], vec![2.0, 1.0, 0.0]]).unwrap();
        assert_eq!(s, vec![0.5, 0.5, 0.5]);
        let s = sdi_rank(&[vec![0.0, 1.0, 2.0], vec![0.0, 5.0, 9.0]]).unwrap();
        assert_eq!(s, vec![0.0, 0.5, 1.0]);
        assert!(matches!(
            sdi_rank(&[vec![0.0], vec![0.0, 1.0]]),
            Err(Error::InvalidInput { .. })
        ));
    }

    /// Planted effects: group B +0.2, group C +0.5, length +0.01/word, systems 0.1/0.2/0.3.
    #[test]
    fn sdi_fit_recovers_planted_coefficients() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let n = 600;
        let groups: Vec<&str> = (0..n).map(|i| ["A", "B", "C"][i % 3]).collect();
        let len: Vec<f64> = (0..n).map(|_| rng.random_range(5..40) as f64).collect();
        let effect = |g: &str| match g {
            "B" => 0.2,
            "C" => 0.5,
            _ => 0.0,
        };
        let errors: Vec<Vec<f64>> = [0.1, 0.2, 0.3]
            .iter()
            .map(|a| {
                (0..n)
                    .map(|i| a + effect(groups[i]) + 0.01 * len[i] + rng.random_range(-0.05..0.05))
                    .collect()
            })
            .collect();
        let f = FactorTable::new(n)
            .categorical("group", &groups, "A")
            .unwrap()
            .numeric("words", len.clone())
            .unwrap();
        let fit = sdi_fit(&errors, &f).unwrap();
        assert_eq!(fit.factor_names, vec!["group=B", "group=C", "words"]);
        // Noise ±0.05 uniform over 1,800 rows: coefficients within 0.01, slopes within 0.001.
        assert!((fit.coefficients[0] - 0.2).abs() < 0.01, "{fit:?}");
        assert!((fit.coefficients[1] - 0.5).abs() < 0.01);
        assert!((fit.coefficients[2] - 0.01).abs() < 0.001);
        for (got, want) in fit.system_intercepts.iter().zip([0.1, 0.2, 0.3]) {
            assert!((got - want).abs() < 0.02);
        }
        assert!(fit.r_squared > 0.9);
        let mean = fit.sdi.iter().sum::<f64>() / n as f64;
        assert!(mean.abs() < 1e-9);
        let mean_f = fit.fitted.iter().sum::<f64>() / n as f64;
        for i in 0..n {
            let s: f64 = fit.contributions[i].iter().sum();
            assert!((s - (fit.fitted[i] - mean_f)).abs() < 1e-9);
        }
        // Collinear: a constant numeric factor duplicates the intercepts.
        let bad = FactorTable::new(n).numeric("one", vec![1.0; n]).unwrap();
        assert!(matches!(
            sdi_fit(&errors, &bad),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn group_stats_ratio_and_tax() {
        let g = ["a", "a", "b", "b"];
        let s = group_stats(
            &g,
            &[1.0, 1.0, 3.0, 1.0],
            &[2.0, 2.0, 2.0, 2.0],
            None,
            200,
            1,
        )
        .unwrap();
        assert_eq!(s[0].mean, 0.5);
        assert_eq!(s[1].mean, 1.0);
        assert_eq!(s[1].tax, 0.5);
        assert_eq!(s[0].ci95, [0.5, 0.5]);
        assert!(s[1].ci95[0] >= 0.5 && s[1].ci95[1] <= 1.5);
        assert!(matches!(
            group_stats(&g, &[1.0], &[1.0], None, 10, 0),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            group_stats(&g, &[1.0; 4], &[1.0; 4], Some("zzz"), 10, 0),
            Err(Error::InvalidInput { .. })
        ));
    }
}
