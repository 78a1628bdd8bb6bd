//! CPU f32 kernels on plain slices for the fast inference path (`model::fast`).
//!
//! This is the crate's only module with `unsafe`: `gemm::gemm` takes raw pointers and strides.
//! [`gemm`] wraps it once, checking every index the call can touch against the slices' lengths,
//! so that the rest of the crate stays safe. The element-wise kernels (erf-GELU, exp for
//! softmax, LayerNorm) are branch-free so that they vectorise, and are run under
//! [`pulp::Arch::dispatch`] so that they use AVX2/AVX-512 when the CPU has them, although the
//! crate is compiled for baseline x86-64.
#![allow(unsafe_code)]

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of threads of the CPU fast path (GEMMs and the per-head attention loop);
/// 0 = rayon's global pool size (`RAYON_NUM_THREADS`, else the number of logical CPUs).
/// Set it to the number of physical cores for the best speed.
pub fn set_cpu_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// Threads the CPU fast path uses (see [`set_cpu_threads`]).
pub fn cpu_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => rayon::current_num_threads(),
        n => n,
    }
}

/// A read-only row-major-or-not matrix view: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A contiguous row-major `rows × cols` matrix.
    pub fn rm(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }
    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// `dst = [dst +] alpha · a · b`, with `dst` row-major of row stride `dst_rs` (`a.rows ×
/// b.cols`). `threads` > 1 lets gemm split the work over rayon's current pool.
pub(crate) fn gemm(
    dst: &mut [f32],
    dst_rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    alpha: f32,
    accumulate: bool,
    threads: usize,
) -> Result<()> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let dst_fits = m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len();
    if b.rows != k || !a.fits() || !b.fits() || !dst_fits || (m > 1 && dst_rs < n) {
        return Err(Error::InvalidInput {
            reason: format!(
                "internal gemm shape error: {m}×{k} · {}×{n} into {} (row stride {dst_rs})",
                b.rows,
                dst.len()
            ),
        });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return Ok(());
    }
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index gemm reads is `i·rs + j·cs` for i < rows, j < cols of `a` and `b`,
    // checked above to lie inside their slices (`fits`); every index it writes is
    // `i·dst_rs + j` for i < m, j < n, checked to lie inside `dst`, and with `dst_rs ≥ n` no
    // two (i, j) alias. `dst` is borrowed mutably, so it cannot overlap `a` or `b`. Strides fit
    // in isize because they index existing slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            par,
        );
    }
    Ok(())
}

/// Rows at most this long are processed by one task in element-wise passes.
const PAR_CHUNK: usize = 1 << 16;

/// Runs `f` on disjoint chunks of whole rows of `x` (row length `row`), in parallel when big.
pub(crate) fn par_rows<F>(x: &mut [f32], row: usize, f: F)
where
    F: Fn(&mut [f32]) + Sync + Send,
{
    let rows_per = (PAR_CHUNK / row.max(1)).max(1);
    if x.len() <= PAR_CHUNK || cpu_threads() == 1 {
        f(x);
    } else {
        x.par_chunks_mut(rows_per * row).for_each(f);
    }
}

/// Runs an element-wise closure under the best SIMD instruction set of this CPU (pulp inlines
/// it into a `#[target_feature]` function, so the loops inside autovectorise for AVX2).
#[inline(always)]
fn simd<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// erf for f32, branch-free rational approximation (Eigen's `generic_fast_erf_float`, the one
/// XLA and TensorFlow use): max error a few ulp on [-4, 4], ±1 outside.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

/// transformers' `"gelu"`: `0.5·x·(1 + erf(x/√2))`.
#[inline(always)]
fn gelu1(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// exp for f32 (Cephes `expf`: range reduction by ln 2, degree-6 polynomial, ≤ 2 ulp);
/// returns 0 below −87 (where f32 exp is subnormal), which softmax needs for masked keys.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let keep = if x < -87.0 { 0.0 } else { 1.0 };
    let x = x.clamp(-87.0, 88.0);
    // round to nearest with the 1.5·2^23 trick (floor is not vectorisable on baseline x86-64)
    let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    e * scale * keep
}

/// `x[r][c] = gelu(x[r][c] + bias[c])` over rows of `bias.len()` (bias may be empty).
pub(crate) fn bias_gelu(x: &mut [f32], bias: &[f32], row: usize) {
    par_rows(x, row, |c| {
        simd(|| {
            for r in c.chunks_exact_mut(row) {
                if bias.len() == row {
                    for (v, b) in r.iter_mut().zip(bias) {
                        *v = gelu1(*v + b);
                    }
                } else {
                    for v in r.iter_mut() {
                        *v = gelu1(*v);
                    }
                }
            }
        })
    });
}

/// `x[r][c] += bias[c]` over rows of `bias.len()` (no-op for an empty bias).
pub(crate) fn add_rows(x: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    let row = bias.len();
    par_rows(x, row, |c| {
        simd(|| {
            for r in c.chunks_exact_mut(row) {
                for (v, b) in r.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        })
    });
}

/// Row-wise LayerNorm in place: `x = (x + add − mean) / sqrt(var + eps) · w + b`, where `add`
/// is an optional per-column bias applied first (the preceding Linear's bias, fused here).
/// Optional `w`/`b` (empty = none, for `elementwise_affine=False`). Two-pass in f32 like torch.
pub(crate) fn layer_norm(x: &mut [f32], row: usize, add: &[f32], w: &[f32], b: &[f32], eps: f32) {
    par_rows(x, row, |c| {
        simd(|| {
            for r in c.chunks_exact_mut(row) {
                if add.len() == row {
                    for (v, a) in r.iter_mut().zip(add) {
                        *v += a;
                    }
                }
                let mean = sum(r) / row as f32;
                let mut var = 0.0f32;
                let mut acc = [0.0f32; 16];
                let mut it = r.chunks_exact(16);
                for ch in &mut it {
                    for (a, v) in acc.iter_mut().zip(ch) {
                        let d = v - mean;
                        *a += d * d;
                    }
                }
                for v in it.remainder() {
                    let d = v - mean;
                    var += d * d;
                }
                var += acc.iter().sum::<f32>();
                let rstd = 1.0 / (var / row as f32 + eps).sqrt();
                match (w.len() == row, b.len() == row) {
                    (true, true) => {
                        for ((v, w), b) in r.iter_mut().zip(w).zip(b) {
                            *v = (*v - mean) * rstd * w + b;
                        }
                    }
                    (true, false) => {
                        for (v, w) in r.iter_mut().zip(w) {
                            *v = (*v - mean) * rstd * w;
                        }
                    }
                    _ => {
                        for v in r.iter_mut() {
                            *v = (*v - mean) * rstd;
                        }
                    }
                }
            }
        })
    });
}

/// Sum with 16 independent accumulators (vectorisable, and more accurate than a serial sum).
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let mut it = x.chunks_exact(16);
    for ch in &mut it {
        for (a, v) in acc.iter_mut().zip(ch) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

/// Row-wise softmax in place, after adding the optional additive `mask` (length = row).
pub(crate) fn softmax_rows(x: &mut [f32], row: usize, mask: &[f32]) {
    simd(|| {
        for r in x.chunks_exact_mut(row) {
            if mask.len() == row {
                for (v, m) in r.iter_mut().zip(mask) {
                    *v += m;
                }
            }
            let mut mx = [f32::NEG_INFINITY; 16];
            let mut it = r.chunks_exact(16);
            for ch in &mut it {
                for (a, v) in mx.iter_mut().zip(ch) {
                    *a = a.max(*v);
                }
            }
            let mut m = it
                .remainder()
                .iter()
                .fold(f32::NEG_INFINITY, |a, &v| a.max(v));
            m = mx.iter().fold(m, |a, &v| a.max(v));
            for v in r.iter_mut() {
                *v = exp(*v - m);
            }
            let inv = 1.0 / sum(r);
            for v in r.iter_mut() {
                *v *= inv;
            }
        }
    })
}

/// Per-column statistics of a row-major `(rows, cols)` block for GroupNorm with one group per
/// channel: returns (mean, 1/sqrt(var + eps)) per column, accumulated in f64 over time.
pub(crate) fn column_stats(x: &[f32], cols: usize, eps: f64) -> (Vec<f32>, Vec<f32>) {
    let rows = x.len() / cols.max(1);
    let (s, s2) = simd(|| {
        let mut s = vec![0.0f64; cols];
        for r in x.chunks_exact(cols) {
            for (a, v) in s.iter_mut().zip(r) {
                *a += f64::from(*v);
            }
        }
        let mean: Vec<f64> = s.iter().map(|v| v / rows as f64).collect();
        let mut s2 = vec![0.0f64; cols];
        for r in x.chunks_exact(cols) {
            for ((a, v), m) in s2.iter_mut().zip(r).zip(&mean) {
                let d = f64::from(*v) - m;
                *a += d * d;
            }
        }
        (mean, s2)
    });
    let rstd = s2
        .iter()
        .map(|v| (1.0 / (v / rows as f64 + eps).sqrt()) as f32)
        .collect();
    (s.iter().map(|&m| m as f32).collect(), rstd)
}

/// `x[r][c] = gelu((x[r][c] − mean[c]) · rstd[c] · w[c] + b[c])` (GroupNorm + GELU).
pub(crate) fn scale_shift_gelu(x: &mut [f32], mean: &[f32], rstd: &[f32], w: &[f32], b: &[f32]) {
    let cols = mean.len();
    // fold into one scale and shift per column
    let sc: Vec<f32> = rstd.iter().zip(w).map(|(r, w)| r * w).collect();
    let sh: Vec<f32> = mean
        .iter()
        .zip(&sc)
        .zip(b)
        .map(|((m, s), b)| b - m * s)
        .collect();
    par_rows(x, cols, |c| {
        simd(|| {
            for r in c.chunks_exact_mut(cols) {
                for ((v, s), h) in r.iter_mut().zip(&sc).zip(&sh) {
                    *v = gelu1(*v * s + h);
                }
            }
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_and_exp_are_accurate() {
        let mut max_erf = 0.0f64;
        let mut max_exp = 0.0f64;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            let e = (f64::from(erf(x)) - libm_erf(f64::from(x))).abs();
            max_erf = max_erf.max(e);
            let y = -87.0 + (i + 60_000) as f32 * (167.0 / 120_000.0);
            let r = f64::from(y).exp();
            max_exp = max_exp.max((f64::from(exp(y)) - r).abs() / r);
        }
        assert!(max_erf < 1e-6, "erf max abs error {max_erf}");
        assert!(max_exp < 1e-6, "exp max rel error {max_exp}");
        assert_eq!(exp(-1e9), 0.0);
    }

    /// erf in f64 by its Taylor/continued-fraction-free series (exact enough for |x| ≤ 6).
    fn libm_erf(x: f64) -> f64 {
        // erf(x) = 2/√π · Σ (−1)^n x^(2n+1) / (n! (2n+1)), summed until the terms vanish;
        // for |x| > 3 use 1 − erfc via the asymptotic tail being < 1e-8.
        if x.abs() > 4.5 {
            return x.signum();
        }
        let mut term = x;
        let mut s = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            s += term / (2 * n + 1) as f64;
        }
        s * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn gemm_checks_shapes_and_multiplies() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2×3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3×2
        let mut d = [0.0; 4];
        gemm(
            &mut d,
            2,
            Mat::rm(&a, 2, 3),
            Mat::rm(&b, 3, 2),
            1.0,
            false,
            1,
        )
        .unwrap();
        assert_eq!(d, [4.0, 5.0, 10.0, 11.0]);
        // transposed view of b: 2×3
        gemm(
            &mut d,
            2,
            Mat::rm(&a, 2, 3),
            Mat::rm(&b, 2, 3).t(),
            1.0,
            true,
            1,
        )
        .unwrap();
        assert_eq!(d, [4.0 + 1.0, 5.0 + 6.0, 10.0 + 4.0, 11.0 + 15.0]);
        let mut small = [0.0; 3];
        let e = gemm(
            &mut small,
            2,
            Mat::rm(&a, 2, 3),
            Mat::rm(&b, 3, 2),
            1.0,
            false,
            1,
        );
        assert!(matches!(e, Err(Error::InvalidInput { .. })));
    }
}
