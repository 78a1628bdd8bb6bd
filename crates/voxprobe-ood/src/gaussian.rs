//! Diagonal Gaussian density with analytic per-example gradients; with unit variance and the
//! mean as the only parameter it is the exact toy model of Bergamin et al. §4.3.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{Error, Result};
use crate::model::{check_batch, DensityModel};

/// Which parameters the score test differentiates.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GaussianParams {
    /// Means only (the paper's toy model `N(θ, I)` has only θ).
    MeanOnly,
    /// Means, then log-variances.
    #[default]
    MeanAndLogVar,
}

/// `N(μ, diag σ²)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagGaussian {
    mean: Array1<f64>,
    log_var: Array1<f64>,
    params: GaussianParams,
}

const LN_2PI: f64 = 1.837_877_066_409_345_3;

impl DiagGaussian {
    /// A Gaussian with the given mean and log-variances.
    pub fn new(mean: Array1<f64>, log_var: Array1<f64>, params: GaussianParams) -> Result<Self> {
        if mean.is_empty() {
            return Err(Error::Empty { what: "mean" });
        }
        if mean.len() != log_var.len() {
            return Err(Error::ShapeMismatch {
                what: "log_var length",
                expected: mean.len(),
                actual: log_var.len(),
            });
        }
        if mean.iter().chain(&log_var).any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "Gaussian parameters",
            });
        }
        Ok(Self {
            mean,
            log_var,
            params,
        })
    }
    /// The paper's toy model: `N(0, I_D)`, mean-only gradients.
    pub fn standard(d: usize) -> Result<Self> {
        Self::new(Array1::zeros(d), Array1::zeros(d), GaussianParams::MeanOnly)
    }
    /// Maximum-likelihood fit (sample mean and variance + `var_floor`).
    pub fn fit(xs: ArrayView2<'_, f32>, var_floor: f64, params: GaussianParams) -> Result<Self> {
        if xs.nrows() == 0 {
            return Err(Error::Empty {
                what: "training set",
            });
        }
        let x = xs.mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).ok_or(Error::Empty {
            what: "training set",
        })?;
        let var = x.var_axis(Axis(0), 0.0);
        Self::new(mean, var.mapv(|v| (v + var_floor).ln()), params)
    }
    /// Means.
    pub fn mean(&self) -> &Array1<f64> {
        &self.mean
    }
    /// Log-variances.
    pub fn log_var(&self) -> &Array1<f64> {
        &self.log_var
    }
}

impl DensityModel for DiagGaussian {
    fn n_features(&self) -> usize {
        self.mean.len()
    }
    fn n_params(&self) -> usize {
        match self.params {
            GaussianParams::MeanOnly => self.mean.len(),
            GaussianParams::MeanAndLogVar => 2 * self.mean.len(),
        }
    }
    fn log_prob(&self, xs: ArrayView2<'_, f32>) -> Result<Array1<f64>> {
        Ok(self.log_prob_and_grad(xs)?.0)
    }
    fn log_prob_and_grad(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)> {
        check_batch(&xs, self.n_features())?;
        let d = self.mean.len();
        let mut lp = Array1::zeros(xs.nrows());
        let mut g = Array2::zeros((xs.nrows(), self.n_params()));
        for (i, x) in xs.rows().into_iter().enumerate() {
            let mut acc = 0.0;
            for j in 0..d {
                let s = self.log_var[j];
                let r = f64::from(x[j]) - self.mean[j];
                let z2 = r * r * (-s).exp();
                acc += LN_2PI + s + z2;
                // ∂/∂μ = (x − μ)/σ²; ∂/∂log σ² = ½((x − μ)²/σ² − 1)
                g[[i, j]] = (r * (-s).exp()) as f32;
                if self.params == GaussianParams::MeanAndLogVar {
                    g[[i, d + j]] = (0.5 * (z2 - 1.0)) as f32;
                }
            }
            lp[i] = -0.5 * acc;
        }
        Ok((lp, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn toy_log_prob_and_grad() {
        let m = DiagGaussian::standard(2).unwrap();
        let (lp, g) = m.log_prob_and_grad(array![[1.0f32, 2.0]].view()).unwrap();
        assert!((lp[0] - (-LN_2PI - 2.5)).abs() < 1e-12);
        assert_eq!(g.row(0).to_vec(), vec![1.0, 2.0]);
        assert!(matches!(
            m.log_prob(array![[1.0f32]].view()),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
