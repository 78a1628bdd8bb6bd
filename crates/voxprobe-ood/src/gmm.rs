//! Diagonal-covariance Gaussian mixture fitted by EM (sklearn `GaussianMixture(covariance_type=
//! "diag")` defaults: k-means initialisation, `reg_covar` 1e-6, `tol` 1e-3 on the mean
//! log-likelihood, `max_iter` 100), with analytic per-example gradients of `log p(x)` with respect
//! to the mixing logits, the means and the log-variances — in that order.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{check_range, Error, Result};
use crate::model::{check_batch, DensityModel};

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Settings of the EM fit; `GmmParams::new(k)` then chain setters, then [`fit`](Self::fit).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct GmmParams {
    /// Number of components K. No default (required).
    pub n_components: usize,
    /// Maximum EM iterations. Default: 100.
    pub max_iter: usize,
    /// Stop when the mean log-likelihood improves by less than this. Default: 1e-3.
    pub tol: f64,
    /// Added to every variance (keeps components from collapsing). Default: 1e-6.
    pub reg_covar: f64,
    /// Lloyd iterations of the k-means initialisation. Default: 10.
    pub kmeans_iter: usize,
    /// Seed of the initial centres. Default: 1 (sklearn's `random_state=1` in the paper).
    pub seed: u64,
}

impl GmmParams {
    /// Defaults for `k` components.
    pub fn new(k: usize) -> Self {
        Self {
            n_components: k,
            max_iter: 100,
            tol: 1e-3,
            reg_covar: 1e-6,
            kmeans_iter: 10,
            seed: 1,
        }
    }
    /// Sets [`max_iter`](Self::max_iter).
    pub fn max_iter(mut self, v: usize) -> Self {
        self.max_iter = v;
        self
    }
    /// Sets [`tol`](Self::tol).
    pub fn tol(mut self, v: f64) -> Self {
        self.tol = v;
        self
    }
    /// Sets [`reg_covar`](Self::reg_covar).
    pub fn reg_covar(mut self, v: f64) -> Self {
        self.reg_covar = v;
        self
    }
    /// Sets [`kmeans_iter`](Self::kmeans_iter).
    pub fn kmeans_iter(mut self, v: usize) -> Self {
        self.kmeans_iter = v;
        self
    }
    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }

    /// Fits the mixture to the rows of `xs`.
    pub fn fit(&self, xs: ArrayView2<'_, f32>) -> Result<Gmm> {
        let k = self.n_components;
        check_range("n_components", k as f64, k >= 1, "≥ 1")?;
        check_range("reg_covar", self.reg_covar, self.reg_covar > 0.0, "> 0")?;
        check_range("tol", self.tol, self.tol >= 0.0, "≥ 0")?;
        let n = xs.nrows();
        if n < k {
            return Err(Error::ShapeMismatch {
                what: "training rows (need at least n_components)",
                expected: k,
                actual: n,
            });
        }
        check_batch(&xs, xs.ncols())?;
        let x = xs.mapv(f64::from);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        // k-means initialisation → hard responsibilities → one M-step (as sklearn).
        let mut centres = x.select(Axis(0), &sample(&mut rng, n, k).into_vec());
        let mut labels = vec![0usize; n];
        for _ in 0..self.kmeans_iter.max(1) {
            let d2 = sq_dists(&x, &centres);
            for (i, row) in d2.rows().into_iter().enumerate() {
                labels[i] = argmin(row.iter().copied());
            }
            let mut sums = Array2::<f64>::zeros(centres.dim());
            let mut counts = vec![0usize; k];
            for (i, &l) in labels.iter().enumerate() {
                sums.row_mut(l).scaled_add(1.0, &x.row(i));
                counts[l] += 1;
            }
            for (c, &cnt) in counts.iter().enumerate() {
                if cnt > 0 {
                    centres.row_mut(c).assign(&(&sums.row(c) / cnt as f64));
                }
            }
        }
        let mut resp = Array2::<f64>::zeros((n, k));
        for (i, &l) in labels.iter().enumerate() {
            resp[[i, l]] = 1.0;
        }
        let mut gmm = m_step(&x, &resp, self.reg_covar);
        let mut prev = f64::NEG_INFINITY;
        let mut converged = false;
        let mut n_iter = 0;
        for it in 0..self.max_iter {
            n_iter = it + 1;
            let (mean_ll, r) = gmm.e_step(&x);
            if !mean_ll.is_finite() {
                return Err(Error::Fit {
                    reason: format!("EM log-likelihood became {mean_ll}"),
                });
            }
            gmm = m_step(&x, &r, self.reg_covar);
            if (mean_ll - prev).abs() < self.tol {
                converged = true;
                break;
            }
            prev = mean_ll;
        }
        gmm.converged = converged;
        gmm.n_iter = n_iter;
        Ok(gmm)
    }
}

fn argmin(it: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::INFINITY);
    for (i, v) in it.enumerate() {
        if v < best.1 {
            best = (i, v);
        }
    }
    best.0
}

fn sq_dists(x: &Array2<f64>, c: &Array2<f64>) -> Array2<f64> {
    let xx = x.map_axis(Axis(1), |r| r.dot(&r));
    let cc = c.map_axis(Axis(1), |r| r.dot(&r));
    let mut d = x.dot(&c.t()) * -2.0;
    for ((i, j), v) in d.indexed_iter_mut() {
        *v += xx[i] + cc[j];
    }
    d
}

fn m_step(x: &Array2<f64>, resp: &Array2<f64>, reg: f64) -> Gmm {
    let n = x.nrows() as f64;
    // 10·eps as sklearn: an empty component keeps finite parameters.
    let nk = resp.sum_axis(Axis(0)) + 10.0 * f64::EPSILON;
    let means = resp.t().dot(x) / nk.view().insert_axis(Axis(1));
    let ex2 = resp.t().dot(&x.mapv(|v| v * v)) / nk.view().insert_axis(Axis(1));
    let var = (ex2 - means.mapv(|m| m * m)).mapv(|v| v.max(0.0) + reg);
    Gmm::from_parts(nk.mapv(|v| (v / n).ln()), means, var.mapv(f64::ln))
}

/// A fitted diagonal Gaussian mixture.
#[derive(Debug, Clone, PartialEq)]
pub struct Gmm {
    logits: Array1<f64>,
    means: Array2<f64>,
    log_var: Array2<f64>,
    // cached: log π_k (normalised), precisions, per-component constant
    log_weights: Array1<f64>,
    prec: Array2<f64>,
    consts: Array1<f64>,
    converged: bool,
    n_iter: usize,
}

impl Gmm {
    /// Builds a mixture from mixing logits `[K]`, means `[K, D]` and log-variances `[K, D]`.
    pub fn new(logits: Array1<f64>, means: Array2<f64>, log_var: Array2<f64>) -> Result<Self> {
        if logits.is_empty() || means.ncols() == 0 {
            return Err(Error::Empty {
                what: "mixture parameters",
            });
        }
        if means.nrows() != logits.len() || log_var.dim() != means.dim() {
            return Err(Error::ShapeMismatch {
                what: "mixture parameter shapes",
                expected: logits.len() * means.ncols(),
                actual: log_var.len(),
            });
        }
        if logits
            .iter()
            .chain(&means)
            .chain(&log_var)
            .any(|v| !v.is_finite())
        {
            return Err(Error::NonFinite {
                what: "mixture parameters",
            });
        }
        Ok(Self::from_parts(logits, means, log_var))
    }

    fn from_parts(logits: Array1<f64>, means: Array2<f64>, log_var: Array2<f64>) -> Self {
        let mx = logits.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let lse = mx + logits.mapv(|l| (l - mx).exp()).sum().ln();
        let log_weights = logits.mapv(|l| l - lse);
        let prec = log_var.mapv(|s| (-s).exp());
        let d = means.ncols() as f64;
        let consts = log_var.map_axis(Axis(1), |r| -0.5 * (d * LN_2PI + r.sum()));
        Self {
            logits,
            means,
            log_var,
            log_weights,
            prec,
            consts,
            converged: false,
            n_iter: 0,
        }
    }

    /// Mixing logits (softmax gives the weights).
    pub fn logits(&self) -> &Array1<f64> {
        &self.logits
    }
    /// Mixing weights π.
    pub fn weights(&self) -> Array1<f64> {
        self.log_weights.mapv(f64::exp)
    }
    /// Component means `[K, D]`.
    pub fn means(&self) -> &Array2<f64> {
        &self.means
    }
    /// Component log-variances `[K, D]`.
    pub fn log_var(&self) -> &Array2<f64> {
        &self.log_var
    }
    /// Whether EM met `tol` before `max_iter`.
    pub fn converged(&self) -> bool {
        self.converged
    }
    /// EM iterations run.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }

    /// `[N, K]` matrix of `log π_k + log N(x | μ_k, σ²_k)`.
    fn joint(&self, x: &Array2<f64>) -> Array2<f64> {
        // Σ_d (x−μ)² p = x²·p − 2x·(μ p) + μ²·p, as three matrix products.
        let mp = &self.means * &self.prec;
        let mmp = (&mp * &self.means).sum_axis(Axis(1));
        let mut q = x.mapv(|v| v * v).dot(&self.prec.t()) - x.dot(&mp.t()) * 2.0;
        for ((_, k), v) in q.indexed_iter_mut() {
            *v = self.log_weights[k] + self.consts[k] - 0.5 * (*v + mmp[k]);
        }
        q
    }

    fn e_step(&self, x: &Array2<f64>) -> (f64, Array2<f64>) {
        let mut j = self.joint(x);
        let mut total = 0.0;
        for mut row in j.rows_mut() {
            let lse = logsumexp(row.iter().copied());
            total += lse;
            row.mapv_inplace(|v| (v - lse).exp());
        }
        (total / x.nrows() as f64, j)
    }
}

fn logsumexp(it: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = it.clone().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + it.map(|v| (v - m).exp()).sum::<f64>().ln()
}

impl DensityModel for Gmm {
    fn n_features(&self) -> usize {
        self.means.ncols()
    }
    fn n_params(&self) -> usize {
        self.logits.len() * (1 + 2 * self.means.ncols())
    }
    fn log_prob(&self, xs: ArrayView2<'_, f32>) -> Result<Array1<f64>> {
        check_batch(&xs, self.n_features())?;
        let j = self.joint(&xs.mapv(f64::from));
        Ok(j.map_axis(Axis(1), |r| logsumexp(r.iter().copied())))
    }
    /// Analytic gradients (r_k = responsibility): ∂/∂logit_k = r_k − π_k;
    /// ∂/∂μ_kd = r_k (x_d − μ_kd)/σ²_kd; ∂/∂log σ²_kd = ½ r_k ((x_d − μ_kd)²/σ²_kd − 1).
    fn log_prob_and_grad(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)> {
        check_batch(&xs, self.n_features())?;
        let x = xs.mapv(f64::from);
        let j = self.joint(&x);
        let (k, d) = self.means.dim();
        let mut lp = Array1::zeros(x.nrows());
        let mut g = Array2::<f32>::zeros((x.nrows(), self.n_params()));
        for (i, (jrow, xrow)) in j.rows().into_iter().zip(x.rows()).enumerate() {
            let lse = logsumexp(jrow.iter().copied());
            lp[i] = lse;
            let mut grow = g.row_mut(i);
            for c in 0..k {
                let r = (jrow[c] - lse).exp();
                grow[c] = (r - self.log_weights[c].exp()) as f32;
                for dd in 0..d {
                    let p = self.prec[[c, dd]];
                    let diff = xrow[dd] - self.means[[c, dd]];
                    grow[k + c * d + dd] = (r * diff * p) as f32;
                    grow[k + k * d + c * d + dd] = (0.5 * r * (diff * diff * p - 1.0)) as f32;
                }
            }
        }
        Ok((lp, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rand_distr::StandardNormal;

    fn normal(rng: &mut impl Rng) -> f64 {
        rng.sample(StandardNormal)
    }

    #[test]
    fn em_recovers_two_separated_clusters() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let n = 2000;
        let mut x = Array2::<f32>::zeros((n, 2));
        for i in 0..n {
            let c = if rng.random::<f64>() < 0.3 { 5.0 } else { -5.0 };
            x[[i, 0]] = (c + normal(&mut rng)) as f32;
            x[[i, 1]] = (0.5 * normal(&mut rng)) as f32;
        }
        let g = GmmParams::new(2).fit(x.view()).unwrap();
        let w = g.weights();
        let hi = if g.means()[[0, 0]] > 0.0 { 0 } else { 1 };
        // Tolerances: sampling error of 2000 points (sd of a weight ≈ 0.01, of a mean ≈ 0.04).
        assert!((w[hi] - 0.3).abs() < 0.04, "{w}");
        assert!((g.means()[[hi, 0]] - 5.0).abs() < 0.15);
        assert!((g.log_var()[[hi, 1]].exp() - 0.25).abs() < 0.05);
        assert!(g.converged());
        assert!(matches!(
            GmmParams::new(0).fit(x.view()),
            Err(Error::Param(_))
        ));
    }
}
