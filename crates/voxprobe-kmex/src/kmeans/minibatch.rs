//! Mini-batch k-means (Sculley 2010, as scikit-learn's `MiniBatchKMeans`): per-centre learning
//! rate 1/count, batches drawn with replacement, early stop when the smoothed batch inertia has
//! not improved for `max_no_improvement` steps. For data too large for full Lloyd passes, e.g.
//! location vectors of many images when fitting concepts.

use super::{engine, normalize_rows, scale_inertia, validate_data, Init, KMeans, Metric};
use crate::error::{Error, ParamError, Result};
use ndarray::{Array2, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Builder for mini-batch k-means; defaults are those of [`MiniBatchKMeansParams::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatchKMeansParams {
    n_clusters: usize,
    batch_size: usize,
    max_epochs: usize,
    n_init: usize,
    max_no_improvement: usize,
    init: Init,
    metric: Metric,
    seed: u64,
}

impl MiniBatchKMeansParams {
    /// Parameters for `n_clusters` clusters.
    ///
    /// Defaults: `batch_size` 1024, `max_epochs` 100 (passes over the data's size in batches),
    /// `n_init` 3 (initialisations tried on a subsample), `max_no_improvement` 10, k-means++,
    /// Euclidean, `seed` 0.
    pub fn new(n_clusters: usize) -> Self {
        Self {
            n_clusters,
            batch_size: 1024,
            max_epochs: 100,
            n_init: 3,
            max_no_improvement: 10,
            init: Init::KMeansPlusPlus,
            metric: Metric::Euclidean,
            seed: 0,
        }
    }
    /// Rows per batch. Default: 1024.
    pub fn batch_size(mut self, v: usize) -> Self {
        self.batch_size = v;
        self
    }
    /// Maximum passes (in units of `n_samples / batch_size` steps). Default: 100.
    pub fn max_epochs(mut self, v: usize) -> Self {
        self.max_epochs = v;
        self
    }
    /// Initialisations tried (on a subsample of `3 × batch_size` rows). Default: 3.
    pub fn n_init(mut self, v: usize) -> Self {
        self.n_init = v;
        self
    }
    /// Steps without improvement of the smoothed batch inertia before stopping. Default: 10.
    pub fn max_no_improvement(mut self, v: usize) -> Self {
        self.max_no_improvement = v;
        self
    }
    /// Initialisation. Default: k-means++.
    pub fn init(mut self, v: Init) -> Self {
        self.init = v;
        self
    }
    /// Metric. Default: Euclidean.
    pub fn metric(mut self, v: Metric) -> Self {
        self.metric = v;
        self
    }
    /// Seed. Default: 0.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Validates the settings.
    pub fn check(self) -> Result<MiniBatchKMeansValidParams, ParamError> {
        if self.n_clusters == 0 {
            return Err(ParamError::ZeroClusters);
        }
        if self.batch_size == 0 {
            return Err(ParamError::ZeroBatch);
        }
        if self.n_init == 0 {
            return Err(ParamError::ZeroInit);
        }
        if self.max_epochs == 0 {
            return Err(ParamError::ZeroIterations);
        }
        Ok(MiniBatchKMeansValidParams(self))
    }
    /// Checks, then fits.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<KMeans> {
        self.clone().check()?.fit(x)
    }
}

/// Checked mini-batch parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatchKMeansValidParams(MiniBatchKMeansParams);

impl MiniBatchKMeansValidParams {
    /// Fits on the rows of `x`; the returned model's labels and inertia are over all of `x`.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<KMeans> {
        let p = &self.0;
        validate_data(x, p.n_clusters)?;
        let owned = match p.metric {
            Metric::Euclidean => None,
            Metric::Cosine => Some(normalize_rows(x)?),
        };
        let x = match &owned {
            Some(a) => a.view(),
            None => x.view(),
        };
        let spherical = p.metric == Metric::Cosine;
        let n = x.nrows();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed);
        let take = |idx: &[usize]| -> Array2<f64> { x.select(Axis(0), idx) };

        // Initialisation: best of n_init on a subsample, judged on that subsample.
        let init_size = (3 * p.batch_size).max(p.n_clusters).min(n);
        let init_idx: Vec<usize> = rand::seq::index::sample(&mut rng, n, init_size).into_vec();
        let xi = take(&init_idx);
        let xi_sq = engine::row_sq_norms(xi.view());
        let wi = vec![1.0; init_size];
        let mut centres: Option<(f64, Array2<f64>)> = None;
        for _ in 0..p.n_init {
            let c = match &p.init {
                Init::KMeansPlusPlus => {
                    engine::kmeans_plusplus(xi.view(), &xi_sq, &wi, p.n_clusters, None, &mut rng)
                }
                Init::Random => engine::random_init(xi.view(), p.n_clusters, &mut rng),
                Init::Centres(c) => {
                    if c.dim() != (p.n_clusters, x.ncols()) {
                        return Err(ParamError::InitShape {
                            expected: (p.n_clusters, x.ncols()),
                            actual: c.dim(),
                        }
                        .into());
                    }
                    c.clone()
                }
            };
            let c = if spherical {
                super::normalize_rows_lenient(c)
            } else {
                c
            };
            let c_sq = engine::row_sq_norms(c.view());
            let (_, d) = engine::assign(xi.view(), &xi_sq, c.view(), &c_sq);
            let inertia: f64 = d.iter().sum();
            if centres.as_ref().is_none_or(|b| inertia < b.0) {
                centres = Some((inertia, c));
            }
        }
        let mut centres = centres.ok_or(Error::EmptyInput { what: "restarts" })?.1;

        let bs = p.batch_size.min(n);
        let steps = p.max_epochs.saturating_mul(n.div_ceil(bs)).max(1);
        let mut counts = vec![0.0f64; p.n_clusters];
        let mut ewa: Option<f64> = None;
        let mut best_ewa = f64::INFINITY;
        let mut no_improve = 0;
        let alpha = (2.0 * bs as f64 / (n as f64 + 1.0)).min(1.0);
        let mut n_steps = 0;
        for _ in 0..steps {
            n_steps += 1;
            let idx: Vec<usize> = (0..bs).map(|_| rng.random_range(0..n)).collect();
            let xb = take(&idx);
            let xb_sq = engine::row_sq_norms(xb.view());
            let c_sq = engine::row_sq_norms(centres.view());
            let w = vec![1.0; bs];
            let (_, d, sums, wsum) = engine::assign_and_accumulate(
                xb.view(),
                &xb_sq.to_vec(),
                &w,
                centres.view(),
                &c_sq,
            );
            for j in 0..p.n_clusters {
                if wsum[j] > 0.0 {
                    let old = counts[j];
                    counts[j] += wsum[j];
                    let mut row = centres.row_mut(j);
                    // c ← (c·old + Σx) / (old + |b|): the 1/count learning rate.
                    row.mapv_inplace(|v| v * old);
                    row += &sums.row(j);
                    let inv = 1.0 / counts[j];
                    row.mapv_inplace(|v| v * inv);
                }
            }
            if spherical {
                centres = super::normalize_rows_lenient(centres);
            }
            let batch_inertia = d.iter().sum::<f64>() / bs as f64;
            let e = match ewa {
                None => batch_inertia,
                Some(prev) => prev * (1.0 - alpha) + batch_inertia * alpha,
            };
            ewa = Some(e);
            if e < best_ewa {
                best_ewa = e;
                no_improve = 0;
            } else {
                no_improve += 1;
                if no_improve >= p.max_no_improvement {
                    break;
                }
            }
        }
        let x_sq = engine::row_sq_norms(x);
        let c_sq = engine::row_sq_norms(centres.view());
        let (labels, d) = engine::assign(x, &x_sq, centres.view(), &c_sq);
        let inertia: f64 = d.iter().sum();
        tracing::debug!(n_steps, inertia, "mini-batch k-means finished");
        Ok(KMeans::from_parts(
            centres,
            labels,
            scale_inertia(inertia, p.metric),
            n_steps,
            p.metric,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::KMeansParams;

    #[test]
    fn close_to_full_kmeans() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let centres = [[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]];
        let mut v = Vec::new();
        for i in 0..4000 {
            let c = centres[i % 4];
            v.push(c[0] + rng.random::<f64>() - 0.5);
            v.push(c[1] + rng.random::<f64>() - 0.5);
        }
        let x = Array2::from_shape_vec((4000, 2), v).unwrap();
        let full = KMeansParams::new(4).n_init(3).fit(x.view()).unwrap();
        let mb = MiniBatchKMeansParams::new(4)
            .batch_size(256)
            .fit(x.view())
            .unwrap();
        assert!(
            mb.inertia() < full.inertia() * 1.05,
            "{} vs {}",
            mb.inertia(),
            full.inertia()
        );
    }
}
