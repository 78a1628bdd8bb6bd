//! Location-level features, multi-block combination, gradient-free evidence maps and concept maps.
//!
//! A [`FeatureMap`] holds one input's activations as `P × D` (locations × features) on an
//! `height × width` grid: an image CNN's `H′ × W′` map, or a speech encoder's `T` frames
//! (`height = 1, width = T`). Its pooled vector is the mean over locations, the KMEx head's input.
//!
//! **Evidence identity.** For any prototype μ,
//! ‖z̄ − μ‖² = mean_p ‖φ_p − μ‖² − mean_p ‖φ_p − z̄‖², so with the winner μ* and the nearest
//! other-class prototype μ′ the map e_p = ‖φ_p − μ′‖² − ‖φ_p − μ*‖² has mean exactly the pooled
//! margin ‖z̄ − μ′‖² − ‖z̄ − μ*‖² — no gradients needed.

use crate::error::{Error, ParamError, Result};
use crate::head::{Decision, KmexHead};
use crate::kmeans::{KMeans, KMeansParams, MiniBatchKMeansParams};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// Activations of one input: `P = height·width` locations × `D` features, row-major locations.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMap {
    data: Array2<f64>,
    height: usize,
    width: usize,
}

impl FeatureMap {
    /// Wraps `data` (`height·width × D`).
    pub fn new(data: Array2<f64>, height: usize, width: usize) -> Result<Self> {
        if height == 0 || width == 0 || data.ncols() == 0 {
            return Err(Error::EmptyInput {
                what: "feature map",
            });
        }
        if data.nrows() != height * width {
            return Err(Error::ShapeMismatch {
                what: "feature map locations",
                expected: height * width,
                actual: data.nrows(),
            });
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "feature map",
            });
        }
        Ok(Self {
            data,
            height,
            width,
        })
    }
    /// From channel-first activations `C × (H·W)` as CNNs lay them out (e.g. a candle tensor's
    /// `flatten_from(1)` of one `C×H×W` map).
    pub fn from_channels_first(
        chw: &[f32],
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Self> {
        let p = height * width;
        if chw.len() != channels * p {
            return Err(Error::ShapeMismatch {
                what: "channel-first activations",
                expected: channels * p,
                actual: chw.len(),
            });
        }
        let mut data = Array2::zeros((p, channels));
        for c in 0..channels {
            for l in 0..p {
                data[[l, c]] = f64::from(chw[c * p + l]);
            }
        }
        Self::new(data, height, width)
    }
    /// Location × feature matrix.
    pub fn data(&self) -> &Array2<f64> {
        &self.data
    }
    /// Grid height.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Grid width.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Feature dimension D.
    pub fn dim(&self) -> usize {
        self.data.ncols()
    }
    /// Mean over locations (the globally average-pooled vector).
    pub fn pooled(&self) -> Array1<f64> {
        self.data
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(self.dim()))
    }
    /// Nearest-neighbour upsampling to `height × width`, stride-aligned: target cell (u, v) takes
    /// source cell (u·h/H, v·w/W); the target must be an integer multiple of the source grid.
    pub fn upsample_nearest(&self, height: usize, width: usize) -> Result<Self> {
        if !height.is_multiple_of(self.height) || !width.is_multiple_of(self.width) {
            return Err(Error::GridMismatch {
                block: (self.height, self.width),
                target: (height, width),
            });
        }
        let (fy, fx) = (height / self.height, width / self.width);
        let mut data = Array2::zeros((height * width, self.dim()));
        for u in 0..height {
            for v in 0..width {
                let src = (u / fy) * self.width + v / fx;
                data.row_mut(u * width + v).assign(&self.data.row(src));
            }
        }
        Ok(Self {
            data,
            height,
            width,
        })
    }
}

/// Per-block scale making blocks comparable before concatenation: 1 / (mean per-location L2 norm
/// over the given training maps). `blocks[i][b]` is block `b` of input `i`.
pub fn block_scales(blocks: &[Vec<FeatureMap>]) -> Result<Vec<f64>> {
    let nb = blocks.first().map_or(0, Vec::len);
    if nb == 0 {
        return Err(Error::EmptyInput { what: "blocks" });
    }
    let mut sums = vec![0.0; nb];
    let mut counts = vec![0usize; nb];
    for img in blocks {
        if img.len() != nb {
            return Err(Error::ShapeMismatch {
                what: "blocks per input",
                expected: nb,
                actual: img.len(),
            });
        }
        for (b, m) in img.iter().enumerate() {
            for r in m.data.rows() {
                sums[b] += r.dot(&r).sqrt();
            }
            counts[b] += m.data.nrows();
        }
    }
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(&s, &c)| {
            let mean = s / c.max(1) as f64;
            if mean > 0.0 {
                1.0 / mean
            } else {
                1.0
            }
        })
        .collect())
}

/// Concatenates blocks (e.g. B2, B3, B4) on the finest grid among them, upsampling the coarser ones
/// by nearest replication and multiplying block `b` by `scales[b]` when given ("B234").
pub fn combine_blocks(blocks: &[FeatureMap], scales: Option<&[f64]>) -> Result<FeatureMap> {
    let first = blocks.first().ok_or(Error::EmptyInput { what: "blocks" })?;
    if let Some(s) = scales {
        if s.len() != blocks.len() {
            return Err(Error::ShapeMismatch {
                what: "block scales",
                expected: blocks.len(),
                actual: s.len(),
            });
        }
    }
    let h = blocks
        .iter()
        .map(|b| b.height)
        .max()
        .unwrap_or(first.height);
    let w = blocks.iter().map(|b| b.width).max().unwrap_or(first.width);
    let d: usize = blocks.iter().map(FeatureMap::dim).sum();
    let mut data = Array2::zeros((h * w, d));
    let mut off = 0;
    for (b, blk) in blocks.iter().enumerate() {
        let up = blk.upsample_nearest(h, w)?;
        let s = scales.map_or(1.0, |s| s[b]);
        data.slice_mut(ndarray::s![.., off..off + blk.dim()])
            .assign(&up.data.mapv(|v| v * s));
        off += blk.dim();
    }
    FeatureMap::new(data, h, w)
}

/// A gradient-free evidence map and the decision it explains.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// e_p per location (row-major on the map's grid).
    pub map: Vec<f64>,
    /// Grid height.
    pub height: usize,
    /// Grid width.
    pub width: usize,
    /// The head's decision on the pooled vector; `map`'s mean equals `decision.margin`.
    pub decision: Decision,
}

/// Evidence map e_p = ‖φ_p − μ′‖² − ‖φ_p − μ*‖² = 2φ_pᵀ(μ* − μ′) + ‖μ′‖² − ‖μ*‖² for the head's
/// decision on `phi`'s pooled vector; its mean is the decision margin exactly.
pub fn evidence_map(head: &KmexHead, phi: &FeatureMap) -> Result<Evidence> {
    let decision = head.decide(phi.pooled().view())?;
    evidence_for(head, phi, decision)
}

/// Evidence map for a given winner/rival pair (e.g. to explain "why class a rather than b").
pub fn evidence_for(head: &KmexHead, phi: &FeatureMap, decision: Decision) -> Result<Evidence> {
    let n = head.prototypes().nrows();
    for j in [decision.winner, decision.rival] {
        if j >= n {
            return Err(Error::OutOfRange {
                what: "prototype",
                index: j,
                len: n,
            });
        }
    }
    if phi.dim() != head.dim() {
        return Err(Error::ShapeMismatch {
            what: "feature dimension",
            expected: head.dim(),
            actual: phi.dim(),
        });
    }
    let mu_w = head.prototypes().row(decision.winner);
    let mu_r = head.prototypes().row(decision.rival);
    let dir = (&mu_w - &mu_r) * 2.0;
    let bias = head.proto_sq()[decision.rival] - head.proto_sq()[decision.winner];
    let map = phi.data.dot(&dir).iter().map(|v| v + bias).collect();
    Ok(Evidence {
        map,
        height: phi.height,
        width: phi.width,
        decision,
    })
}

/// Whether concepts are fitted once on all locations or separately per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConceptScope {
    /// One set of M concepts for all classes.
    #[default]
    Global,
    /// M concepts per class, fitted on the locations of that class's inputs; an input is explained
    /// with its (predicted) class's concepts.
    PerClass,
}

/// Settings for [`ConceptModel::fit`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConceptParams {
    /// Concepts M. Default: 5.
    pub n_concepts: usize,
    /// Scope. Default: [`ConceptScope::Global`].
    pub scope: ConceptScope,
    /// Subsample at most this many locations per fit (uniformly, seeded). Default: 20 000.
    pub max_locations: usize,
    /// Use mini-batch k-means above this many locations, full Lloyd otherwise. Default: 50 000.
    pub minibatch_above: usize,
    /// Seed. Default: 0.
    pub seed: u64,
}

impl Default for ConceptParams {
    fn default() -> Self {
        Self {
            n_concepts: 5,
            scope: ConceptScope::Global,
            max_locations: 20_000,
            minibatch_above: 50_000,
            seed: 0,
        }
    }
}

impl ConceptParams {
    /// Sets `n_concepts`.
    pub fn n_concepts(mut self, v: usize) -> Self {
        self.n_concepts = v;
        self
    }
    /// Sets `scope`.
    pub fn scope(mut self, v: ConceptScope) -> Self {
        self.scope = v;
        self
    }
    /// Sets `max_locations`.
    pub fn max_locations(mut self, v: usize) -> Self {
        self.max_locations = v;
        self
    }
    /// Sets `minibatch_above`.
    pub fn minibatch_above(mut self, v: usize) -> Self {
        self.minibatch_above = v;
        self
    }
    /// Sets `seed`.
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }
}

/// Concepts: k-means centres ν_m over location vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct ConceptModel {
    scope: ConceptScope,
    models: Vec<KMeans>,
}

impl ConceptModel {
    /// Fits concepts on the locations of `maps`; `classes[i]` is the class of input `i` (used for
    /// [`ConceptScope::PerClass`]; pass the true training labels).
    pub fn fit(params: &ConceptParams, maps: &[FeatureMap], classes: &[usize]) -> Result<Self> {
        if params.n_concepts == 0 {
            return Err(ParamError::ZeroClusters.into());
        }
        if maps.len() != classes.len() {
            return Err(Error::ShapeMismatch {
                what: "classes",
                expected: maps.len(),
                actual: classes.len(),
            });
        }
        let groups: Vec<Vec<usize>> = match params.scope {
            ConceptScope::Global => vec![(0..maps.len()).collect()],
            ConceptScope::PerClass => {
                let k = classes.iter().max().map_or(0, |m| m + 1);
                (0..k)
                    .map(|c| (0..maps.len()).filter(|&i| classes[i] == c).collect())
                    .collect()
            }
        };
        let mut models = Vec::with_capacity(groups.len());
        for (g, idx) in groups.iter().enumerate() {
            let rows: Vec<ArrayView2<f64>> = idx.iter().map(|&i| maps[i].data.view()).collect();
            if rows.is_empty() {
                return Err(Error::EmptyInput {
                    what: "class without inputs",
                });
            }
            let all = ndarray::concatenate(Axis(0), &rows).map_err(|_| Error::ShapeMismatch {
                what: "feature dimension across maps",
                expected: maps[idx[0]].dim(),
                actual: 0,
            })?;
            let seed = params.seed.wrapping_add(g as u64);
            let x = if all.nrows() > params.max_locations {
                let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                let mut pick =
                    rand::seq::index::sample(&mut rng, all.nrows(), params.max_locations)
                        .into_vec();
                pick.sort_unstable();
                all.select(Axis(0), &pick)
            } else {
                all
            };
            let km = if x.nrows() > params.minibatch_above {
                MiniBatchKMeansParams::new(params.n_concepts)
                    .seed(seed)
                    .fit(x.view())?
            } else {
                KMeansParams::new(params.n_concepts)
                    .n_init(3)
                    .seed(seed)
                    .fit(x.view())?
            };
            models.push(km);
        }
        Ok(Self {
            scope: params.scope,
            models,
        })
    }

    /// The concept k-means model used for `class` (the single global one for global scope).
    pub fn model(&self, class: usize) -> Result<&KMeans> {
        let i = match self.scope {
            ConceptScope::Global => 0,
            ConceptScope::PerClass => class,
        };
        self.models
            .get(i)
            .ok_or(Error::UnknownClass { label: class })
    }

    /// Concept label per location, c_p = argmin_m ‖φ_p − ν_m‖.
    pub fn concept_map(&self, phi: &FeatureMap, class: usize) -> Result<Vec<usize>> {
        self.model(class)?.predict(phi.data.view())
    }
}

/// Per-concept share of the margin: Σ_{p: c_p = m} e_p / P. Sums to the margin exactly.
pub fn concept_contributions(
    labels: &[usize],
    evidence: &[f64],
    n_concepts: usize,
) -> Result<Vec<f64>> {
    if labels.len() != evidence.len() {
        return Err(Error::ShapeMismatch {
            what: "concept labels vs evidence",
            expected: evidence.len(),
            actual: labels.len(),
        });
    }
    let p = evidence.len().max(1) as f64;
    let mut out = vec![0.0; n_concepts];
    for (&l, &e) in labels.iter().zip(evidence) {
        let slot = out.get_mut(l).ok_or(Error::OutOfRange {
            what: "concept",
            index: l,
            len: n_concepts,
        })?;
        *slot += e / p;
    }
    Ok(out)
}

/// Nearest upsampling of a `height × width` label (or value) grid by integer `factor`: feature cell
/// (u, v) covers input pixels [s·u, s·u + s) × [s·v, s·v + s).
pub fn upsample_grid<T: Copy>(
    grid: &[T],
    height: usize,
    width: usize,
    factor: usize,
) -> Result<Vec<T>> {
    if grid.len() != height * width {
        return Err(Error::ShapeMismatch {
            what: "grid",
            expected: height * width,
            actual: grid.len(),
        });
    }
    let (h, w) = (height * factor, width * factor);
    let mut out = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            out.push(grid[(y / factor.max(1)) * width + x / factor.max(1)]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::KmexHeadParams;
    use rand::Rng;

    fn random_maps(n: usize, p: usize, d: usize, seed: u64) -> (Vec<FeatureMap>, Vec<usize>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut maps = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            let data = Array2::from_shape_fn((p, d), |(_, j)| {
                rng.random::<f64>() + if j % 3 == c { 2.0 } else { 0.0 }
            });
            maps.push(FeatureMap::new(data, 2, p / 2).unwrap());
            y.push(c);
        }
        (maps, y)
    }

    /// The identity is exact in real arithmetic; in f64 the two sides differ by rounding of sums
    /// over P locations of O(‖φ‖²) terms.
    const ADDITIVITY_TOL: f64 = 1e-9;

    #[test]
    fn evidence_mean_equals_margin() {
        let (maps, y) = random_maps(60, 8, 6, 1);
        let pooled: Vec<_> = maps.iter().map(FeatureMap::pooled).collect();
        let z = ndarray::stack(
            Axis(0),
            &pooled.iter().map(|a| a.view()).collect::<Vec<_>>(),
        )
        .unwrap();
        let head = KmexHeadParams::new()
            .n_prototypes(3)
            .fit(z.view(), &y)
            .unwrap();
        for m in &maps {
            let ev = evidence_map(&head, m).unwrap();
            let mean = ev.map.iter().sum::<f64>() / ev.map.len() as f64;
            assert!(
                (mean - ev.decision.margin).abs()
                    < ADDITIVITY_TOL * (1.0 + ev.decision.margin.abs())
            );
            assert!(ev.decision.margin >= 0.0);
            // Invariance: the pooled decision is the argmin of the average per-location distance.
            let avg: Vec<f64> = head
                .prototypes()
                .rows()
                .into_iter()
                .map(|mu| {
                    m.data()
                        .rows()
                        .into_iter()
                        .map(|r| (&r - &mu).mapv(|v| v * v).sum())
                        .sum::<f64>()
                })
                .collect();
            let best = (0..avg.len())
                .min_by(|&a, &b| avg[a].total_cmp(&avg[b]))
                .unwrap();
            assert_eq!(best, ev.decision.winner);
            // Concepts split the margin exactly.
            let cm = ConceptModel::fit(&ConceptParams::default().n_concepts(3), &maps, &y).unwrap();
            let labels = cm.concept_map(m, ev.decision.class).unwrap();
            let parts = concept_contributions(&labels, &ev.map, 3).unwrap();
            assert!(
                (parts.iter().sum::<f64>() - ev.decision.margin).abs()
                    < ADDITIVITY_TOL * (1.0 + ev.decision.margin)
            );
        }
    }

    #[test]
    fn combine_and_upsample() {
        let a = FeatureMap::new(
            Array2::from_shape_fn((16, 2), |(p, c)| (p * 2 + c) as f64),
            4,
            4,
        )
        .unwrap();
        let b = FeatureMap::new(
            Array2::from_shape_fn((4, 1), |(p, _)| p as f64 + 100.0),
            2,
            2,
        )
        .unwrap();
        let c = combine_blocks(&[a.clone(), b], Some(&[1.0, 0.5])).unwrap();
        assert_eq!((c.height(), c.width(), c.dim()), (4, 4, 3));
        // Location (3, 2) lies in coarse cell (1, 1) = index 3.
        assert_eq!(c.data()[[3 * 4 + 2, 2]], 0.5 * 103.0);
        assert_eq!(c.data()[[5, 0]], a.data()[[5, 0]]);
        let odd = FeatureMap::new(Array2::zeros((9, 1)), 3, 3).unwrap();
        assert!(matches!(
            combine_blocks(&[a, odd], None),
            Err(Error::GridMismatch { .. })
        ));
        assert_eq!(
            upsample_grid(&[1, 2, 3, 4], 2, 2, 2).unwrap()[..8],
            [1, 1, 2, 2, 1, 1, 2, 2]
        );
        let s = block_scales(&[vec![c.clone()]]).unwrap();
        assert!(s[0] > 0.0);
    }
}
