//! Lloyd iterations on candle tensors: the assignment is one `x·cᵀ` matmul plus an argmin, the
//! update a one-hot matmul, both on the chosen device. Small per-cluster bookkeeping (empty
//! clusters, division by weights, convergence checks) stays on the host.

use super::{
    engine, normalize_rows, scale_inertia, validate_data, Init, KMeans, KMeansValidParams, Metric,
};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn to_tensor(a: ArrayView2<f64>, device: &Device) -> Result<Tensor> {
    let v: Vec<f64> = a.iter().copied().collect();
    Ok(Tensor::from_vec(v, a.dim(), device)?)
}

/// Labels and squared distances of every row against `c` (on the device).
fn assign(xt: &Tensor, x_sq: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
    let c_sq = c.sqr()?.sum(1)?.unsqueeze(0)?;
    let dots = xt.matmul(&c.t()?)?;
    let part = (c_sq.broadcast_sub(&(dots * 2.0)?))?;
    let labels = part.argmin_keepdim(1)?;
    let best = part.gather(&labels, 1)?;
    let dist = (best + x_sq)?.clamp(0.0, f64::INFINITY)?;
    Ok((labels.squeeze(1)?, dist.squeeze(1)?))
}

pub(crate) fn fit_tensor(
    p: &KMeansValidParams,
    x: ArrayView2<f64>,
    device: &Device,
) -> Result<KMeans> {
    let w = vec![1.0; x.nrows()];
    let q = &p.0;
    validate_data(x, q.n_clusters)?;
    let owned = match q.metric {
        Metric::Euclidean => None,
        Metric::Cosine => Some(normalize_rows(x)?),
    };
    let x = match &owned {
        Some(a) => a.view(),
        None => x.view(),
    };
    let spherical = q.metric == Metric::Cosine;
    let (n, d) = x.dim();
    let k = q.n_clusters;
    let tol_abs = engine::tolerance(x, q.tol);
    let x_sq_host = engine::row_sq_norms(x);
    let xt = to_tensor(x, device)?;
    let x_sq = xt.sqr()?.sum_keepdim(1)?;
    let wt = Tensor::from_vec(w.clone(), (n, 1), device)?;
    let ids = Tensor::arange(0u32, k as u32, device)?.unsqueeze(0)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(q.seed);
    let mut best: Option<(f64, Array2<f64>, Vec<usize>, usize)> = None;
    for _ in 0..q.n_init {
        let mut centres = match &q.init {
            Init::KMeansPlusPlus => engine::kmeans_plusplus(x, &x_sq_host, &w, k, None, &mut rng),
            Init::Random => engine::random_init(x, k, &mut rng),
            Init::Centres(c) => {
                if c.ncols() != d {
                    return Err(crate::error::ParamError::InitShape {
                        expected: (k, d),
                        actual: c.dim(),
                    }
                    .into());
                }
                c.clone()
            }
        };
        if spherical {
            centres = super::normalize_rows_lenient(centres);
        }
        let to_labels = |lt: Tensor| -> Result<Vec<usize>> {
            Ok(lt
                .to_vec1::<u32>()?
                .into_iter()
                .map(|v| v as usize)
                .collect())
        };
        let engine::LloydResult {
            centres,
            labels,
            inertia,
            n_iter,
        } = engine::lloyd_with(
            x,
            &w,
            centres,
            engine::Stop {
                max_iter: q.max_iter,
                tol_abs,
                spherical,
            },
            |c| {
                let ct = to_tensor(c, device)?;
                let (lt, dt) = assign(&xt, &x_sq, &ct)?;
                let onehot = lt
                    .unsqueeze(1)?
                    .broadcast_eq(&ids)?
                    .to_dtype(DType::F64)?
                    .broadcast_mul(&wt)?;
                let sums_t = onehot.t()?.matmul(&xt)?;
                let wsum = onehot.sum(0)?.to_vec1::<f64>()?;
                let sums_v = sums_t.flatten_all()?.to_vec1::<f64>()?;
                let sums = Array2::from_shape_vec((k, d), sums_v).map_err(|e| Error::Model {
                    reason: e.to_string(),
                })?;
                // Distances leave the device only when an empty cluster needs them.
                let dist = if wsum.contains(&0.0) {
                    dt.to_vec1::<f64>()?
                } else {
                    Vec::new()
                };
                Ok(engine::Accumulated {
                    labels: to_labels(lt)?,
                    dist,
                    sums,
                    wsum,
                })
            },
            |c| to_labels(assign(&xt, &x_sq, &to_tensor(c, device)?)?.0),
        )?;
        if best.as_ref().is_none_or(|b| inertia < b.0) {
            best = Some((inertia, centres, labels, n_iter));
        }
        if matches!(q.init, Init::Centres(_)) {
            break;
        }
    }
    let (inertia, centres, labels, n_iter) = best.ok_or(Error::EmptyInput { what: "restarts" })?;
    Ok(KMeans::from_parts(
        centres,
        labels,
        scale_inertia(inertia, q.metric),
        n_iter,
        q.metric,
    ))
}
