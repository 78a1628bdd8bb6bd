//! Numeric core shared by the k-means variants: blocked assignment via matrix products, weighted
//! centre accumulation in a fixed (thread-count independent) order, k-means++ and Lloyd.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Rows per matrix-product tile (scikit-learn uses 256 too): keeps the `rows × k` distance tile in
/// cache while giving the GEMM enough work.
const TILE: usize = 256;
/// Rows per accumulation block. Partial sums are formed per block and added in block order, so the
/// result does not depend on the number of threads (reproducible fits).
const BLOCK: usize = 4096;

/// Squared L2 norm of every row.
pub(crate) fn row_sq_norms(x: ArrayView2<f64>) -> Array1<f64> {
    let v: Vec<f64> = x
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|r| r.dot(&r))
        .collect();
    Array1::from(v)
}

/// scikit-learn's absolute tolerance: `tol × mean(var(x, axis=0))`.
pub(crate) fn tolerance(x: ArrayView2<f64>, tol: f64) -> f64 {
    if tol == 0.0 {
        return 0.0;
    }
    let var = x.var_axis(Axis(0), 0.0);
    var.mean().unwrap_or(0.0) * tol
}

/// Full squared-distance matrix (direct differences, for small outputs like `transform`).
pub(crate) fn sq_distances(x: ArrayView2<f64>, c: ArrayView2<f64>) -> Array2<f64> {
    let mut out = Array2::zeros((x.nrows(), c.nrows()));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)))
        .for_each(|(mut o, xr)| {
            for (j, cr) in c.axis_iter(Axis(0)).enumerate() {
                o[j] = sq_dist(xr, cr);
            }
        });
    out
}

#[inline]
pub(crate) fn sq_dist(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(p, q)| (p - q) * (p - q)).sum()
}

/// Independent running minima in the argmin: breaks the serial compare/select dependency chain so
/// the loop pipelines (and vectorises), while giving exactly the sequential first-minimum result.
const LANES: usize = 8;

/// Index and value of the first minimum of `c_sq[j] − 2·dots[j]` (NaNs skipped; `(0, ∞)` if none
/// is below ∞), bit-identical to a sequential strict-`<` scan. Two passes over the row, which is
/// overwritten with the values: a lane-wise minimum (vectorises), then the first index holding it.
#[inline]
fn argmin_row(row: &mut [f64], c_sq: &[f64]) -> (usize, f64) {
    let mut bv = [f64::INFINITY; LANES];
    let mut rc = row.chunks_exact_mut(LANES);
    let mut cc = c_sq.chunks_exact(LANES);
    for (rch, cch) in (&mut rc).zip(&mut cc) {
        for l in 0..LANES {
            let v = cch[l] - 2.0 * rch[l];
            rch[l] = v;
            bv[l] = if v < bv[l] { v } else { bv[l] };
        }
    }
    let mut m = f64::INFINITY;
    for v in bv {
        m = if v < m { v } else { m };
    }
    for (r, &cs) in rc.into_remainder().iter_mut().zip(cc.remainder()) {
        let v = cs - 2.0 * *r;
        *r = v;
        m = if v < m { v } else { m };
    }
    if m == f64::INFINITY {
        return (0, f64::INFINITY);
    }
    // `m` is one of the values (min picks operands), so a first index equal to it exists; ±0 compare
    // equal, and the sequential scan also keeps the first of them.
    match row.iter().position(|&v| v == m) {
        Some(j) => (j, row[j]),
        None => (0, f64::INFINITY),
    }
}

/// Nearest centre of each row of a tile, via `‖x‖² − 2x·c + ‖c‖²` (one GEMM per tile). `dots` is a
/// reused `tile × k` buffer, so no tile allocates.
fn assign_tile(
    x: ArrayView2<f64>,
    x_sq: &[f64],
    c: ArrayView2<f64>,
    c_sq: &[f64],
    dots: &mut Array2<f64>,
    labels: &mut [usize],
    dist: &mut [f64],
) {
    let rows = x.nrows();
    let mut tile = dots.slice_mut(s![..rows, ..]);
    general_mat_mul(1.0, &x, &c.t(), 0.0, &mut tile);
    for (i, mut row) in tile.axis_iter_mut(Axis(0)).enumerate() {
        let (best, best_v) = match row.as_slice_mut() {
            Some(r) => argmin_row(r, c_sq),
            None => argmin_row(&mut row.to_vec(), c_sq),
        };
        labels[i] = best;
        dist[i] = (best_v + x_sq[i]).max(0.0);
    }
}

/// Labels and squared distances to the nearest centre, in parallel over tiles.
pub(crate) fn assign(
    x: ArrayView2<f64>,
    x_sq: &Array1<f64>,
    c: ArrayView2<f64>,
    c_sq: &Array1<f64>,
) -> (Vec<usize>, Vec<f64>) {
    let n = x.nrows();
    let mut labels = vec![0usize; n];
    let mut dist = vec![0.0; n];
    let xs = x_sq
        .as_slice()
        .map(|s| s.to_vec())
        .unwrap_or_else(|| x_sq.to_vec());
    let cs = c_sq.to_vec();
    let k = c.nrows();
    labels
        .par_chunks_mut(TILE)
        .zip(dist.par_chunks_mut(TILE))
        .enumerate()
        .for_each_init(
            || Array2::<f64>::zeros((TILE, k)),
            |buf, (t, (l, d))| {
                let lo = t * TILE;
                let hi = lo + l.len();
                assign_tile(x.slice(s![lo..hi, ..]), &xs[lo..hi], c, &cs, buf, l, d);
            },
        );
    (labels, dist)
}

/// Adds `w_i · x_i` of rows `lo..lo + labels.len()` into their cluster's row of the row-major
/// `k × d` sums `sflat`, in row
/// order. Plain slice loops: ndarray's per-row `scaled_add` overhead dominates at small `d`; the
/// arithmetic (`s + w·x` per element, same order) is identical.
fn accumulate(
    x: ArrayView2<f64>,
    w: &[f64],
    lo: usize,
    labels: &[usize],
    sflat: &mut [f64],
    wsum: &mut [f64],
) {
    let d = x.ncols();
    for (i, &lab) in labels.iter().enumerate() {
        let wi = w[lo + i];
        wsum[lab] += wi;
        let srow = &mut sflat[lab * d..(lab + 1) * d];
        let xr = x.row(lo + i);
        match xr.as_slice() {
            Some(xs) => {
                for (a, &b) in srow.iter_mut().zip(xs) {
                    *a += wi * b;
                }
            }
            None => {
                for (a, &b) in srow.iter_mut().zip(xr.iter()) {
                    *a += wi * b;
                }
            }
        }
    }
}

/// One Lloyd step: assign against `c`, accumulate weighted sums per cluster (in block order).
/// Returns (labels, squared distances, sums `k × d`, weight per cluster).
pub(crate) fn assign_and_accumulate(
    x: ArrayView2<f64>,
    x_sq: &[f64],
    w: &[f64],
    c: ArrayView2<f64>,
    c_sq: &Array1<f64>,
) -> (Vec<usize>, Vec<f64>, Array2<f64>, Vec<f64>) {
    let n = x.nrows();
    let (k, d) = c.dim();
    let mut labels = vec![0usize; n];
    let mut dist = vec![0.0; n];
    let cs = c_sq.to_vec();
    let partials: Vec<(Vec<f64>, Vec<f64>)> = labels
        .par_chunks_mut(BLOCK)
        .zip(dist.par_chunks_mut(BLOCK))
        .enumerate()
        .map_init(
            || Array2::<f64>::zeros((TILE, k)),
            |buf, (b, (l, dd))| {
                let lo = b * BLOCK;
                let mut sums = vec![0.0; k * d];
                let mut wsum = vec![0.0; k];
                let mut t = 0;
                while t < l.len() {
                    let hi = (t + TILE).min(l.len());
                    assign_tile(
                        x.slice(s![lo + t..lo + hi, ..]),
                        &x_sq[lo + t..lo + hi],
                        c,
                        &cs,
                        buf,
                        &mut l[t..hi],
                        &mut dd[t..hi],
                    );
                    t = hi;
                }
                accumulate(x, w, lo, l, &mut sums, &mut wsum);
                (sums, wsum)
            },
        )
        .collect();
    let mut sums = vec![0.0; k * d];
    let mut wsum = vec![0.0; k];
    for (ps, pw) in partials {
        for (a, b) in sums.iter_mut().zip(ps) {
            *a += b;
        }
        for (a, b) in wsum.iter_mut().zip(pw) {
            *a += b;
        }
    }
    let sums = Array2::from_shape_fn((k, d), |(j, e)| sums[j * d + e]);
    (labels, dist, sums, wsum)
}

/// Gives each empty cluster the point farthest from its current centre (scikit-learn's rule),
/// moving that point's weight out of its own cluster's sums.
pub(crate) fn relocate_empty(
    x: ArrayView2<f64>,
    w: &[f64],
    labels: &[usize],
    dist: &[f64],
    sums: &mut Array2<f64>,
    wsum: &mut [f64],
) {
    let empty: Vec<usize> = (0..wsum.len()).filter(|&j| wsum[j] == 0.0).collect();
    if empty.is_empty() {
        return;
    }
    tracing::debug!(n_empty = empty.len(), "relocating empty clusters");
    let mut order: Vec<usize> = (0..x.nrows()).collect();
    order.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]).then(a.cmp(&b)));
    for (&j, &i) in empty.iter().zip(order.iter()) {
        let old = labels[i];
        let wi = w[i];
        let xr = x.row(i);
        sums.row_mut(j).assign(&xr.mapv(|v| v * wi));
        wsum[j] = wi;
        sums.row_mut(old).scaled_add(-wi, &xr);
        wsum[old] -= wi;
    }
}

pub(crate) struct LloydResult {
    pub centres: Array2<f64>,
    pub labels: Vec<usize>,
    pub inertia: f64,
    pub n_iter: usize,
}

/// One assignment pass: labels, per-cluster weighted sums and weights, and each point's squared
/// distance to its centre. `dist` may be left empty when no cluster is empty: only the
/// empty-cluster relocation reads it.
pub(crate) struct Accumulated {
    pub labels: Vec<usize>,
    pub dist: Vec<f64>,
    pub sums: Array2<f64>,
    pub wsum: Vec<f64>,
}

/// When Lloyd stops, and whether centres are renormalised (spherical k-means).
pub(crate) struct Stop {
    pub max_iter: usize,
    /// Absolute tolerance on the summed squared centre shift.
    pub tol_abs: f64,
    pub spherical: bool,
}

/// Lloyd's algorithm exactly in scikit-learn's order of operations (see the module docs).
pub(crate) fn lloyd(
    x: ArrayView2<f64>,
    x_sq: &Array1<f64>,
    w: &[f64],
    centres: Array2<f64>,
    max_iter: usize,
    tol_abs: f64,
    spherical: bool,
) -> LloydResult {
    let xs = x_sq.to_vec();
    let result = lloyd_with(
        x,
        w,
        centres,
        Stop {
            max_iter,
            tol_abs,
            spherical,
        },
        |c| {
            let c_sq = row_sq_norms(c);
            let (labels, dist, sums, wsum) = assign_and_accumulate(x, &xs, w, c, &c_sq);
            Ok::<_, std::convert::Infallible>(Accumulated {
                labels,
                dist,
                sums,
                wsum,
            })
        },
        |c| Ok(assign(x, x_sq, c, &row_sq_norms(c)).0),
    );
    match result {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// The Lloyd iteration shared by every backend: `step` does the assignment and accumulation
/// for the current centres (ndarray/rayon or candle), `label` the final labelling; the centre
/// update, empty-cluster relocation and scikit-learn's convergence rules live here once.
pub(crate) fn lloyd_with<E>(
    x: ArrayView2<f64>,
    w: &[f64],
    mut centres: Array2<f64>,
    Stop {
        max_iter,
        tol_abs,
        spherical,
    }: Stop,
    mut step: impl FnMut(ArrayView2<f64>) -> Result<Accumulated, E>,
    mut label: impl FnMut(ArrayView2<f64>) -> Result<Vec<usize>, E>,
) -> Result<LloydResult, E> {
    let mut labels_old: Option<Vec<usize>> = None;
    let mut labels = Vec::new();
    let mut strict = false;
    let mut n_iter = 0;
    for it in 0..max_iter {
        n_iter = it + 1;
        let Accumulated {
            labels: l,
            dist,
            mut sums,
            mut wsum,
        } = step(centres.view())?;
        relocate_empty(x, w, &l, &dist, &mut sums, &mut wsum);
        let mut new = sums;
        for (j, mut row) in new.axis_iter_mut(Axis(0)).enumerate() {
            if wsum[j] > 0.0 {
                let inv = 1.0 / wsum[j];
                row.mapv_inplace(|v| v * inv);
            }
        }
        if spherical {
            new = super::normalize_rows_lenient(new);
        }
        let shift: f64 = new
            .axis_iter(Axis(0))
            .zip(centres.axis_iter(Axis(0)))
            .map(|(a, b)| sq_dist(a, b))
            .sum();
        centres = new;
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
        // Labels must match the final centres.
        labels = label(centres.view())?;
    }
    let inertia = inertia(x, w, centres.view(), &labels);
    Ok(LloydResult {
        centres,
        labels,
        inertia,
        n_iter,
    })
}

/// Σ w‖x − c_label‖², computed by direct differences for accuracy.
pub(crate) fn inertia(x: ArrayView2<f64>, w: &[f64], c: ArrayView2<f64>, labels: &[usize]) -> f64 {
    let parts: Vec<f64> = x
        .axis_chunks_iter(Axis(0), BLOCK)
        .into_par_iter()
        .enumerate()
        .map(|(b, chunk)| {
            let lo = b * BLOCK;
            chunk
                .axis_iter(Axis(0))
                .enumerate()
                .map(|(i, r)| w[lo + i] * sq_dist(r, c.row(labels[lo + i])))
                .sum::<f64>()
        })
        .collect();
    parts.iter().sum()
}

/// Greedy k-means++ (scikit-learn's `_kmeans_plusplus`): each new centre is the best of
/// `2 + ⌊ln k⌋` candidates sampled ∝ w·D², judged by the resulting potential.
pub(crate) fn kmeans_plusplus(
    x: ArrayView2<f64>,
    _x_sq: &Array1<f64>,
    w: &[f64],
    k: usize,
    n_local_trials: Option<usize>,
    rng: &mut Xoshiro256PlusPlus,
) -> Array2<f64> {
    let (n, d) = x.dim();
    let trials = n_local_trials.unwrap_or(2 + (k as f64).ln().floor() as usize);
    let mut centres = Array2::zeros((k, d));
    let wtot: f64 = w.iter().sum();
    let first = sample_cum(w.iter().copied(), rng.random::<f64>() * wtot, n);
    centres.row_mut(0).assign(&x.row(first));
    let c0 = x.row(first);
    let mut closest: Vec<f64> = x
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|r| sq_dist(r, c0))
        .collect();
    let mut pot: f64 = closest.iter().zip(w).map(|(a, b)| a * b).sum();
    for c in 1..k {
        let cands: Vec<usize> = (0..trials)
            .map(|_| {
                let r = rng.random::<f64>() * pot;
                sample_cum(closest.iter().zip(w).map(|(a, b)| a * b), r, n)
            })
            .collect();
        // For each candidate: the closest-distance vector if it were added, and its potential.
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for (t, &ci) in cands.iter().enumerate() {
            let cr = x.row(ci);
            let dt: Vec<f64> = x
                .axis_iter(Axis(0))
                .into_par_iter()
                .zip(closest.par_iter())
                .map(|(r, &cl)| sq_dist(r, cr).min(cl))
                .collect();
            let p: f64 = dt.iter().zip(w).map(|(v, wi)| v * wi).sum();
            if best.as_ref().is_none_or(|b| p < b.0) {
                best = Some((p, t, dt));
            }
        }
        let Some((best_pot, best_t, dt)) = best else {
            break;
        };
        pot = best_pot;
        closest = dt;
        centres.row_mut(c).assign(&x.row(cands[best_t]));
    }
    centres
}

/// First index whose running sum reaches `r` (numpy's `searchsorted(cumsum, r)`), clipped to n − 1.
fn sample_cum(vals: impl Iterator<Item = f64>, r: f64, n: usize) -> usize {
    let mut acc = 0.0;
    for (i, v) in vals.enumerate() {
        acc += v;
        if acc >= r && (v > 0.0 || acc > 0.0) {
            return i;
        }
    }
    n.saturating_sub(1)
}

/// `k` distinct rows drawn uniformly.
pub(crate) fn random_init(
    x: ArrayView2<f64>,
    k: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> Array2<f64> {
    let idx = rand::seq::index::sample(rng, x.nrows(), k);
    let mut c = Array2::zeros((k, x.ncols()));
    for (j, i) in idx.iter().enumerate() {
        c.row_mut(j).assign(&x.row(i));
    }
    c
}
