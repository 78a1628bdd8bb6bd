//! Lloyd iterations on candle tensors: the assignment is one `x·cᵀ` matmul plus an argmin, the
//! update a one-hot matmul, both on the chosen device. Small per-cluster bookkeeping (empty
//! clusters, division by weights, convergence checks) stays on the host.

use super::{
    engine, normalize_rows, scale_inertia, validate_data, Init, KMeans, KMeansValidParams, Metric,
};
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use ndarray::{Array2, ArrayView2, Axis};
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
        let mut labels_old: Option<Vec<usize>> = None;
        let mut labels: Vec<usize> = Vec::new();
        let mut strict = false;
        let mut n_iter = 0;
        for it in 0..q.max_iter {
            n_iter = it + 1;
            let ct = to_tensor(centres.view(), device)?;
            let (lt, dt) = assign(&xt, &x_sq, &ct)?;
            let onehot = lt
                .unsqueeze(1)?
                .broadcast_eq(&ids)?
                .to_dtype(DType::F64)?
                .broadcast_mul(&wt)?;
            let sums_t = onehot.t()?.matmul(&xt)?;
            let wsum_t = onehot.sum(0)?;
            let l: Vec<usize> = lt
                .to_vec1::<u32>()?
                .into_iter()
                .map(|v| v as usize)
                .collect();
            let mut wsum = wsum_t.to_vec1::<f64>()?;
            let sums_v = sums_t.flatten_all()?.to_vec1::<f64>()?;
            let mut sums = Array2::from_shape_vec((k, d), sums_v).map_err(|e| Error::Model {
                reason: e.to_string(),
            })?;
            if wsum.contains(&0.0) {
                let dist = dt.to_vec1::<f64>()?;
                engine::relocate_empty(x, &w, &l, &dist, &mut sums, &mut wsum);
            }
            for (j, mut row) in sums.axis_iter_mut(Axis(0)).enumerate() {
                if wsum[j] > 0.0 {
                    let inv = 1.0 / wsum[j];
                    row.mapv_inplace(|v| v * inv);
                }
            }
            if spherical {
                sums = super::normalize_rows_lenient(sums);
            }
            let shift: f64 = sums
                .axis_iter(Axis(0))
                .zip(centres.axis_iter(Axis(0)))
                .map(|(a, b)| engine::sq_dist(a, b))
                .sum();
            centres = sums;
            labels = l;
            if labels_old.as_ref() == Some(&labels) {
                strict = true;
                break;
            }
            if shift <= tol_abs {
                break;
            }
            labels_old = Some(labels.clone());
        }
        if !strict {
            let ct = to_tensor(centres.view(), device)?;
            let (lt, _) = assign(&xt, &x_sq, &ct)?;
            labels = lt
                .to_vec1::<u32>()?
                .into_iter()
                .map(|v| v as usize)
                .collect();
        }
        let inertia = engine::inertia(x, &w, centres.view(), &labels);
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
