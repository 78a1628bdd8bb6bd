//! The k-means engine: k-means++ (greedy, scikit-learn's variant), Lloyd iterations, restarts,
//! sample weights, Euclidean and cosine (spherical) metrics, and mini-batch k-means.
//!
//! Three types in the linfa style: [`KMeansParams`] (builder with defaults), [`KMeansValidParams`]
//! (checked, from [`KMeansParams::check`]) and the fitted, immutable [`KMeans`].
//!
//! Numerics follow scikit-learn's `KMeans(algorithm="lloyd")` so that, from the same initial centres,
//! the result matches it: labels of an iteration are computed against the centres before the update,
//! convergence is "labels unchanged" or "sum of squared centre shifts ≤ tol · mean feature variance",
//! an empty cluster takes the point farthest from its current centre, and the final labels are
//! recomputed against the final centres. Everything is `f64` for that parity.

pub(crate) mod engine;
mod minibatch;
mod tensor;

pub use minibatch::{MiniBatchKMeansParams, MiniBatchKMeansValidParams};

use crate::error::{Error, ParamError, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Distance used to assign points to centres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Metric {
    /// Squared Euclidean distance; inertia = Σ w‖x − c‖².
    #[default]
    Euclidean,
    /// Cosine (spherical k-means): rows and centres are L2-normalised, assignment maximises the
    /// cosine, inertia = Σ w(1 − cos).
    Cosine,
}

/// How initial centres are chosen.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum Init {
    /// Greedy k-means++ with `2 + ⌊ln k⌋` local trials per centre (scikit-learn's variant).
    #[default]
    KMeansPlusPlus,
    /// `k` distinct samples drawn uniformly.
    Random,
    /// Fixed centres (`n_clusters × n_features`); every restart then gives the same result.
    Centres(Array2<f64>),
}

/// Builder for [`KMeans`]. Defaults are those of [`KMeansParams::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansParams {
    n_clusters: usize,
    n_init: usize,
    max_iter: usize,
    tol: f64,
    init: Init,
    metric: Metric,
    seed: u64,
}

impl KMeansParams {
    /// Parameters for `n_clusters` clusters.
    ///
    /// Defaults: `n_init` 1 (scikit-learn 1.9's `"auto"` for k-means++), `max_iter` 300, `tol`
    /// 1e-4 (relative to the mean feature variance), `init` k-means++, `metric` Euclidean, `seed` 0.
    pub fn new(n_clusters: usize) -> Self {
        Self {
            n_clusters,
            n_init: 1,
            max_iter: 300,
            tol: 1e-4,
            init: Init::KMeansPlusPlus,
            metric: Metric::Euclidean,
            seed: 0,
        }
    }
    /// Number of restarts; the run with the lowest inertia is kept. Default: 1.
    pub fn n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }
    /// Maximum Lloyd iterations per restart. Default: 300.
    pub fn max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }
    /// Convergence tolerance on the sum of squared centre shifts, relative to the mean per-feature
    /// variance of the data (scikit-learn's semantics). Default: 1e-4.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// Initialisation. Default: [`Init::KMeansPlusPlus`].
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }
    /// Metric. Default: [`Metric::Euclidean`].
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }
    /// Seed of the Xoshiro256++ generator used for initialisation. Default: 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Validates the settings.
    pub fn check(self) -> Result<KMeansValidParams, ParamError> {
        if self.n_clusters == 0 {
            return Err(ParamError::ZeroClusters);
        }
        if self.n_init == 0 {
            return Err(ParamError::ZeroInit);
        }
        if self.max_iter == 0 {
            return Err(ParamError::ZeroIterations);
        }
        if !self.tol.is_finite() || self.tol < 0.0 {
            return Err(ParamError::BadTolerance { tol: self.tol });
        }
        if let Init::Centres(c) = &self.init {
            if c.nrows() != self.n_clusters {
                return Err(ParamError::InitShape {
                    expected: (self.n_clusters, c.ncols()),
                    actual: c.dim(),
                });
            }
        }
        Ok(KMeansValidParams(self))
    }
    /// Checks the settings, then fits (see [`KMeansValidParams::fit`]).
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<KMeans> {
        self.clone().check()?.fit(x)
    }
    /// Checks the settings, then fits with sample weights (see [`KMeansValidParams::fit_weighted`]).
    pub fn fit_weighted(&self, x: ArrayView2<f64>, weights: &[f64]) -> Result<KMeans> {
        self.clone().check()?.fit_weighted(x, weights)
    }
}

/// Checked k-means parameters; [`KMeansValidParams::fit`] runs the algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansValidParams(KMeansParams);

impl KMeansValidParams {
    /// Number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.0.n_clusters
    }
    /// Number of restarts.
    pub fn n_init(&self) -> usize {
        self.0.n_init
    }
    /// Iteration cap.
    pub fn max_iter(&self) -> usize {
        self.0.max_iter
    }
    /// Relative tolerance.
    pub fn tol(&self) -> f64 {
        self.0.tol
    }
    /// Initialisation.
    pub fn init(&self) -> &Init {
        &self.0.init
    }
    /// Metric.
    pub fn metric(&self) -> Metric {
        self.0.metric
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }

    /// Fits on the rows of `x` (`n_samples × n_features`) with unit weights.
    pub fn fit(&self, x: ArrayView2<f64>) -> Result<KMeans> {
        let w = vec![1.0; x.nrows()];
        self.fit_weighted(x, &w)
    }

    /// Fits with one non-negative weight per row; centres are weighted means and inertia is weighted.
    pub fn fit_weighted(&self, x: ArrayView2<f64>, weights: &[f64]) -> Result<KMeans> {
        let p = &self.0;
        validate_data(x, p.n_clusters)?;
        validate_weights(weights, x.nrows())?;
        let owned = match p.metric {
            Metric::Euclidean => None,
            Metric::Cosine => Some(normalize_rows(x)?),
        };
        let x = match &owned {
            Some(a) => a.view(),
            None => x.view(),
        };
        if let Init::Centres(c) = &p.init {
            if c.ncols() != x.ncols() {
                return Err(ParamError::InitShape {
                    expected: (p.n_clusters, x.ncols()),
                    actual: c.dim(),
                }
                .into());
            }
        }
        let tol_abs = engine::tolerance(x, p.tol);
        let x_sq = engine::row_sq_norms(x);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(p.seed);
        let mut best: Option<engine::LloydResult> = None;
        for _ in 0..p.n_init {
            let init = match &p.init {
                Init::KMeansPlusPlus => {
                    engine::kmeans_plusplus(x, &x_sq, weights, p.n_clusters, None, &mut rng)
                }
                Init::Random => engine::random_init(x, p.n_clusters, &mut rng),
                Init::Centres(c) => c.clone(),
            };
            let init = if p.metric == Metric::Cosine {
                normalize_rows_lenient(init)
            } else {
                init
            };
            let r = engine::lloyd(
                x,
                &x_sq,
                weights,
                init,
                p.max_iter,
                tol_abs,
                p.metric == Metric::Cosine,
            );
            if best.as_ref().is_none_or(|b| r.inertia < b.inertia) {
                best = Some(r);
            }
            if matches!(p.init, Init::Centres(_)) {
                // Fixed centres make every restart identical.
                break;
            }
        }
        let best = best.ok_or(Error::EmptyInput { what: "restarts" })?;
        tracing::debug!(
            inertia = best.inertia,
            n_iter = best.n_iter,
            "k-means fit finished"
        );
        Ok(KMeans::from_parts(
            best.centres,
            best.labels,
            scale_inertia(best.inertia, p.metric),
            best.n_iter,
            p.metric,
        ))
    }

    /// Fits with Lloyd iterations computed on candle tensors on `device` (CPU, or CUDA under the
    /// `cuda` feature). Initialisation (k-means++) runs on the host with the same RNG, so on the
    /// CPU device this gives the same result as [`KMeansValidParams::fit`] up to float rounding.
    pub fn fit_tensor(&self, x: ArrayView2<f64>, device: &candle_core::Device) -> Result<KMeans> {
        tensor::fit_tensor(self, x, device)
    }
}

fn scale_inertia(inertia: f64, metric: Metric) -> f64 {
    match metric {
        Metric::Euclidean => inertia,
        // ‖x − c‖² = 2(1 − cos) for unit vectors.
        Metric::Cosine => inertia / 2.0,
    }
}

/// A fitted k-means model.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeans {
    centres: Array2<f64>,
    centre_sq: Array1<f64>,
    labels: Vec<usize>,
    inertia: f64,
    n_iter: usize,
    metric: Metric,
}

impl KMeans {
    fn from_parts(
        centres: Array2<f64>,
        labels: Vec<usize>,
        inertia: f64,
        n_iter: usize,
        metric: Metric,
    ) -> Self {
        let centre_sq = engine::row_sq_norms(centres.view());
        Self {
            centres,
            centre_sq,
            labels,
            inertia,
            n_iter,
            metric,
        }
    }

    /// A model from given centres (no training labels), e.g. to predict with loaded centres.
    pub fn from_centres(centres: Array2<f64>, metric: Metric) -> Result<Self> {
        if centres.nrows() == 0 || centres.ncols() == 0 {
            return Err(Error::EmptyInput { what: "centres" });
        }
        if centres.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "centres" });
        }
        let centres = match metric {
            Metric::Euclidean => centres,
            Metric::Cosine => normalize_rows(centres.view())?,
        };
        Ok(Self::from_parts(centres, Vec::new(), 0.0, 0, metric))
    }

    /// Cluster centres, `n_clusters × n_features` (unit rows for cosine).
    pub fn centres(&self) -> &Array2<f64> {
        &self.centres
    }
    /// Training labels of the kept run (empty for [`KMeans::from_centres`]).
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }
    /// Training inertia of the kept run: Σ w‖x − c‖² (Euclidean) or Σ w(1 − cos) (cosine).
    pub fn inertia(&self) -> f64 {
        self.inertia
    }
    /// Lloyd iterations run by the kept restart.
    pub fn n_iter(&self) -> usize {
        self.n_iter
    }
    /// The metric.
    pub fn metric(&self) -> Metric {
        self.metric
    }
    /// Number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.centres.nrows()
    }

    /// Checks `x` against the model; returns the row-normalised copy the cosine metric needs.
    fn prepare(&self, x: ArrayView2<f64>) -> Result<Option<Array2<f64>>> {
        if x.ncols() != self.centres.ncols() {
            return Err(Error::ShapeMismatch {
                what: "n_features",
                expected: self.centres.ncols(),
                actual: x.ncols(),
            });
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "x" });
        }
        match self.metric {
            Metric::Euclidean => Ok(None),
            Metric::Cosine => Ok(Some(normalize_rows(x)?)),
        }
    }

    /// Nearest centre for each row, with its distance (squared Euclidean, or 1 − cos).
    pub fn predict_with_distance(&self, x: ArrayView2<f64>) -> Result<(Vec<usize>, Vec<f64>)> {
        let owned = self.prepare(x)?;
        let x = match &owned {
            Some(a) => a.view(),
            None => x.view(),
        };
        let x_sq = engine::row_sq_norms(x);
        let (labels, d) = engine::assign(x, &x_sq, self.centres.view(), &self.centre_sq);
        let d = match self.metric {
            Metric::Euclidean => d,
            Metric::Cosine => d.into_iter().map(|v| v / 2.0).collect(),
        };
        Ok((labels, d))
    }

    /// Nearest centre for each row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        Ok(self.predict_with_distance(x)?.0)
    }

    /// Distance from each row to every centre, `n_samples × n_clusters`: Euclidean (not squared,
    /// as scikit-learn's `transform`) or cosine distance 1 − cos.
    pub fn transform(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let owned = self.prepare(x)?;
        let x = match &owned {
            Some(a) => a.view(),
            None => x.view(),
        };
        let mut out = engine::sq_distances(x, self.centres.view());
        match self.metric {
            Metric::Euclidean => out.mapv_inplace(f64::sqrt),
            Metric::Cosine => out.mapv_inplace(|v| v / 2.0),
        }
        Ok(out)
    }

    /// Inertia of `x` under the fitted centres (each row to its nearest centre).
    pub fn inertia_of(&self, x: ArrayView2<f64>) -> Result<f64> {
        let (_, d) = self.predict_with_distance(x)?;
        Ok(d.iter().sum())
    }
}

pub(crate) fn validate_data(x: ArrayView2<f64>, n_clusters: usize) -> Result<()> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(Error::EmptyInput { what: "x" });
    }
    if x.nrows() < n_clusters {
        return Err(Error::TooFewSamples {
            n_samples: x.nrows(),
            n_clusters,
        });
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what: "x" });
    }
    Ok(())
}

pub(crate) fn validate_weights(w: &[f64], n: usize) -> Result<()> {
    if w.len() != n {
        return Err(Error::ShapeMismatch {
            what: "sample weights",
            expected: n,
            actual: w.len(),
        });
    }
    if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::BadWeights {
            reason: "weights must be finite and non-negative",
        });
    }
    if w.iter().sum::<f64>() <= 0.0 {
        return Err(Error::BadWeights {
            reason: "weights sum to zero",
        });
    }
    Ok(())
}

/// L2-normalises rows; a zero row is an error.
pub(crate) fn normalize_rows(x: ArrayView2<f64>) -> Result<Array2<f64>> {
    let mut out = x.to_owned();
    for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
        let n = row.dot(&row).sqrt();
        if n <= 0.0 || !n.is_finite() {
            return Err(Error::ZeroNorm { row: i });
        }
        row.mapv_inplace(|v| v / n);
    }
    Ok(out)
}

/// L2-normalises rows, leaving zero rows as they are (for centres).
pub(crate) fn normalize_rows_lenient(mut x: Array2<f64>) -> Array2<f64> {
    for mut row in x.axis_iter_mut(Axis(0)) {
        let n = row.dot(&row).sqrt();
        if n > 0.0 {
            row.mapv_inplace(|v| v / n);
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn blobs() -> Array2<f64> {
        let mut v = Vec::new();
        for (cx, cy) in [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)] {
            for i in 0..20 {
                let a = i as f64 * 0.7;
                v.push([cx + a.sin(), cy + (a * 1.3).cos()]);
            }
        }
        Array2::from_shape_vec((60, 2), v.into_iter().flatten().collect()).unwrap()
    }

    #[test]
    fn separates_blobs_and_is_deterministic() {
        let x = blobs();
        let a = KMeansParams::new(3)
            .n_init(3)
            .seed(7)
            .fit(x.view())
            .unwrap();
        let b = KMeansParams::new(3)
            .n_init(3)
            .seed(7)
            .fit(x.view())
            .unwrap();
        assert_eq!(a, b);
        for blob in 0..3 {
            let l = a.labels()[blob * 20];
            assert!(a.labels()[blob * 20..blob * 20 + 20]
                .iter()
                .all(|&v| v == l));
        }
        assert_eq!(a.predict(x.view()).unwrap(), a.labels());
    }

    #[test]
    fn bad_params_are_rejected() {
        assert!(matches!(
            KMeansParams::new(0).check(),
            Err(ParamError::ZeroClusters)
        ));
        assert!(matches!(
            KMeansParams::new(2).tol(f64::NAN).check(),
            Err(ParamError::BadTolerance { .. })
        ));
        let x = array![[1.0, 2.0]];
        assert!(matches!(
            KMeansParams::new(2).fit(x.view()),
            Err(Error::TooFewSamples { .. })
        ));
        let x = array![[1.0, f64::NAN], [0.0, 0.0]];
        assert!(matches!(
            KMeansParams::new(1).fit(x.view()),
            Err(Error::NonFinite { .. })
        ));
        let x = array![[1.0, 0.0], [0.0, 0.0]];
        assert!(matches!(
            KMeansParams::new(1).metric(Metric::Cosine).fit(x.view()),
            Err(Error::ZeroNorm { row: 1 })
        ));
        assert!(matches!(
            KMeansParams::new(1).fit_weighted(x.view(), &[1.0]),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn weights_move_centres() {
        let x = array![[0.0], [1.0]];
        let m = KMeansParams::new(1)
            .fit_weighted(x.view(), &[1.0, 3.0])
            .unwrap();
        assert!((m.centres()[[0, 0]] - 0.75).abs() < 1e-12);
        assert!((m.inertia() - (0.75f64.powi(2) + 3.0 * 0.25f64.powi(2))).abs() < 1e-12);
    }

    #[test]
    fn cosine_groups_directions() {
        let x = array![[1.0, 0.1], [5.0, 0.4], [0.1, 1.0], [0.2, 7.0]];
        let m = KMeansParams::new(2)
            .metric(Metric::Cosine)
            .n_init(4)
            .fit(x.view())
            .unwrap();
        assert_eq!(m.labels()[0], m.labels()[1]);
        assert_eq!(m.labels()[2], m.labels()[3]);
        assert_ne!(m.labels()[0], m.labels()[2]);
        for row in m.centres().rows() {
            assert!((row.dot(&row) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn empty_cluster_is_reseeded() {
        // Two centres start on the same point: the duplicate ends up empty and must take the
        // farthest point instead of staying empty.
        let x = array![[0.0], [0.1], [10.0], [10.2]];
        let init = array![[0.0], [0.0]];
        let m = KMeansParams::new(2)
            .init(Init::Centres(init))
            .fit(x.view())
            .unwrap();
        let mut c: Vec<f64> = m.centres().iter().copied().collect();
        c.sort_by(f64::total_cmp);
        assert!((c[0] - 0.05).abs() < 1e-12 && (c[1] - 10.1).abs() < 1e-12);
    }

    #[test]
    fn types_are_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<KMeans>();
        check::<KMeansValidParams>();
        check::<Error>();
    }
}
