//! The KMEx head (Gautam et al., TMLR 2024): per-class k-means prototypes on pooled embeddings and
//! a nearest-prototype classifier that replaces a trained linear head without retraining.

use crate::error::{Error, ParamError, Result};
use crate::kmeans::{engine, KMeansParams};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Builder for [`KmexHead`]; defaults are those of [`KmexHeadParams::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct KmexHeadParams {
    n_prototypes: usize,
    n_init: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
}

impl Default for KmexHeadParams {
    fn default() -> Self {
        Self::new()
    }
}

impl KmexHeadParams {
    /// Defaults: `n_prototypes` (H) 5 per class (KMEx's value for 10-class data), `n_init` 10,
    /// `max_iter` 300, `tol` 1e-4, `seed` 0 (class `c` uses seed `seed + c`).
    pub fn new() -> Self {
        Self {
            n_prototypes: 5,
            n_init: 10,
            max_iter: 300,
            tol: 1e-4,
            seed: 0,
        }
    }
    /// Prototypes per class (H). Default: 5.
    pub fn n_prototypes(mut self, v: usize) -> Self {
        self.n_prototypes = v;
        self
    }
    /// k-means restarts per class. Default: 10.
    pub fn n_init(mut self, v: usize) -> Self {
        self.n_init = v;
        self
    }
    /// Lloyd iteration cap. Default: 300.
    pub fn max_iter(mut self, v: usize) -> Self {
        self.max_iter = v;
        self
    }
    /// Relative tolerance. Default: 1e-4.
    pub fn tol(mut self, v: f64) -> Self {
        self.tol = v;
        self
    }
    /// Base seed. Default: 0.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
    /// Validates the settings.
    pub fn check(self) -> Result<KmexHeadValidParams, ParamError> {
        if self.n_prototypes == 0 {
            return Err(ParamError::ZeroPrototypes);
        }
        // Reuse the k-means checks for the remaining knobs.
        KMeansParams::new(self.n_prototypes)
            .n_init(self.n_init)
            .max_iter(self.max_iter)
            .tol(self.tol)
            .check()?;
        Ok(KmexHeadValidParams(self))
    }
    /// Checks, then fits (see [`KmexHeadValidParams::fit`]).
    pub fn fit(&self, z: ArrayView2<f64>, labels: &[usize]) -> Result<KmexHead> {
        self.clone().check()?.fit(z, labels)
    }
}

/// Checked [`KmexHeadParams`].
#[derive(Debug, Clone, PartialEq)]
pub struct KmexHeadValidParams(KmexHeadParams);

impl KmexHeadValidParams {
    /// Fits H prototypes per class on embeddings `z` (`n × D`) with class labels `0..K`.
    /// Every label from 0 to the largest must have at least H samples.
    pub fn fit(&self, z: ArrayView2<f64>, labels: &[usize]) -> Result<KmexHead> {
        let p = &self.0;
        if z.nrows() == 0 || z.ncols() == 0 {
            return Err(Error::EmptyInput { what: "embeddings" });
        }
        if labels.len() != z.nrows() {
            return Err(Error::ShapeMismatch {
                what: "labels",
                expected: z.nrows(),
                actual: labels.len(),
            });
        }
        let n_classes = labels.iter().max().map_or(0, |m| m + 1);
        let h = p.n_prototypes;
        let d = z.ncols();
        let mut prototypes = Array2::zeros((n_classes * h, d));
        let mut proto_class = Vec::with_capacity(n_classes * h);
        let mut usage = vec![0usize; n_classes * h];
        let mut nearest = vec![0usize; n_classes * h];
        for c in 0..n_classes {
            let idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
            if idx.len() < h {
                return Err(Error::ClassTooSmall {
                    class: c,
                    n_samples: idx.len(),
                    n_prototypes: h,
                });
            }
            let zc = z.select(Axis(0), &idx);
            let km = KMeansParams::new(h)
                .n_init(p.n_init)
                .max_iter(p.max_iter)
                .tol(p.tol)
                .seed(p.seed.wrapping_add(c as u64))
                .fit(zc.view())?;
            let dist = engine::sq_distances(zc.view(), km.centres().view());
            for j in 0..h {
                let g = c * h + j;
                prototypes.row_mut(g).assign(&km.centres().row(j));
                proto_class.push(c);
                // Usage: training points of the class whose nearest class centroid is this one.
                usage[g] = km.labels().iter().filter(|&&l| l == j).count();
                let col = dist.column(j);
                let best = (0..idx.len())
                    .min_by(|&a, &b| col[a].total_cmp(&col[b]))
                    .unwrap_or(0);
                nearest[g] = idx.get(best).copied().unwrap_or(0);
            }
        }
        let proto_sq = engine::row_sq_norms(prototypes.view());
        Ok(KmexHead {
            prototypes,
            proto_sq,
            proto_class,
            usage,
            nearest,
            n_classes,
        })
    }
}

/// A fitted KMEx head: `K·H` prototypes, each tagged with its class.
#[derive(Debug, Clone, PartialEq)]
pub struct KmexHead {
    prototypes: Array2<f64>,
    proto_sq: Array1<f64>,
    proto_class: Vec<usize>,
    usage: Vec<usize>,
    nearest: Vec<usize>,
    n_classes: usize,
}

/// The decision of the head for one embedding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Predicted class.
    pub class: usize,
    /// Index of the winning prototype μ*.
    pub winner: usize,
    /// Index of the nearest prototype of any other class μ′.
    pub rival: usize,
    /// ‖z − μ′‖² − ‖z − μ*‖² ≥ 0.
    pub margin: f64,
}

impl KmexHead {
    /// Prototypes, `(K·H) × D`, grouped by class (class `c` owns rows `c·H .. (c+1)·H`).
    pub fn prototypes(&self) -> &Array2<f64> {
        &self.prototypes
    }
    /// Class of each prototype.
    pub fn prototype_classes(&self) -> &[usize] {
        &self.proto_class
    }
    /// Usage of each prototype: training points of its class whose nearest same-class prototype it is.
    pub fn usage(&self) -> &[usize] {
        &self.usage
    }
    /// Index (into the training set) of the nearest same-class training example of each prototype.
    pub fn nearest_training_examples(&self) -> &[usize] {
        &self.nearest
    }
    /// Number of classes K.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }
    /// Embedding dimension D.
    pub fn dim(&self) -> usize {
        self.prototypes.ncols()
    }

    fn check_dim(&self, d: usize) -> Result<()> {
        if d != self.dim() {
            return Err(Error::ShapeMismatch {
                what: "embedding dimension",
                expected: self.dim(),
                actual: d,
            });
        }
        Ok(())
    }

    /// Squared distances from each row to every prototype, `n × (K·H)`.
    pub fn sq_distances(&self, z: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check_dim(z.ncols())?;
        if z.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "embeddings" });
        }
        Ok(engine::sq_distances(z, self.prototypes.view()))
    }

    /// The decision for one embedding.
    pub fn decide(&self, z: ArrayView1<f64>) -> Result<Decision> {
        self.check_dim(z.len())?;
        if z.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite { what: "embedding" });
        }
        let d: Vec<f64> = self
            .prototypes
            .axis_iter(Axis(0))
            .map(|p| engine::sq_dist(z, p))
            .collect();
        Ok(self.decide_from_distances(&d))
    }

    pub(crate) fn decide_from_distances(&self, d: &[f64]) -> Decision {
        let mut winner = 0;
        for (j, &v) in d.iter().enumerate() {
            if v < d[winner] {
                winner = j;
            }
        }
        let class = self.proto_class[winner];
        let mut rival = None::<usize>;
        for (j, &v) in d.iter().enumerate() {
            if self.proto_class[j] != class && rival.is_none_or(|r| v < d[r]) {
                rival = Some(j);
            }
        }
        // With a single class there is no rival: the margin is 0 against the winner itself.
        let rival = rival.unwrap_or(winner);
        Decision {
            class,
            winner,
            rival,
            margin: d[rival] - d[winner],
        }
    }

    /// Predicted class of each row (nearest prototype, Euclidean).
    pub fn predict(&self, z: ArrayView2<f64>) -> Result<Vec<usize>> {
        let d = self.sq_distances(z)?;
        Ok(d.axis_iter(Axis(0))
            .map(|r| {
                let mut best = 0;
                for (j, &v) in r.iter().enumerate() {
                    if v < r[best] {
                        best = j;
                    }
                }
                self.proto_class[best]
            })
            .collect())
    }

    /// KMEx soft class scores `n × K`: with plain distances d_j, similarity
    /// s_j = ln((d_j + 1)/(d_j + 1e-4)), softmax over prototypes, summed within each class.
    pub fn soft_scores(&self, z: ArrayView2<f64>) -> Result<Array2<f64>> {
        let d = self.sq_distances(z)?;
        let mut out = Array2::zeros((z.nrows(), self.n_classes));
        for (r, mut o) in d.axis_iter(Axis(0)).zip(out.axis_iter_mut(Axis(0))) {
            let s: Vec<f64> = r.iter().map(|&v| similarity(v.max(0.0).sqrt())).collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let tot: f64 = e.iter().sum();
            for (j, v) in e.iter().enumerate() {
                o[self.proto_class[j]] += v / tot;
            }
        }
        Ok(out)
    }

    /// KMEx prototype diversity: mean normalised entropy of the row-softmaxed prototype similarity
    /// matrix (1 = prototypes indistinguishable, 0 = well separated). 0 for a single prototype.
    pub fn diversity(&self) -> f64 {
        let n = self.prototypes.nrows();
        if n < 2 {
            return 0.0;
        }
        let d = engine::sq_distances(self.prototypes.view(), self.prototypes.view());
        let mut tot = 0.0;
        for r in d.axis_iter(Axis(0)) {
            let s: Vec<f64> = r.iter().map(|&v| similarity(v.max(0.0).sqrt())).collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            let h: f64 = e
                .iter()
                .map(|v| v / z)
                .filter(|&p| p > 0.0)
                .map(|p| -p * p.ln())
                .sum();
            tot += h / (n as f64).ln();
        }
        tot / n as f64
    }

    /// Squared norms of the prototypes (for the evidence maps).
    pub(crate) fn proto_sq(&self) -> &Array1<f64> {
        &self.proto_sq
    }
}

/// KMEx's log-ratio similarity of a plain Euclidean distance.
pub fn similarity(d: f64) -> f64 {
    ((d + 1.0) / (d + 1e-4)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn nearest_prototype_head() {
        let z = array![
            [0.0, 0.0],
            [0.2, 0.0],
            [5.0, 5.0],
            [5.2, 5.0],
            [0.0, 9.0],
            [0.1, 9.0]
        ];
        let y = [0, 0, 1, 1, 0, 0];
        let head = KmexHeadParams::new()
            .n_prototypes(2)
            .fit(z.view(), &y)
            .unwrap();
        assert_eq!(head.predict(z.view()).unwrap(), y.to_vec());
        assert_eq!(head.usage().iter().sum::<usize>(), 6);
        let s = head.soft_scores(z.view()).unwrap();
        for r in s.rows() {
            assert!((r.sum() - 1.0).abs() < 1e-12);
        }
        let dec = head.decide(z.row(2)).unwrap();
        assert_eq!(dec.class, 1);
        assert!(dec.margin > 0.0);
        let d = head.diversity();
        assert!((0.0..=1.0).contains(&d));
        assert!(matches!(
            KmexHeadParams::new().n_prototypes(3).fit(z.view(), &y),
            Err(Error::ClassTooSmall { class: 1, .. })
        ));
        assert!(matches!(
            head.predict(array![[1.0]].view()),
            Err(Error::ShapeMismatch { .. })
        ));
    }
}
