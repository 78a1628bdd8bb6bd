//! Calibration of the typicality and Rao score tests (Bergamin et al. 2022, §3–4): mean training
//! log-likelihood and diagonal empirical Fisher from training data, sorted null statistics from a
//! held-out validation set, and per-example (or per-group) statistics and p-values.

use ndarray::{s, Array1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{check_range, Error, Result};
use crate::model::DensityModel;
use crate::stats::{fisher_method, harmonic_mean_p};

/// How an empirical p-value is computed from the validation null sample of size N.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PValueConvention {
    /// The paper's `1 − ECDF(t) = #{v > t} / N` (statsmodels ECDF); can be exactly 0.
    #[default]
    Paper,
    /// Conformal `(1 + #{v ≥ t}) / (N + 1)`: never 0, exactly valid under exchangeability.
    Conformal,
}

/// Settings of the calibration; build with [`CalibrationParams::default`] and chain setters.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationParams {
    /// Damping added to the Fisher diagonal, `Î = (D + eps)^xi`. Default: 1e-8 (paper).
    pub eps: f64,
    /// Exponent of the Fisher diagonal; 0.75 is the "Martens" variant. Default: 1.0 (paper).
    pub xi: f64,
    /// p-value convention. Default: [`PValueConvention::Paper`].
    pub p_value: PValueConvention,
    /// Test-set size n: statistics average log p and gradients over groups of n consecutive rows;
    /// the validation null uses disjoint random groups of n. Default: 1 (single-sample OOD).
    pub group_size: usize,
    /// Rows per model call; bounds memory (`batch_size × n_params` floats). Default: 32.
    pub batch_size: usize,
    /// Seed of the validation grouping (only used when `group_size > 1`). Default: 1.
    pub seed: u64,
}

impl Default for CalibrationParams {
    fn default() -> Self {
        Self {
            eps: 1e-8,
            xi: 1.0,
            p_value: PValueConvention::Paper,
            group_size: 1,
            batch_size: 32,
            seed: 1,
        }
    }
}

impl CalibrationParams {
    /// Sets [`eps`](Self::eps).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets [`xi`](Self::xi).
    pub fn xi(mut self, xi: f64) -> Self {
        self.xi = xi;
        self
    }
    /// Sets [`p_value`](Self::p_value).
    pub fn p_value(mut self, p: PValueConvention) -> Self {
        self.p_value = p;
        self
    }
    /// Sets [`group_size`](Self::group_size).
    pub fn group_size(mut self, n: usize) -> Self {
        self.group_size = n;
        self
    }
    /// Sets [`batch_size`](Self::batch_size).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn check(&self) -> Result<()> {
        check_range(
            "eps",
            self.eps,
            self.eps >= 0.0 && self.eps.is_finite(),
            "finite, ≥ 0",
        )?;
        check_range(
            "xi",
            self.xi,
            self.xi > 0.0 && self.xi.is_finite(),
            "finite, > 0",
        )?;
        check_range(
            "group_size",
            self.group_size as f64,
            self.group_size >= 1,
            "≥ 1",
        )?;
        check_range(
            "batch_size",
            self.batch_size as f64,
            self.batch_size >= 1,
            "≥ 1",
        )?;
        Ok(())
    }

    /// Fits the calibration: one pass over `train` (mean log-likelihood, Fisher diagonal and mean
    /// gradient, accumulated in f64), one over `val` (null statistics, sorted).
    pub fn fit<M: DensityModel + ?Sized>(
        &self,
        model: &M,
        train: ArrayView2<'_, f32>,
        val: ArrayView2<'_, f32>,
    ) -> Result<Calibrator> {
        self.check()?;
        if train.nrows() == 0 {
            return Err(Error::Empty {
                what: "training set",
            });
        }
        let p = model.n_params();
        let mut sum_ll = 0.0f64;
        let mut sum_g = vec![0.0f64; p];
        let mut sum_g2 = vec![0.0f64; p];
        let mut start = 0;
        while start < train.nrows() {
            let end = (start + self.batch_size).min(train.nrows());
            let (ll, g) = model.log_prob_and_grad(train.slice(s![start..end, ..]))?;
            check_grad_shape(&g, end - start, p)?;
            for (l, row) in ll.iter().zip(g.rows()) {
                if !l.is_finite() {
                    return Err(Error::NonFinite {
                        what: "training log-likelihood",
                    });
                }
                sum_ll += l;
                for ((a, b), &v) in sum_g.iter_mut().zip(sum_g2.iter_mut()).zip(row) {
                    let v = f64::from(v);
                    *a += v;
                    *b += v * v;
                }
            }
            start = end;
        }
        let n = train.nrows() as f64;
        let fisher_diag: Vec<f64> = sum_g2.iter().map(|v| v / n).collect();
        let inv_fisher: Vec<f64> = fisher_diag
            .iter()
            .map(|d| 1.0 / (d + self.eps).powf(self.xi))
            .collect();
        if inv_fisher.iter().any(|v| !v.is_finite()) {
            return Err(Error::Fit {
                reason: "Fisher diagonal has a zero entry and eps = 0".into(),
            });
        }
        let mut cal = Calibrator {
            params: self.clone(),
            mean_train_ll: sum_ll / n,
            mean_train_grad: sum_g.iter().map(|v| v / n).collect(),
            fisher_diag,
            inv_fisher,
            val_typ: Vec::new(),
            val_score: Vec::new(),
        };
        // Validation null: disjoint random groups of n rows (n = 1: every example).
        let gs = self.group_size;
        let n_groups = val.nrows() / gs;
        if n_groups == 0 {
            return Err(Error::Empty {
                what: "validation set (fewer rows than group_size)",
            });
        }
        let val_rows = if gs == 1 {
            val.to_owned()
        } else {
            let mut idx: Vec<usize> = (0..val.nrows()).collect();
            idx.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(self.seed));
            idx.truncate(n_groups * gs);
            val.select(Axis(0), &idx)
        };
        let stats = cal.raw_statistics(model, val_rows.view())?;
        let mut typ: Vec<f64> = stats.iter().map(|s| s.0).collect();
        let mut score: Vec<f64> = stats.iter().map(|s| s.1).collect();
        if typ.iter().chain(&score).any(|v| v.is_nan()) {
            return Err(Error::NonFinite {
                what: "validation statistics",
            });
        }
        typ.sort_by(f64::total_cmp);
        score.sort_by(f64::total_cmp);
        cal.val_typ = typ;
        cal.val_score = score;
        Ok(cal)
    }
}

fn check_grad_shape(g: &ndarray::Array2<f32>, rows: usize, p: usize) -> Result<()> {
    if g.dim() != (rows, p) {
        return Err(Error::ShapeMismatch {
            what: "model gradient (rows × n_params)",
            expected: rows * p,
            actual: g.len(),
        });
    }
    Ok(())
}

/// `(typicality, score, grad_norm, mmd_diag, mean log p)` of one group.
type RawStats = (f64, f64, f64, f64, f64);

/// A fitted calibration: everything the tests need besides the model.
#[derive(Debug, Clone)]
pub struct Calibrator {
    params: CalibrationParams,
    mean_train_ll: f64,
    mean_train_grad: Vec<f64>,
    fisher_diag: Vec<f64>,
    inv_fisher: Vec<f64>,
    val_typ: Vec<f64>,
    val_score: Vec<f64>,
}

/// Statistics of one test example (or one group of `group_size` examples).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestStatistics {
    /// Mean log-likelihood of the group (higher ⇒ more in-distribution, usually).
    pub log_prob: f64,
    /// Typicality `|mean log p − L̄|`.
    pub typicality: f64,
    /// Score statistic `Σ_j ḡ_j² / Î_j` (squared form).
    pub score: f64,
    /// Gradient norm `‖ḡ‖₂` (identity Fisher baseline).
    pub grad_norm: f64,
    /// MMD with the diagonal Fisher kernel, `‖Î^{-1/2}(ḡ_train − ḡ)‖₂`.
    pub mmd_diag: f64,
    /// Empirical typicality p-value.
    pub p_typicality: f64,
    /// Empirical score p-value.
    pub p_score: f64,
    /// Fisher's X² of the two p-values (the paper's OOD score).
    pub fisher: f64,
    /// Exact χ²₄ p-value of `fisher`.
    pub p_fisher: f64,
    /// Harmonic-mean p-value of the two p-values.
    pub p_harmonic: f64,
}

impl Calibrator {
    /// The settings used.
    pub fn params(&self) -> &CalibrationParams {
        &self.params
    }
    /// Mean training log-likelihood `L̄`.
    pub fn mean_train_log_prob(&self) -> f64 {
        self.mean_train_ll
    }
    /// Diagonal empirical Fisher `D = mean g ⊙ g` over training data (before damping).
    pub fn fisher_diag(&self) -> &[f64] {
        &self.fisher_diag
    }
    /// Mean training gradient (≈ 0 at a maximum-likelihood fit).
    pub fn mean_train_grad(&self) -> &[f64] {
        &self.mean_train_grad
    }
    /// Sorted validation typicality statistics (the null sample).
    pub fn null_typicality(&self) -> &[f64] {
        &self.val_typ
    }
    /// Sorted validation score statistics (the null sample).
    pub fn null_score(&self) -> &[f64] {
        &self.val_score
    }

    /// Empirical p-value of `t` against a sorted null sample, under the configured convention.
    pub fn p_value(&self, null_sorted: &[f64], t: f64) -> f64 {
        empirical_p_value(null_sorted, t, self.params.p_value)
    }

    /// `(typicality, score, grad_norm, mmd_diag, mean log p)` per group of consecutive rows.
    fn raw_statistics<M: DensityModel + ?Sized>(
        &self,
        model: &M,
        xs: ArrayView2<'_, f32>,
    ) -> Result<Vec<RawStats>> {
        let gs = self.params.group_size;
        if !xs.nrows().is_multiple_of(gs) {
            return Err(Error::ShapeMismatch {
                what: "rows (must be a multiple of group_size)",
                expected: xs.nrows() / gs * gs + gs,
                actual: xs.nrows(),
            });
        }
        let p = model.n_params();
        if p != self.inv_fisher.len() {
            return Err(Error::ShapeMismatch {
                what: "model n_params vs calibration",
                expected: self.inv_fisher.len(),
                actual: p,
            });
        }
        // Batches hold whole groups so that group means never straddle two model calls.
        let rows_per_call = (self.params.batch_size / gs).max(1) * gs;
        let mut out = Vec::with_capacity(xs.nrows() / gs);
        let mut gbar = vec![0.0f64; p];
        let mut start = 0;
        while start < xs.nrows() {
            let end = (start + rows_per_call).min(xs.nrows());
            let (ll, g) = model.log_prob_and_grad(xs.slice(s![start..end, ..]))?;
            check_grad_shape(&g, end - start, p)?;
            for (lls, gg) in ll
                .axis_chunks_iter(Axis(0), gs)
                .zip(g.axis_chunks_iter(Axis(0), gs))
            {
                let mean_ll = lls.sum() / gs as f64;
                if mean_ll.is_nan() {
                    return Err(Error::NonFinite {
                        what: "log-likelihood",
                    });
                }
                gbar.fill(0.0);
                for row in gg.rows() {
                    for (a, &v) in gbar.iter_mut().zip(row) {
                        *a += f64::from(v);
                    }
                }
                let (mut score, mut norm2, mut mmd2) = (0.0, 0.0, 0.0);
                for ((a, inv), mt) in gbar
                    .iter_mut()
                    .zip(&self.inv_fisher)
                    .zip(&self.mean_train_grad)
                {
                    *a /= gs as f64;
                    score += *a * *a * inv;
                    norm2 += *a * *a;
                    mmd2 += (mt - *a) * (mt - *a) * inv;
                }
                out.push((
                    (mean_ll - self.mean_train_ll).abs(),
                    score,
                    norm2.sqrt(),
                    mmd2.sqrt(),
                    mean_ll,
                ));
            }
            start = end;
        }
        Ok(out)
    }

    /// Statistics and p-values for each group of `group_size` consecutive rows of `xs`
    /// (each row when `group_size = 1`).
    pub fn statistics<M: DensityModel + ?Sized>(
        &self,
        model: &M,
        xs: ArrayView2<'_, f32>,
    ) -> Result<Vec<TestStatistics>> {
        let raw = self.raw_statistics(model, xs)?;
        raw.into_iter()
            .map(|(typ, score, grad_norm, mmd_diag, log_prob)| {
                let p_typ = self.p_value(&self.val_typ, typ);
                let p_score = self.p_value(&self.val_score, score);
                let f = fisher_method(&[p_typ, p_score])?;
                Ok(TestStatistics {
                    log_prob,
                    typicality: typ,
                    score,
                    grad_norm,
                    mmd_diag,
                    p_typicality: p_typ,
                    p_score,
                    fisher: f.statistic,
                    p_fisher: f.p_value,
                    p_harmonic: harmonic_mean_p(&[p_typ, p_score])?,
                })
            })
            .collect()
    }
}

/// Empirical p-value of `t` against a sorted null sample (callers reject NaN statistics first).
pub fn empirical_p_value(null_sorted: &[f64], t: f64, convention: PValueConvention) -> f64 {
    let n = null_sorted.len();
    match convention {
        PValueConvention::Paper => {
            if n == 0 {
                return 1.0;
            }
            let le = null_sorted.partition_point(|&v| v <= t);
            (n - le) as f64 / n as f64
        }
        PValueConvention::Conformal => {
            let lt = null_sorted.partition_point(|&v| v < t);
            (1 + n - lt) as f64 / (n + 1) as f64
        }
    }
}

/// Convenience: the statistic columns of a slice of [`TestStatistics`], as `Array1`.
pub fn column(stats: &[TestStatistics], f: impl Fn(&TestStatistics) -> f64) -> Array1<f64> {
    stats.iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_value_conventions() {
        let null = [1.0, 2.0, 2.0, 3.0];
        let p = |t| empirical_p_value(&null, t, PValueConvention::Paper);
        assert_eq!(p(0.5), 1.0);
        assert_eq!(p(2.0), 0.25);
        assert_eq!(p(3.0), 0.0);
        let c = |t| empirical_p_value(&null, t, PValueConvention::Conformal);
        assert_eq!(c(0.5), 1.0);
        assert_eq!(c(2.0), 4.0 / 5.0);
        assert_eq!(c(3.5), 1.0 / 5.0);
    }
}
