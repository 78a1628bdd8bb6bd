//! Faithfulness: AOPC (comprehensiveness, sufficiency), Normalized AOPC with exact (DP over subsets)
//! and beam-search bounds (Edin et al., ACL 2025), and KMEx's AD/AI.
//!
//! A feature set S is a bitmask (`u64`, bit i = feature i removed). The caller supplies a batched
//! model `f(&[mask]) -> Vec<score>` giving the target-class score with those features replaced by
//! the baseline; g(S) = f(∅) − f(S). For a removal order π, AOPC(π) = (1/N) Σ_{k=1..N} g(S_k) over
//! its prefixes (no k = 0 term, as in the `aopc` package).

use crate::error::{Error, ParamError, Result};
use std::collections::HashMap;

/// Largest N for [`exact_bounds`]: 2^N evaluations and two `f64` tables of 2^N entries.
pub const MAX_EXACT_FEATURES: usize = 24;
/// Largest N representable in a `u64` mask.
pub const MAX_FEATURES: usize = 64;

/// Lower and upper AOPC bounds of one input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// min over orders of AOPC.
    pub lower: f64,
    /// max over orders of AOPC.
    pub upper: f64,
}

/// Normalised AOPC (x − L)/(U − L); 0 when U = L (the authors' convention).
pub fn naopc(aopc: f64, b: Bounds) -> f64 {
    if b.upper == b.lower {
        0.0
    } else {
        (aopc - b.lower) / (b.upper - b.lower)
    }
}

/// Caches model scores by mask and checks what the model returns.
struct Scorer<F> {
    f: F,
    n: usize,
    base: f64,
    cache: HashMap<u64, f64>,
}

impl<F: FnMut(&[u64]) -> Vec<f64>> Scorer<F> {
    fn new(n: usize, mut f: F) -> Result<Self> {
        if n == 0 {
            return Err(Error::EmptyInput { what: "features" });
        }
        if n > MAX_FEATURES {
            return Err(Error::TooManyFeatures {
                n,
                max: MAX_FEATURES,
            });
        }
        let base = call(&mut f, &[0])?[0];
        Ok(Self {
            f,
            n,
            base,
            cache: HashMap::new(),
        })
    }
    /// g for each mask, evaluating the uncached ones in one batch.
    fn g(&mut self, masks: &[u64]) -> Result<Vec<f64>> {
        let mut todo: Vec<u64> = masks
            .iter()
            .copied()
            .filter(|m| !self.cache.contains_key(m))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        if !todo.is_empty() {
            let v = call(&mut self.f, &todo)?;
            for (m, s) in todo.into_iter().zip(v) {
                self.cache.insert(m, s);
            }
        }
        Ok(masks
            .iter()
            .map(|m| self.base - self.cache.get(m).copied().unwrap_or(self.base))
            .collect())
    }
}

fn call<F: FnMut(&[u64]) -> Vec<f64>>(f: &mut F, masks: &[u64]) -> Result<Vec<f64>> {
    let v = f(masks);
    if v.len() != masks.len() {
        return Err(Error::Model {
            reason: format!("returned {} scores for {} masks", v.len(), masks.len()),
        });
    }
    if v.iter().any(|s| !s.is_finite()) {
        return Err(Error::Model {
            reason: "returned a non-finite score".into(),
        });
    }
    Ok(v)
}

fn check_order(order: &[usize], n: usize) -> Result<()> {
    if order.len() != n {
        return Err(Error::ShapeMismatch {
            what: "removal order",
            expected: n,
            actual: order.len(),
        });
    }
    let mut seen = 0u64;
    for &i in order {
        if i >= n || seen >> i & 1 == 1 {
            return Err(Error::OutOfRange {
                what: "feature in removal order (or repeated)",
                index: i,
                len: n,
            });
        }
        seen |= 1 << i;
    }
    Ok(())
}

/// AOPC of a removal order over `n` features.
pub fn aopc<F: FnMut(&[u64]) -> Vec<f64>>(n: usize, order: &[usize], f: F) -> Result<f64> {
    let mut s = Scorer::new(n, f)?;
    aopc_with(&mut s, order)
}

fn aopc_with<F: FnMut(&[u64]) -> Vec<f64>>(s: &mut Scorer<F>, order: &[usize]) -> Result<f64> {
    check_order(order, s.n)?;
    let mut m = 0u64;
    let masks: Vec<u64> = order
        .iter()
        .map(|&i| {
            m |= 1 << i;
            m
        })
        .collect();
    Ok(s.g(&masks)?.iter().sum::<f64>() / s.n as f64)
}

/// Features by descending attribution (ties by index): the comprehensiveness order.
pub fn descending_order(attribution: &[f64]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..attribution.len()).collect();
    o.sort_by(|&a, &b| attribution[b].total_cmp(&attribution[a]).then(a.cmp(&b)));
    o
}

/// Features by ascending attribution (ties by index): the sufficiency order.
pub fn ascending_order(attribution: &[f64]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..attribution.len()).collect();
    o.sort_by(|&a, &b| attribution[a].total_cmp(&attribution[b]).then(a.cmp(&b)));
    o
}

/// Exact bounds by dynamic programming over subsets: V(S) = g(S) + opt_{i∈S} V(S∖{i}),
/// U = V_max(full)/N, L = V_min(full)/N — O(N·2^N) instead of enumerating N! orders.
pub fn exact_bounds<F: FnMut(&[u64]) -> Vec<f64>>(n: usize, f: F) -> Result<Bounds> {
    if n > MAX_EXACT_FEATURES {
        return Err(Error::TooManyFeatures {
            n,
            max: MAX_EXACT_FEATURES,
        });
    }
    let mut s = Scorer::new(n, f)?;
    let size = 1usize << n;
    let masks: Vec<u64> = (0..size as u64).collect();
    let g = s.g(&masks)?;
    let mut vmax = vec![0.0f64; size];
    let mut vmin = vec![0.0f64; size];
    for m in 1..size {
        let mut hi = f64::NEG_INFINITY;
        let mut lo = f64::INFINITY;
        let mut bits = m;
        while bits != 0 {
            let i = bits.trailing_zeros();
            bits &= bits - 1;
            let prev = m & !(1usize << i);
            hi = hi.max(vmax[prev]);
            lo = lo.min(vmin[prev]);
        }
        vmax[m] = g[m] + hi;
        vmin[m] = g[m] + lo;
    }
    Ok(Bounds {
        lower: vmin[size - 1] / n as f64,
        upper: vmax[size - 1] / n as f64,
    })
}

/// Beam-search bounds with beam width `beam` (default in the paper: 5). Partial orders with the
/// same prefix set have identical futures, so only the best order per set is kept in a beam (can
/// only tighten the bounds). The final orders' AOPC is recomputed with the standard routine.
pub fn beam_bounds<F: FnMut(&[u64]) -> Vec<f64>>(n: usize, beam: usize, f: F) -> Result<Bounds> {
    if beam == 0 {
        return Err(ParamError::ZeroBeam.into());
    }
    let mut s = Scorer::new(n, f)?;
    let full: u64 = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
    let mut best = [0.0f64; 2];
    for (slot, maximise) in [(0usize, false), (1usize, true)] {
        // (set, score, order)
        let mut states: Vec<(u64, f64, Vec<usize>)> = vec![(0, 0.0, Vec::new())];
        for _ in 0..n {
            let mut props: Vec<(u64, usize, usize)> = Vec::new(); // (new set, parent, feature)
            for (pi, (set, _, _)) in states.iter().enumerate() {
                for i in 0..n {
                    if set >> i & 1 == 0 {
                        props.push((set | 1 << i, pi, i));
                    }
                }
            }
            let masks: Vec<u64> = props.iter().map(|p| p.0).collect();
            let g = s.g(&masks)?;
            let mut by_set: HashMap<u64, (f64, usize, usize)> = HashMap::new();
            for ((set, pi, i), gv) in props.into_iter().zip(g) {
                let score = states[pi].1 + gv;
                let better = |old: f64| if maximise { score > old } else { score < old };
                match by_set.get(&set) {
                    Some(&(old, _, _)) if !better(old) => {}
                    _ => {
                        by_set.insert(set, (score, pi, i));
                    }
                }
            }
            let mut cand: Vec<(u64, f64, usize, usize)> = by_set
                .into_iter()
                .map(|(k, (sc, pi, i))| (k, sc, pi, i))
                .collect();
            cand.sort_by(|a, b| {
                let o = a.1.total_cmp(&b.1);
                (if maximise { o.reverse() } else { o }).then(a.0.cmp(&b.0))
            });
            cand.truncate(beam);
            states = cand
                .into_iter()
                .map(|(set, sc, pi, i)| {
                    let mut o = states[pi].2.clone();
                    o.push(i);
                    (set, sc, o)
                })
                .collect();
        }
        let order = states
            .iter()
            .find(|st| st.0 == full)
            .map(|st| st.2.clone())
            .ok_or(Error::EmptyInput { what: "beam" })?;
        best[slot] = aopc_with(&mut s, &order)?;
    }
    Ok(Bounds {
        lower: best[0],
        upper: best[1],
    })
}

/// Comprehensiveness and sufficiency of one attribution vector, raw and normalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faithfulness {
    /// AOPC removing most-attributed features first (higher is better).
    pub comprehensiveness: f64,
    /// AOPC removing least-attributed features first (lower is better).
    pub sufficiency: f64,
    /// Normalised comprehensiveness.
    pub naopc_comprehensiveness: f64,
    /// Normalised sufficiency.
    pub naopc_sufficiency: f64,
    /// The bounds used.
    pub bounds: Bounds,
}

/// How [`faithfulness`] computes the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoundsMethod {
    /// Dynamic programming over all subsets (N ≤ [`MAX_EXACT_FEATURES`]).
    Exact,
    /// Beam search with the given width.
    Beam(usize),
}

/// Comprehensiveness, sufficiency and their NAOPC for `attribution` (one value per feature).
pub fn faithfulness<F: FnMut(&[u64]) -> Vec<f64>>(
    attribution: &[f64],
    method: BoundsMethod,
    f: F,
) -> Result<Faithfulness> {
    let n = attribution.len();
    let mut s = Scorer::new(n, f)?;
    let bounds = match method {
        BoundsMethod::Exact => exact_bounds(n, |m: &[u64]| {
            let mut out = Vec::with_capacity(m.len());
            // Route through the cache so later AOPC calls reuse these evaluations.
            match s.g(m) {
                Ok(g) => out.extend(g.iter().map(|v| s.base - v)),
                Err(_) => out.clear(),
            }
            out
        })?,
        BoundsMethod::Beam(b) => beam_bounds(n, b, |m: &[u64]| match s.g(m) {
            Ok(g) => g.iter().map(|v| s.base - v).collect(),
            Err(_) => Vec::new(),
        })?,
    };
    let comprehensiveness = aopc_with(&mut s, &descending_order(attribution))?;
    let sufficiency = aopc_with(&mut s, &ascending_order(attribution))?;
    Ok(Faithfulness {
        comprehensiveness,
        sufficiency,
        naopc_comprehensiveness: naopc(comprehensiveness, bounds),
        naopc_sufficiency: naopc(sufficiency, bounds),
        bounds,
    })
}

/// KMEx's AD/AI over pairs of similarities before (`s`) and after (`s_after`) perturbing the most
/// relevant input: AD = mean max(0, s − s′)/s, AI = fraction with s′ > s. Returns (AD, AI).
pub fn ad_ai(s: &[f64], s_after: &[f64]) -> Result<(f64, f64)> {
    if s.len() != s_after.len() {
        return Err(Error::ShapeMismatch {
            what: "similarities after perturbation",
            expected: s.len(),
            actual: s_after.len(),
        });
    }
    if s.is_empty() {
        return Err(Error::EmptyInput {
            what: "similarities",
        });
    }
    if s.iter().chain(s_after).any(|v| !v.is_finite()) || s.iter().any(|&v| v <= 0.0) {
        return Err(Error::NonFinite {
            what: "similarities (must be finite, and > 0 before perturbation)",
        });
    }
    let n = s.len() as f64;
    let ad = s
        .iter()
        .zip(s_after)
        .map(|(a, b)| (a - b).max(0.0) / a)
        .sum::<f64>()
        / n;
    let ai = s.iter().zip(s_after).filter(|(a, b)| b > a).count() as f64 / n;
    Ok((ad, ai))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-additive set function with interactions, so bounds are not trivial.
    fn model(m: &[u64]) -> Vec<f64> {
        m.iter()
            .map(|&s| {
                let w = [0.3, -0.1, 0.25, 0.05, 0.2, -0.05, 0.15];
                let mut v = 1.0;
                for (i, wi) in w.iter().enumerate() {
                    if s >> i & 1 == 1 {
                        v -= wi;
                    }
                }
                if s & 0b101 == 0b101 {
                    v -= 0.2;
                }
                v
            })
            .collect()
    }

    fn brute(n: usize) -> Bounds {
        fn perms(n: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if cur.len() == n {
                out.push(cur.clone());
                return;
            }
            for i in 0..n {
                if !cur.contains(&i) {
                    cur.push(i);
                    perms(n, cur, out);
                    cur.pop();
                }
            }
        }
        let mut all = Vec::new();
        perms(n, &mut Vec::new(), &mut all);
        let vals: Vec<f64> = all.iter().map(|o| aopc(n, o, model).unwrap()).collect();
        Bounds {
            lower: vals.iter().copied().fold(f64::INFINITY, f64::min),
            upper: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    #[test]
    fn dp_equals_enumeration_and_beam_is_inside() {
        let n = 7;
        let b = brute(n);
        let e = exact_bounds(n, model).unwrap();
        assert!((b.lower - e.lower).abs() < 1e-12 && (b.upper - e.upper).abs() < 1e-12);
        for w in [1, 5] {
            let bb = beam_bounds(n, w, model).unwrap();
            assert!(bb.lower >= e.lower - 1e-12 && bb.upper <= e.upper + 1e-12);
        }
        let bb = beam_bounds(n, 5, model).unwrap();
        assert!((bb.upper - e.upper).abs() < 1e-9 && (bb.lower - e.lower).abs() < 1e-9);
        let attr = [0.3, -0.1, 0.25, 0.05, 0.2, -0.05, 0.15];
        let f = faithfulness(&attr, BoundsMethod::Exact, model).unwrap();
        assert!(f.naopc_comprehensiveness > f.naopc_sufficiency);
        assert!((0.0..=1.0).contains(&f.naopc_comprehensiveness));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            exact_bounds(30, model),
            Err(Error::TooManyFeatures { .. })
        ));
        assert!(matches!(
            aopc(3, &[0, 0, 1], model),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            aopc(3, &[0, 1, 2], |_m: &[u64]| vec![1.0]),
            Err(Error::Model { .. })
        ));
        assert!(matches!(
            ad_ai(&[1.0], &[]),
            Err(Error::ShapeMismatch { .. })
        ));
        let (ad, ai) = ad_ai(&[1.0, 2.0], &[0.5, 3.0]).unwrap();
        assert!((ad - 0.25).abs() < 1e-12 && (ai - 0.5).abs() < 1e-12);
        assert_eq!(
            naopc(
                0.3,
                Bounds {
                    lower: 0.3,
                    upper: 0.3
                }
            ),
            0.0
        );
    }
}
