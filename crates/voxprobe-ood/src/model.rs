//! The model interface: a per-example log-likelihood (or bound) and its gradient with respect to
//! a fixed, ordered parameter set. Everything else in the crate is model-independent.

use candle_core::{DType, Device, Tensor, Var};
use ndarray::{Array1, Array2, ArrayView2};

use crate::error::{Error, Result};

/// A differentiable density model over feature vectors of length [`n_features`](Self::n_features).
///
/// Implementations must be deterministic per example (fixed dequantisation noise, posterior
/// samples seeded from the example, no dropout): the typicality and score tests treat
/// `log_prob(x)` and its gradient as functions of `x`.
pub trait DensityModel {
    /// Length of one input vector.
    fn n_features(&self) -> usize;
    /// Length of the flattened gradient (number of scored parameters).
    fn n_params(&self) -> usize;
    /// Per-example log-likelihood (or a bound such as an ELBO), one value per row of `xs`.
    fn log_prob(&self, xs: ArrayView2<'_, f32>) -> Result<Array1<f64>>;
    /// Per-example log-likelihood and its gradient `∇_θ log p_θ(x)`, one row of length
    /// [`n_params`](Self::n_params) per input row, parameters in a fixed order.
    fn log_prob_and_grad(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)>;
}

/// Checks the feature dimension of a batch against a model.
pub(crate) fn check_batch(xs: &ArrayView2<'_, f32>, n_features: usize) -> Result<()> {
    if xs.ncols() != n_features {
        return Err(Error::ShapeMismatch {
            what: "feature dimension",
            expected: n_features,
            actual: xs.ncols(),
        });
    }
    if xs.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "input features",
        });
    }
    Ok(())
}

/// A density model written in candle. Wrap it in [`Autograd`] to get a [`DensityModel`] whose
/// per-example gradients come from candle's autograd (one backward pass per example, like the
/// paper's batch-size-1 loop).
pub trait CandleDensity {
    /// Length of one input vector.
    fn n_features(&self) -> usize;
    /// Per-example log-likelihood (or bound) for a `[B, n_features]` f32 batch; returns `[B]`.
    fn log_prob_tensor(&self, xs: &Tensor) -> Result<Tensor>;
    /// The scored parameters, in the order their gradients are flattened.
    fn score_vars(&self) -> Vec<Var>;
    /// Device the parameters live on.
    fn device(&self) -> &Device;
}

/// Adapts a [`CandleDensity`] to [`DensityModel`] with autograd per-example gradients.
#[derive(Debug, Clone)]
pub struct Autograd<M> {
    inner: M,
    n_params: usize,
}

impl<M: CandleDensity> Autograd<M> {
    /// Wraps a candle model.
    pub fn new(inner: M) -> Self {
        let n_params = inner.score_vars().iter().map(|v| v.elem_count()).sum();
        Self { inner, n_params }
    }
    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }
}

/// Copies an ndarray batch into a candle tensor on `device`.
pub fn to_tensor(xs: ArrayView2<'_, f32>, device: &Device) -> Result<Tensor> {
    let (b, d) = xs.dim();
    let data: Vec<f32> = xs.iter().copied().collect();
    Ok(Tensor::from_vec(data, (b, d), device)?)
}

/// Per-example gradient of `log_prob_tensor(x)` for one row `x` (`[1, D]`), flattened in
/// [`CandleDensity::score_vars`] order; parameters that receive no gradient contribute zeros.
pub fn per_example_grad<M: CandleDensity + ?Sized>(
    model: &M,
    x: &Tensor,
    vars: &[Var],
    out: &mut [f32],
) -> Result<f64> {
    let lp = model.log_prob_tensor(x)?;
    let total = lp.sum_all()?;
    let grads = total.backward()?;
    let mut off = 0;
    for v in vars {
        let n = v.elem_count();
        let len = out.len();
        let dst = out.get_mut(off..off + n).ok_or(Error::ShapeMismatch {
            what: "gradient buffer",
            expected: off + n,
            actual: len,
        })?;
        match grads.get(v.as_tensor()) {
            Some(g) => {
                let g = g.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                dst.copy_from_slice(&g);
            }
            None => dst.fill(0.0),
        }
        off += n;
    }
    Ok(total.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl<M: CandleDensity> DensityModel for Autograd<M> {
    fn n_features(&self) -> usize {
        self.inner.n_features()
    }
    fn n_params(&self) -> usize {
        self.n_params
    }
    fn log_prob(&self, xs: ArrayView2<'_, f32>) -> Result<Array1<f64>> {
        check_batch(&xs, self.n_features())?;
        let t = to_tensor(xs, self.inner.device())?;
        let lp = self
            .inner
            .log_prob_tensor(&t)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        Ok(Array1::from(lp))
    }
    fn log_prob_and_grad(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)> {
        check_batch(&xs, self.n_features())?;
        let vars = self.inner.score_vars();
        let mut grads = Array2::<f32>::zeros((xs.nrows(), self.n_params));
        let mut lps = Array1::<f64>::zeros(xs.nrows());
        for (i, row) in xs.rows().into_iter().enumerate() {
            let d = row.len();
            let x = Tensor::from_vec(row.to_vec(), (1, d), self.inner.device())?;
            let mut g = grads.row_mut(i);
            let out = g.as_slice_mut().ok_or(Error::Fit {
                reason: "gradient row not contiguous".into(),
            })?;
            lps[i] = per_example_grad(&self.inner, &x, &vars, out)?;
        }
        Ok((lps, grads))
    }
}
