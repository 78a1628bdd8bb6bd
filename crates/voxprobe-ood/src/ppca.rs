//! Probabilistic PCA (Tipping & Bishop 1999) as sklearn's `PCA` scores samples:
//! `x ~ N(μ, W Wᵀ + σ² I)`, `W = U_q (Λ_q − σ²)^{1/2}`, `σ²` = mean of the discarded eigenvalues.
//! Analytic per-example gradients with respect to the mean, `W` (row-major) and `log σ²`.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{check_range, Error, Result};
use crate::model::{check_batch, DensityModel};

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// Settings of the PPCA fit.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct PpcaParams {
    /// Latent dimension q. No default (required).
    pub n_components: usize,
    /// Subspace-iteration sweeps for the top eigenvectors. Default: 80.
    pub n_iter: usize,
    /// Extra subspace dimensions that speed up convergence of the q-th eigenvector. Default: 10.
    pub oversample: usize,
    /// Seed of the random start. Default: 1.
    pub seed: u64,
}

impl PpcaParams {
    /// Defaults for q latent dimensions.
    pub fn new(q: usize) -> Self {
        Self {
            n_components: q,
            n_iter: 80,
            oversample: 10,
            seed: 1,
        }
    }
    /// Sets [`n_iter`](Self::n_iter).
    pub fn n_iter(mut self, v: usize) -> Self {
        self.n_iter = v;
        self
    }
    /// Sets [`oversample`](Self::oversample).
    pub fn oversample(mut self, v: usize) -> Self {
        self.oversample = v;
        self
    }
    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }

    /// Fits PPCA by maximum likelihood (eigen-decomposition of the sample covariance).
    pub fn fit(&self, xs: ArrayView2<'_, f32>) -> Result<Ppca> {
        let (n, d) = xs.dim();
        let q = self.n_components;
        check_range(
            "n_components",
            q as f64,
            q >= 1 && q < d,
            "in [1, n_features)",
        )?;
        if n < 2 {
            return Err(Error::Empty {
                what: "training set (need 2 rows)",
            });
        }
        check_batch(&xs, d)?;
        let x = xs.mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).ok_or(Error::Empty {
            what: "training set",
        })?;
        let xc = &x - &mean;
        // sklearn's PCA uses the unbiased (n − 1) covariance.
        let cov = xc.t().dot(&xc) / (n as f64 - 1.0);
        let m = (q + self.oversample).min(d);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let mut basis = Array2::from_shape_fn((d, m), |_| rng.random::<f64>() - 0.5);
        orthonormalise(&mut basis)?;
        for _ in 0..self.n_iter {
            basis = cov.dot(&basis);
            orthonormalise(&mut basis)?;
        }
        let t = basis.t().dot(&cov).dot(&basis);
        let (evals, evecs) = jacobi_eigen(t);
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&a, &b| evals[b].total_cmp(&evals[a]));
        let u = basis.dot(&evecs);
        let top: Vec<f64> = order.iter().take(q).map(|&i| evals[i]).collect();
        let trace: f64 = cov.diag().sum();
        let sigma2 = ((trace - top.iter().sum::<f64>()) / (d - q) as f64).max(1e-12);
        let mut w = Array2::zeros((d, q));
        for (c, &i) in order.iter().take(q).enumerate() {
            let scale = (top[c] - sigma2).max(0.0).sqrt();
            w.column_mut(c).assign(&(&u.column(i) * scale));
        }
        Ppca::new(mean, w, sigma2.ln())
    }
}

/// Modified Gram–Schmidt on the columns.
fn orthonormalise(a: &mut Array2<f64>) -> Result<()> {
    for j in 0..a.ncols() {
        for k in 0..j {
            let proj = a.column(j).dot(&a.column(k));
            let ck = a.column(k).to_owned();
            a.column_mut(j).scaled_add(-proj, &ck);
        }
        let norm = a.column(j).dot(&a.column(j)).sqrt();
        if norm.is_nan() || norm <= 1e-300 {
            return Err(Error::Fit {
                reason: "rank-deficient covariance in PPCA".into(),
            });
        }
        a.column_mut(j).mapv_inplace(|v| v / norm);
    }
    Ok(())
}

/// Cyclic Jacobi eigen-decomposition of a small symmetric matrix: (eigenvalues, eigenvectors as
/// columns).
fn jacobi_eigen(mut a: Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut v = Array2::eye(n);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[[i, j]] * a[[i, j]])
            .sum();
        if off < 1e-22 * a.iter().map(|x| x * x).sum::<f64>().max(1e-300) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[[p, q]];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[[q, q]] - a[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let akp = a[[k, p]];
                    let akq = a[[k, q]];
                    a[[k, p]] = c * akp - s * akq;
                    a[[k, q]] = s * akp + c * akq;
                }
                for k in 0..n {
                    let apk = a[[p, k]];
                    let aqk = a[[q, k]];
                    a[[p, k]] = c * apk - s * aqk;
                    a[[q, k]] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let vkp = v[[k, p]];
                    let vkq = v[[k, q]];
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[[i, i]]).collect(), v)
}

/// Cholesky factor L (lower) of a symmetric positive-definite matrix.
fn cholesky(a: &Array2<f64>) -> Result<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= l[[i, k]] * l[[j, k]];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return Err(Error::Fit {
                        reason: "PPCA matrix M not positive definite".into(),
                    });
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    Ok(l)
}

/// A fitted PPCA model.
#[derive(Debug, Clone, PartialEq)]
pub struct Ppca {
    mean: Array1<f64>,
    w: Array2<f64>,
    log_sigma2: f64,
    // cached: M^{-1} (q×q), log|C|, C^{-1}W (D×q), tr C^{-1}
    m_inv: Array2<f64>,
    log_det: f64,
    cinv_w: Array2<f64>,
    tr_cinv: f64,
}

impl Ppca {
    /// Builds a model from its mean `[D]`, loading matrix `W` `[D, q]` and `log σ²`.
    pub fn new(mean: Array1<f64>, w: Array2<f64>, log_sigma2: f64) -> Result<Self> {
        let (d, q) = w.dim();
        if mean.len() != d {
            return Err(Error::ShapeMismatch {
                what: "PPCA mean length",
                expected: d,
                actual: mean.len(),
            });
        }
        if mean.iter().chain(&w).any(|v| !v.is_finite()) || !log_sigma2.is_finite() {
            return Err(Error::NonFinite {
                what: "PPCA parameters",
            });
        }
        let s2 = log_sigma2.exp();
        let m = w.t().dot(&w) + Array2::<f64>::eye(q) * s2;
        let l = cholesky(&m)?;
        let log_det_m = 2.0 * l.diag().iter().map(|v| v.ln()).sum::<f64>();
        // M^{-1} by solving L Lᵀ X = I column by column.
        let mut m_inv = Array2::<f64>::zeros((q, q));
        for c in 0..q {
            let mut y = vec![0.0; q];
            for i in 0..q {
                let mut s = if i == c { 1.0 } else { 0.0 };
                for k in 0..i {
                    s -= l[[i, k]] * y[k];
                }
                y[i] = s / l[[i, i]];
            }
            for i in (0..q).rev() {
                let mut s = y[i];
                for k in i + 1..q {
                    s -= l[[k, i]] * m_inv[[k, c]];
                }
                m_inv[[i, c]] = s / l[[i, i]];
            }
        }
        // |C| = σ^{2(D−q)} |M|;  C^{-1} = (I − W M^{-1} Wᵀ)/σ²
        let log_det = (d - q) as f64 * log_sigma2 + log_det_m;
        let w_minv = w.dot(&m_inv);
        let cinv_w = (&w - &w_minv.dot(&w.t().dot(&w))) / s2;
        let tr_cinv = (d as f64 - (&w_minv * &w).sum()) / s2;
        Ok(Self {
            mean,
            w,
            log_sigma2,
            m_inv,
            log_det,
            cinv_w,
            tr_cinv,
        })
    }
    /// Mean.
    pub fn mean(&self) -> &Array1<f64> {
        &self.mean
    }
    /// Loading matrix `[D, q]`.
    pub fn w(&self) -> &Array2<f64> {
        &self.w
    }
    /// `log σ²`.
    pub fn log_sigma2(&self) -> f64 {
        self.log_sigma2
    }

    /// `(log p, v = C^{-1}(x − μ))` per row.
    fn solve(&self, x: &Array2<f64>) -> (Array1<f64>, Array2<f64>) {
        let s2 = self.log_sigma2.exp();
        let r = x - &self.mean;
        let proj = r.dot(&self.w).dot(&self.m_inv); // [N, q]
        let v = (&r - &proj.dot(&self.w.t())) / s2;
        let d = self.mean.len() as f64;
        let lp = (&r * &v)
            .sum_axis(Axis(1))
            .mapv(|quad| -0.5 * (d * LN_2PI + self.log_det + quad));
        (lp, v)
    }
}

impl DensityModel for Ppca {
    fn n_features(&self) -> usize {
        self.mean.len()
    }
    fn n_params(&self) -> usize {
        self.w.len() + self.mean.len() + 1
    }
    fn log_prob(&self, xs: ArrayView2<'_, f32>) -> Result<Array1<f64>> {
        check_batch(&xs, self.n_features())?;
        Ok(self.solve(&xs.mapv(f64::from)).0)
    }
    /// ∂/∂μ = v; ∂/∂W = v (vᵀW) − C^{-1}W; ∂/∂log σ² = ½ σ² (vᵀv − tr C^{-1}), v = C^{-1}(x − μ).
    fn log_prob_and_grad(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)> {
        check_batch(&xs, self.n_features())?;
        let (lp, v) = self.solve(&xs.mapv(f64::from));
        let (d, q) = self.w.dim();
        let vw = v.dot(&self.w);
        let s2 = self.log_sigma2.exp();
        let mut g = Array2::<f32>::zeros((xs.nrows(), self.n_params()));
        for (i, mut row) in g.rows_mut().into_iter().enumerate() {
            for j in 0..d {
                row[j] = v[[i, j]] as f32;
                for c in 0..q {
                    row[d + j * q + c] = (v[[i, j]] * vw[[i, c]] - self.cinv_w[[j, c]]) as f32;
                }
            }
            let vv = v.row(i).dot(&v.row(i));
            row[d + d * q] = (0.5 * s2 * (vv - self.tr_cinv)) as f32;
        }
        Ok((lp, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn dense_log_prob(p: &Ppca, x: &[f64]) -> f64 {
        // Brute force: C = WWᵀ + σ²I, log N via Cholesky of C.
        let d = p.mean.len();
        let c = p.w.dot(&p.w.t()) + Array2::<f64>::eye(d) * p.log_sigma2.exp();
        let l = cholesky(&c).unwrap();
        let mut y = vec![0.0; d];
        for i in 0..d {
            let mut s = x[i] - p.mean[i];
            for k in 0..i {
                s -= l[[i, k]] * y[k];
            }
            y[i] = s / l[[i, i]];
        }
        let quad: f64 = y.iter().map(|v| v * v).sum();
        let logdet = 2.0 * l.diag().iter().map(|v| v.ln()).sum::<f64>();
        -0.5 * (d as f64 * LN_2PI + logdet + quad)
    }

    #[test]
    fn woodbury_and_gradients_match_brute_force() {
        let mean = array![0.1, -0.2, 0.3, 0.0];
        let w = array![[1.0, 0.2], [0.5, -0.3], [-0.4, 0.8], [0.2, 0.1]];
        let ls = (0.3f64).ln();
        let p = Ppca::new(mean.clone(), w.clone(), ls).unwrap();
        let x = [0.7f32, -1.1, 0.4, 2.0];
        let xs = Array2::from_shape_vec((1, 4), x.to_vec()).unwrap();
        let (lp, g) = p.log_prob_and_grad(xs.view()).unwrap();
        let xd: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        assert!((lp[0] - dense_log_prob(&p, &xd)).abs() < 1e-10);
        // Central finite differences in f64: truncation error O(h²) ≈ 1e-10, gradients are
        // returned in f32 (relative 6e-8), so 1e-5 absolute is a safe bound.
        const FD_TOL: f64 = 1e-5;
        let h = 1e-5;
        let mut k = 0;
        for j in 0..4 {
            let mut mp = mean.clone();
            mp[j] += h;
            let mut mm = mean.clone();
            mm[j] -= h;
            let fd = (dense_log_prob(&Ppca::new(mp, w.clone(), ls).unwrap(), &xd)
                - dense_log_prob(&Ppca::new(mm, w.clone(), ls).unwrap(), &xd))
                / (2.0 * h);
            assert!((fd - f64::from(g[[0, k]])).abs() < FD_TOL, "mean {j}");
            k += 1;
        }
        for j in 0..4 {
            for c in 0..2 {
                let mut wp = w.clone();
                wp[[j, c]] += h;
                let mut wm = w.clone();
                wm[[j, c]] -= h;
                let fd = (dense_log_prob(&Ppca::new(mean.clone(), wp, ls).unwrap(), &xd)
                    - dense_log_prob(&Ppca::new(mean.clone(), wm, ls).unwrap(), &xd))
                    / (2.0 * h);
                assert!((fd - f64::from(g[[0, k]])).abs() < FD_TOL, "W {j},{c}");
                k += 1;
            }
        }
        let fd = (dense_log_prob(&Ppca::new(mean.clone(), w.clone(), ls + h).unwrap(), &xd)
            - dense_log_prob(&Ppca::new(mean.clone(), w.clone(), ls - h).unwrap(), &xd))
            / (2.0 * h);
        assert!((fd - f64::from(g[[0, k]])).abs() < FD_TOL, "log sigma2");
    }

    #[test]
    fn fit_recovers_low_rank_covariance() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let n = 4000;
        let d = 6;
        let mut x = Array2::<f32>::zeros((n, d));
        let dir = [0.6, 0.8, 0.0, 0.0, 0.0, 0.0];
        for i in 0..n {
            let z = (rng.random::<f64>() - 0.5) * 12f64.sqrt() * 3.0; // var 9
            for j in 0..d {
                let e = (rng.random::<f64>() - 0.5) * 12f64.sqrt() * 0.5; // var 0.25
                x[[i, j]] = (z * dir[j] + e) as f32;
            }
        }
        let p = PpcaParams::new(1).fit(x.view()).unwrap();
        // σ² ≈ 0.25, ‖w‖² ≈ 9; sampling error of 4000 rows is ~3 % on variances.
        assert!((p.log_sigma2().exp() - 0.25).abs() < 0.02);
        let wn: f64 = p.w().iter().map(|v| v * v).sum();
        assert!((wn - 9.0).abs() < 0.6, "{wn}");
        assert!(matches!(
            PpcaParams::new(6).fit(x.view()),
            Err(Error::Param(_))
        ));
    }
}
