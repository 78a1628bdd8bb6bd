//! L2-penalised logistic regression with scikit-learn 1.9's `LogisticRegression()` objective.
//!
//! scikit-learn 1.9 (`sklearn/linear_model/_logistic.py`, `_logistic_regression_path`, solver
//! `lbfgs`) minimises, for `n` samples and `K` classes,
//!
//! ```text
//! f(W, b) = 1/n · Σ_i loss_i + 1/(2 · C · n) · ||W||²_F        (intercepts b not penalised)
//! ```
//!
//! * `K ≥ 3`: `loss_i = logsumexp(z_i) − z_i[y_i]` with `z_i = W x_i + b` and one weight row per
//!   class (`HalfMultinomialLoss`, the full, over-parameterised softmax).
//! * `K = 2`: one weight vector for the second class (`HalfBinomialLoss`):
//!   `loss_i = log(1 + e^{z_i}) − y_i z_i`; `predict_proba = [1 − σ(z), σ(z)]`.
//!
//! The problem is strictly convex in `W` (and, for `K ≥ 3`, flat only along "add a constant to
//! every intercept", which changes no probability; we start from zero like scikit-learn, so the
//! intercepts sum to zero). Rather than copy scikit-learn's early stop (`tol = 1e-4` on the
//! projected gradient, `max_iter = 100`), [`LogisticRegressionParams`] solves it to a gradient
//! of `1e-10` with L-BFGS, so the fitted model is the unique optimum and agrees with any solver
//! run to convergence.

use ndarray::{s, Array1, Array2, ArrayView2, Axis};

use crate::error::{Error, ParamError, Result};
use crate::scaler::check_matrix;

/// Settings for [`LogisticRegression`]; `check()` validates, `fit` validates then fits.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogisticRegressionParams {
    /// Inverse L2 strength, as scikit-learn's `C`. Default: `1.0`.
    pub c: f64,
    /// Fit unpenalised intercepts. Default: `true`.
    pub fit_intercept: bool,
    /// L-BFGS iteration cap. Default: `10_000` (scikit-learn stops at 100; we solve to `tol`).
    pub max_iter: usize,
    /// Stop when the largest absolute gradient entry of the (mean-scaled) objective is at most
    /// this. Default: `1e-10` (scikit-learn's `tol = 1e-4` stops early; see the module doc).
    pub tol: f64,
    /// L-BFGS memory (pairs kept). Default: `10` (scipy's `maxcor`).
    pub memory: usize,
}

impl Default for LogisticRegressionParams {
    fn default() -> Self {
        Self {
            c: 1.0,
            fit_intercept: true,
            max_iter: 10_000,
            tol: 1e-10,
            memory: 10,
        }
    }
}

impl LogisticRegressionParams {
    /// The defaults (see the field docs).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `C`.
    pub fn c(mut self, c: f64) -> Self {
        self.c = c;
        self
    }
    /// Sets whether intercepts are fitted.
    pub fn fit_intercept(mut self, yes: bool) -> Self {
        self.fit_intercept = yes;
        self
    }
    /// Sets the iteration cap.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }
    /// Sets the gradient tolerance.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// Sets the L-BFGS memory.
    pub fn memory(mut self, m: usize) -> Self {
        self.memory = m;
        self
    }

    /// Validates the settings.
    pub fn check(&self) -> Result<LogisticRegressionValidParams, ParamError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(ParamError::BadC { c: self.c });
        }
        if self.max_iter == 0 || self.memory == 0 {
            return Err(ParamError::ZeroIterations);
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(ParamError::BadTolerance { tol: self.tol });
        }
        Ok(LogisticRegressionValidParams(self.clone()))
    }

    /// Validates, then fits on `x` (samples × features) and labels `y`.
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<LogisticRegression> {
        self.check()?.fit(x, y)
    }
}

/// Checked [`LogisticRegressionParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegressionValidParams(LogisticRegressionParams);

/// A fitted model. Classes are the distinct labels seen in training, ascending (scikit-learn's
/// `classes_`); probability columns follow that order.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    classes: Vec<usize>,
    /// `[m, d]`, `m = 1` for two classes, else `K`.
    coef: Array2<f64>,
    intercept: Array1<f64>,
    n_iter: usize,
    converged: bool,
    grad_max: f64,
}

impl LogisticRegressionValidParams {
    /// Fits on `x` (samples × features) and labels `y` (any `usize` values; at least 2 distinct).
    pub fn fit(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> Result<LogisticRegression> {
        let p = &self.0;
        check_matrix(x)?;
        if y.len() != x.nrows() {
            return Err(Error::ShapeMismatch {
                what: "labels (one per sample)",
                expected: x.nrows(),
                actual: y.len(),
            });
        }
        let mut classes = y.to_vec();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(Error::TooFewClasses {
                n_classes: classes.len(),
            });
        }
        // Labels as positions in `classes`.
        let yi: Vec<usize> = y
            .iter()
            .map(|v| classes.binary_search(v).unwrap_or(0))
            .collect();
        let k = classes.len();
        let m = if k == 2 { 1 } else { k };
        let d = x.ncols();
        let n = x.nrows() as f64;
        let obj = Objective {
            x: x.view(),
            y: &yi,
            m,
            d,
            n,
            lambda: 1.0 / (p.c * n),
            fit_intercept: p.fit_intercept,
        };
        let theta0 = vec![0.0; m * (d + 1)];
        let res = lbfgs(&obj, theta0, p.max_iter, p.tol, p.memory);
        if !res.converged {
            tracing::warn!(
                grad_max = res.grad_max,
                iterations = res.n_iter,
                "logistic regression stopped before reaching tol"
            );
        }
        let theta =
            Array2::from_shape_vec((m, d + 1), res.theta).map_err(|_| Error::ShapeMismatch {
                what: "parameters",
                expected: m * (d + 1),
                actual: 0,
            })?;
        let coef = theta.slice(s![.., ..d]).to_owned();
        let mut intercept = theta.column(d).to_owned();
        if m > 1 {
            // The softmax is invariant to a common shift: pin the intercepts to sum to zero.
            let mean = intercept.mean().unwrap_or(0.0);
            intercept -= mean;
        }
        Ok(LogisticRegression {
            classes,
            coef,
            intercept,
            n_iter: res.n_iter,
            converged: res.converged,
            grad_max: res.grad_max,
        })
    }
}

impl LogisticRegression {
    /// Distinct training labels, ascending.
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }
    /// Weights, `[1, d]` for two classes (the second class's logit) else `[K, d]`.
    pub fn coef(&self) -> &Array2<f64> {
        &self.coef
    }
    /// Intercepts (`[1]` or `[K]`, summing to zero for `K ≥ 3`).
    pub fn intercept(&self) -> &Array1<f64> {
        &self.intercept
    }
    /// L-BFGS iterations used.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }
    /// Whether the gradient reached `tol` (else a `warn!` was logged).
    pub fn converged(&self) -> bool {
        self.converged
    }
    /// Largest absolute gradient entry at the solution.
    pub fn grad_max(&self) -> f64 {
        self.grad_max
    }

    /// Raw scores `x Wᵀ + b`, `[n, m]`.
    pub fn decision_function(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_matrix(x)?;
        if x.ncols() != self.coef.ncols() {
            return Err(Error::ShapeMismatch {
                what: "feature columns",
                expected: self.coef.ncols(),
                actual: x.ncols(),
            });
        }
        Ok(x.dot(&self.coef.t()) + &self.intercept)
    }

    /// Class probabilities, `[n, K]`, columns in [`classes`](Self::classes) order.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        let z = self.decision_function(x)?;
        if self.classes.len() == 2 {
            let mut p = Array2::zeros((z.nrows(), 2));
            for (i, &zi) in z.column(0).iter().enumerate() {
                let s = sigmoid(zi);
                p[[i, 0]] = 1.0 - s;
                p[[i, 1]] = s;
            }
            return Ok(p);
        }
        let mut p = z;
        for mut row in p.axis_iter_mut(Axis(0)) {
            let mx = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            row.mapv_inplace(|v| (v - mx).exp());
            let sum = row.sum();
            row /= sum;
        }
        Ok(p)
    }

    /// Predicted labels (the arg-max of the scores; ties go to the lower class, as numpy).
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        let z = self.decision_function(x)?;
        Ok(z.axis_iter(Axis(0))
            .map(|row| {
                if self.classes.len() == 2 {
                    self.classes[usize::from(row[0] > 0.0)]
                } else {
                    let mut best = 0;
                    for (j, &v) in row.iter().enumerate() {
                        if v > row[best] {
                            best = j;
                        }
                    }
                    self.classes[best]
                }
            })
            .collect())
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

struct Objective<'a> {
    x: ArrayView2<'a, f64>,
    y: &'a [usize],
    m: usize,
    d: usize,
    n: f64,
    lambda: f64,
    fit_intercept: bool,
}

impl Objective<'_> {
    /// Objective value and gradient at `theta` (`[m, d + 1]` row-major, last column = b).
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let (m, d) = (self.m, self.d);
        let th = ndarray::ArrayView2::from_shape((m, d + 1), theta);
        let Ok(th) = th else {
            return f64::NAN;
        };
        let w = th.slice(s![.., ..d]);
        let b = th.column(d);
        let mut z = self.x.dot(&w.t());
        if self.fit_intercept {
            z += &b;
        }
        let mut loss = 0.0;
        // z becomes the residual R = P - Y.
        if m == 1 {
            for (zi, &yi) in z.column_mut(0).iter_mut().zip(self.y) {
                let yv = if yi == 1 { 1.0 } else { 0.0 };
                loss += softplus(*zi) - yv * *zi;
                *zi = sigmoid(*zi) - yv;
            }
        } else {
            for (mut row, &yi) in z.axis_iter_mut(Axis(0)).zip(self.y) {
                let mx = row.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                let mut sum = 0.0;
                for v in row.iter() {
                    sum += (v - mx).exp();
                }
                let lse = mx + sum.ln();
                loss += lse - row[yi];
                row.mapv_inplace(|v| (v - lse).exp());
                row[yi] -= 1.0;
            }
        }
        let gw = z.t().dot(&self.x) / self.n;
        let gb = z.sum_axis(Axis(0)) / self.n;
        let mut pen = 0.0;
        for c in 0..m {
            for j in 0..d {
                let wv = w[[c, j]];
                pen += wv * wv;
                grad[c * (d + 1) + j] = gw[[c, j]] + self.lambda * wv;
            }
            grad[c * (d + 1) + d] = if self.fit_intercept { gb[c] } else { 0.0 };
        }
        loss / self.n + 0.5 * self.lambda * pen
    }
}

struct LbfgsResult {
    theta: Vec<f64>,
    n_iter: usize,
    converged: bool,
    grad_max: f64,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// L-BFGS with a line search that accepts Armijo steps, or — near the optimum, where the
/// objective's change drowns in rounding — Hager–Zhang's approximate Wolfe conditions.
fn lbfgs(
    obj: &Objective<'_>,
    mut x: Vec<f64>,
    max_iter: usize,
    tol: f64,
    mem: usize,
) -> LbfgsResult {
    let nvar = x.len();
    let mut g = vec![0.0; nvar];
    let mut f = obj.eval(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut xn = vec![0.0; nvar];
    let mut gn = vec![0.0; nvar];
    let mut iter = 0;
    let mut fails = 0;
    while iter < max_iter {
        if max_abs(&g) <= tol {
            return LbfgsResult {
                theta: x,
                n_iter: iter,
                converged: true,
                grad_max: max_abs(&g),
            };
        }
        // Two-loop recursion: p = -H g.
        let mut q = g.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho[i] * dot(&s_hist[i], &q);
            for (qv, yv) in q.iter_mut().zip(&y_hist[i]) {
                *qv -= alpha[i] * yv;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / max_abs(&g).max(1.0),
        };
        q.iter_mut().for_each(|v| *v *= gamma);
        for i in 0..s_hist.len() {
            let beta = rho[i] * dot(&y_hist[i], &q);
            for (qv, sv) in q.iter_mut().zip(&s_hist[i]) {
                *qv += (alpha[i] - beta) * sv;
            }
        }
        let mut p: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut gp = dot(&g, &p);
        if gp >= 0.0 {
            // Not a descent direction (rounding): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            p = g.iter().map(|v| -v).collect();
            gp = dot(&g, &p);
        }
        let mut step = 1.0;
        let mut accepted = false;
        let mut fnew = f;
        for _ in 0..60 {
            for ((xn, xv), pv) in xn.iter_mut().zip(&x).zip(&p) {
                *xn = xv + step * pv;
            }
            fnew = obj.eval(&xn, &mut gn);
            let gnp = dot(&gn, &p);
            let armijo = fnew <= f + 1e-4 * step * gp;
            let approx_wolfe = fnew <= f + 1e-12 * f.abs() && gnp >= 0.9 * gp && gnp <= -0.8 * gp;
            if fnew.is_finite() && (armijo || approx_wolfe) {
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        iter += 1;
        if !accepted {
            fails += 1;
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            if fails >= 2 {
                break;
            }
            continue;
        }
        fails = 0;
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if s_hist.len() == mem {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        std::mem::swap(&mut x, &mut xn);
        std::mem::swap(&mut g, &mut gn);
        f = fnew;
    }
    let grad_max = max_abs(&g);
    LbfgsResult {
        theta: x,
        n_iter: iter,
        converged: grad_max <= tol,
        grad_max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The gradient of the objective matches central finite differences.
    #[test]
    fn gradient_matches_finite_differences() {
        let x = array![
            [0.5, -1.0],
            [1.5, 0.3],
            [-0.7, 0.8],
            [0.1, -0.2],
            [1.0, 1.0]
        ];
        for (y, m) in [(vec![0, 1, 2, 1, 0], 3), (vec![0, 1, 1, 0, 1], 1)] {
            let obj = Objective {
                x: x.view(),
                y: &y,
                m,
                d: 2,
                n: 5.0,
                lambda: 0.2,
                fit_intercept: true,
            };
            let theta: Vec<f64> = (0..m * 3).map(|i| 0.1 * i as f64 - 0.3).collect();
            let mut g = vec![0.0; theta.len()];
            obj.eval(&theta, &mut g);
            let mut scratch = g.clone();
            for i in 0..theta.len() {
                let h = 1e-6;
                let (mut a, mut b) = (theta.clone(), theta.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (obj.eval(&a, &mut scratch) - obj.eval(&b, &mut scratch)) / (2.0 * h);
                assert!((fd - g[i]).abs() < 1e-8, "{i}: {fd} vs {}", g[i]);
            }
        }
    }

    #[test]
    fn converges_and_predicts_separable_classes() {
        let x = array![
            [0.0, 0.0],
            [0.1, 0.2],
            [3.0, 3.0],
            [3.1, 2.9],
            [-3.0, 3.0],
            [-2.9, 3.2]
        ];
        let y = [0, 0, 1, 1, 2, 2];
        let m = LogisticRegressionParams::new().fit(x.view(), &y).unwrap();
        assert!(m.converged(), "grad {}", m.grad_max());
        assert_eq!(m.predict(x.view()).unwrap(), y.to_vec());
        let p = m.predict_proba(x.view()).unwrap();
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-12);
        }
        assert!(m.intercept().sum().abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_settings_and_one_class() {
        assert!(matches!(
            LogisticRegressionParams::new().c(0.0).check(),
            Err(ParamError::BadC { .. })
        ));
        assert!(matches!(
            LogisticRegressionParams::new().tol(f64::NAN).check(),
            Err(ParamError::BadTolerance { .. })
        ));
        let x = array![[0.0], [1.0]];
        assert!(matches!(
            LogisticRegressionParams::new().fit(x.view(), &[3, 3]),
            Err(Error::TooFewClasses { n_classes: 1 })
        ));
        assert!(matches!(
            LogisticRegressionParams::new().fit(x.view(), &[3]),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
