//! CPU f32 kernels on plain slices for the CPU engine (`model::cpu`).
//!
//! Threads are a parameter of every call (`threads`: 1 = the calling thread only; more =
//! split over rayon's current pool), never process-wide state.
//!
//! This is the crate's only module with `unsafe`, used three ways: `gemm::gemm` takes raw
//! pointers and strides, which [`gemm`] and [`gemm_blocked`] (parallel tasks writing disjoint
//! column blocks of one output) wrap once, checking every index a call can touch against the
//! slices' lengths, so that the rest of the crate stays safe; and the element-wise kernels
//! (erf-GELU, exp for softmax, LayerNorm, the first conv) are branch-free so that they
//! vectorise, and are compiled for AVX-512, AVX2+FMA and baseline x86-64 with the best picked
//! at run time (`multiversion!`; calling a `#[target_feature]` function is `unsafe`), since the
//! crate itself is compiled for baseline x86-64.
#![allow(unsafe_code)]

use crate::error::{Error, Result};
use rayon::prelude::*;
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
        return Err(Error::Internal {
            reason: format!(
                "gemm shape error: {m}×{k} · {}×{n} into {} (row stride {dst_rs})",
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
    unsafe { gemm_raw(dst.as_mut_ptr(), dst_rs, a, b, alpha, accumulate, par) };
    Ok(())
}

/// The one call into `gemm::gemm`: `dst[i·dst_rs + j] = [dst +] alpha · (a · b)[i, j]`.
///
/// # Safety
/// `dst` must be valid for writes at `i·dst_rs + j` for every i < a.rows, j < b.cols, with no
/// two of those aliasing (`dst_rs ≥ b.cols` when a.rows > 1), and must not overlap `a` or `b`;
/// `a` and `b` must hold every index they describe (`Mat::fits`), with `a.cols == b.rows`.
#[inline]
unsafe fn gemm_raw(
    dst: *mut f32,
    dst_rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    alpha: f32,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    // SAFETY: the caller's contract above is gemm's.
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            dst,
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
}

/// `dst = [dst +] a · B` where `B (k × n)` is stored as `n / nb` contiguous row-major
/// `(k × nb)` column blocks (`model::dense`'s layout); one `gemm` call (one rayon task when
/// `threads` > 1) per block, each writing its own `nb` columns of `dst`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_blocked(
    dst: &mut [f32],
    dst_rs: usize,
    a: Mat<'_>,
    blocks: &[f32],
    n: usize,
    nb: usize,
    accumulate: bool,
    threads: usize,
) -> Result<()> {
    let (m, k) = (a.rows, a.cols);
    let dst_fits = m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len();
    if nb == 0
        || !n.is_multiple_of(nb)
        || blocks.len() != k * n
        || !a.fits()
        || !dst_fits
        || (m > 1 && dst_rs < n)
    {
        return Err(Error::Internal {
            reason: format!(
                "blocked gemm shape error: {m}×{k} · {} values as {n} columns in \
                 blocks of {nb}, into {} (row stride {dst_rs})",
                blocks.len(),
                dst.len()
            ),
        });
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let nblk = n / nb;
    let block = |j: usize| Mat::rm(&blocks[j * k * nb..(j + 1) * k * nb], k, nb);
    if threads <= 1 || nblk == 1 {
        for j in 0..nblk {
            gemm(&mut dst[j * nb..], dst_rs, a, block(j), 1.0, accumulate, 1)?;
        }
        return Ok(());
    }
    /// The destination pointer, shared by tasks that write disjoint columns.
    #[derive(Clone, Copy)]
    struct Dst(*mut f32);
    // SAFETY: only used below, where each task writes a disjoint set of elements.
    unsafe impl Send for Dst {}
    // SAFETY: as above.
    unsafe impl Sync for Dst {}
    impl Dst {
        // a method, so that closures capture the whole (Send) struct, not its raw field
        fn ptr(self) -> *mut f32 {
            self.0
        }
    }
    let d = Dst(dst.as_mut_ptr());
    (0..nblk).into_par_iter().for_each(|j| {
        let b = block(j);
        // SAFETY: task j writes dst[i·dst_rs + j·nb + c] for i < m, c < nb: inside `dst`
        // (checked above: (m−1)·dst_rs + n ≤ len) and, since dst_rs ≥ n, disjoint from every
        // other task's columns; `dst` is borrowed mutably for the whole call, so nothing else
        // reads or writes it meanwhile. `a` and the block were checked to hold every index
        // read (`fits`, and the block is a whole `k × nb` slice).
        unsafe {
            gemm_raw(
                d.ptr().add(j * nb),
                dst_rs,
                a,
                b,
                1.0,
                accumulate,
                gemm::Parallelism::None,
            );
        }
    });
    Ok(())
}

/// Rows at most this long are processed by one task in element-wise passes.
const PAR_CHUNK: usize = 1 << 16;

/// Runs `f` on disjoint chunks of whole rows of `x` (row length `row`), in parallel when big.
pub(crate) fn par_rows<F>(x: &mut [f32], row: usize, threads: usize, f: F)
where
    F: Fn(&mut [f32]) + Sync + Send,
{
    let rows_per = (PAR_CHUNK / row.max(1)).max(1);
    if x.len() <= PAR_CHUNK || threads <= 1 {
        f(x);
    } else {
        x.par_chunks_mut(rows_per * row).for_each(f);
    }
}

/// Defines `fn $name(args)` whose body is compiled three times, for AVX-512 (x86-64-v4),
/// AVX2+FMA (v3) and baseline, and picks the best one the CPU has at run time.
///
/// Why not `pulp::Arch::dispatch(closure)`: a closure handed to pulp is a separate function
/// compiled for baseline x86-64 unless LLVM chooses to inline it, and for these loops it did
/// not (perf showed SSE `mulps` and scalar `cvttss2si` in softmax and GELU). The body here is
/// an `#[inline(always)]` fn called from `#[target_feature]` wrappers, so it is always inlined
/// and autovectorised for the wrapper's features. Bodies must not hide hot loops in closures
/// that escape (iterator adapters are fine: they inline).
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[inline(always)]
            fn imp($($a: $t),*) $(-> $r)? $body
            #[cfg(target_arch = "x86_64")]
            {
                // Safe `#[target_feature]` fns (Rust 1.86+); calling them is still `unsafe`
                // from code compiled without those features.
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn v4($($a: $t),*) $(-> $r)? { imp($($a),*) }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($a: $t),*) $(-> $r)? { imp($($a),*) }
                match simd_level() {
                    // SAFETY: `simd_level` returned 2 only after detecting every feature `v4`
                    // is compiled for on this CPU.
                    2 => return unsafe { v4($($a),*) },
                    // SAFETY: as above, for level 1 and `v3`'s features.
                    1 => return unsafe { v3($($a),*) },
                    _ => {}
                }
            }
            imp($($a),*)
        }
    };
}

/// 2 = AVX-512 (F, BW, DQ, VL) with AVX2 and FMA, 1 = AVX2 and FMA, 0 = baseline; detected
/// once.
#[cfg(target_arch = "x86_64")]
fn simd_level() -> u8 {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        use std::arch::is_x86_feature_detected as has;
        let v3 = has!("avx2") && has!("fma");
        let v4 = v3 && has!("avx512f") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl");
        if v4 {
            2
        } else {
            u8::from(v3)
        }
    })
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

/// 1.5·2^23: adding it to an f32 of magnitude < 2^22 rounds to an integer, which then sits in
/// the low mantissa bits (`bits = 0x4B40_0000 + n`).
const ROUND_MAGIC: f32 = 12_582_912.0;

/// exp for f32 (Cephes `expf`: range reduction by ln 2, degree-6 polynomial, ≤ 2 ulp);
/// returns 0 below −87 (where f32 exp is subnormal), which softmax needs for masked keys.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let keep = if x < -87.0 { 0.0 } else { 1.0 };
    let x = x.clamp(-87.0, 88.0);
    // round to nearest with the magic-number trick (floor is not vectorisable on baseline)
    let big = x * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n = big - ROUND_MAGIC;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from n's bits in `big` (n ∈ [−126, 127] after the clamp): integer ops only, so this
    // vectorises (an `as i32` cast is a saturating scalar conversion)
    let scale = f32::from_bits(
        big.to_bits()
            .wrapping_sub(0x4B40_0000)
            .wrapping_add(127)
            .wrapping_shl(23),
    );
    e * scale * keep
}

multiversion! {
    /// `x[r][c] = gelu(x[r][c] + bias[c])` over rows of `row` values (bias may be empty).
    pub(crate) fn gelu_rows(x: &mut [f32], bias: &[f32], row: usize) {
        if bias.len() == row {
            for r in x.chunks_exact_mut(row) {
                for (v, b) in r.iter_mut().zip(bias) {
                    *v = gelu1(*v + b);
                }
            }
        } else {
            for v in x.iter_mut() {
                *v = gelu1(*v);
            }
        }
    }
}

/// `x[r][c] = gelu(x[r][c] + bias[c])` over rows of `bias.len()` (bias may be empty).
pub(crate) fn bias_gelu(x: &mut [f32], bias: &[f32], row: usize, threads: usize) {
    par_rows(x, row, threads, |c| gelu_rows(c, bias, row));
}

multiversion! {
    /// `x[r][c] += bias[c]` over rows of `bias.len()`.
    fn add_rows_imp(x: &mut [f32], bias: &[f32]) {
        for r in x.chunks_exact_mut(bias.len()) {
            for (v, b) in r.iter_mut().zip(bias) {
                *v += b;
            }
        }
    }
}

/// `x[r][c] += bias[c]` over rows of `bias.len()` (no-op for an empty bias).
pub(crate) fn add_rows(x: &mut [f32], bias: &[f32], threads: usize) {
    if bias.is_empty() {
        return;
    }
    par_rows(x, bias.len(), threads, |c| add_rows_imp(c, bias));
}

multiversion! {
    /// [`layer_norm`] on one chunk of whole rows.
    pub(crate) fn layer_norm_imp(
        x: &mut [f32],
        row: usize,
        add: &[f32],
        w: &[f32],
        b: &[f32],
        eps: f32,
    ) {
        for r in x.chunks_exact_mut(row) {
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
    }
}

/// Row-wise LayerNorm in place: `x = (x + add − mean) / sqrt(var + eps) · w + b`, where `add`
/// is an optional per-column bias applied first (the preceding Linear's bias, fused here).
/// Optional `w`/`b` (empty = none, for `elementwise_affine=False`). Two-pass in f32 like torch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_norm(
    x: &mut [f32],
    row: usize,
    add: &[f32],
    w: &[f32],
    b: &[f32],
    eps: f32,
    threads: usize,
) {
    par_rows(x, row, threads, |c| layer_norm_imp(c, row, add, w, b, eps));
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

multiversion! {
    /// Row-wise softmax in place, after adding the optional additive `mask` (length = row).
    pub(crate) fn softmax_rows(x: &mut [f32], row: usize, mask: &[f32]) {
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
    }
}

multiversion! {
    /// WavLM's attention rows: row q of `x` (one head's scores) gets `gates[q] · table[T−1−q
    /// + k]` added at key k (the gated relative position bias; `table` holds the head's bias
    /// per offset k − q ∈ −(T−1)..=T−1, so row q's bias is a contiguous slice of it), then the
    /// additive `mask` (length T, may be empty), then softmax.
    pub(crate) fn softmax_rows_relpos(
        x: &mut [f32],
        row: usize,
        mask: &[f32],
        table: &[f32],
        gates: &[f32],
    ) {
        for (q, r) in x.chunks_exact_mut(row).enumerate() {
            let g = gates[q];
            let bias = &table[row - 1 - q..2 * row - 1 - q];
            for (v, b) in r.iter_mut().zip(bias) {
                *v += g * b;
            }
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
    }
}

multiversion! {
    /// Per-column sums and sums of squared deviations of a row-major `(rows, cols)` block,
    /// in f64 (two passes, like the f32 LayerNorm).
    fn column_moments(x: &[f32], cols: usize, rows: usize) -> (Vec<f64>, Vec<f64>) {
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
    }
}

/// Per-column statistics of a row-major `(rows, cols)` block for GroupNorm with one group per
/// channel: returns (mean, 1/sqrt(var + eps)) per column, accumulated in f64 over time.
pub(crate) fn column_stats(x: &[f32], cols: usize, eps: f64) -> (Vec<f32>, Vec<f32>) {
    let rows = x.len() / cols.max(1);
    let (s, s2) = column_moments(x, cols.max(1), rows);
    let rstd = s2
        .iter()
        .map(|v| (1.0 / (v / rows as f64 + eps).sqrt()) as f32)
        .collect();
    (s.iter().map(|&m| m as f32).collect(), rstd)
}

multiversion! {
    /// `x[r][c] = gelu(x[r][c] · sc[c] + sh[c])` over rows of `sc.len()`.
    pub(crate) fn scale_shift_gelu_imp(x: &mut [f32], sc: &[f32], sh: &[f32]) {
        for r in x.chunks_exact_mut(sc.len()) {
            for ((v, s), h) in r.iter_mut().zip(sc).zip(sh) {
                *v = gelu1(*v * s + h);
            }
        }
    }
}

/// `x[r][c] = gelu((x[r][c] − mean[c]) · rstd[c] · w[c] + b[c])` (GroupNorm + GELU).
pub(crate) fn scale_shift_gelu(
    x: &mut [f32],
    mean: &[f32],
    rstd: &[f32],
    w: &[f32],
    b: &[f32],
    threads: usize,
) {
    let cols = mean.len();
    if cols == 0 {
        return;
    }
    // fold into one scale and shift per column
    let sc: Vec<f32> = rstd.iter().zip(w).map(|(r, w)| r * w).collect();
    let sh: Vec<f32> = mean
        .iter()
        .zip(&sc)
        .zip(b)
        .map(|((m, s), b)| b - m * s)
        .collect();
    par_rows(x, cols, threads, |c| scale_shift_gelu_imp(c, &sc, &sh));
}

multiversion! {
    /// First conv layer (one input channel): `out` holds `out.len() / cout` frames of `cout`
    /// channels, frame r = `bias + Σ_j wave[r·stride + j] · w[j]` with `w` packed `(k, cout)`
    /// (taps outer). Channels go in blocks of 16 held in registers over the k taps (one zmm);
    /// `wave` must hold `(frames − 1)·stride + k` samples.
    pub(crate) fn conv_cin1_rows(
        out: &mut [f32],
        wave: &[f32],
        w: &[f32],
        bias: &[f32],
        k: usize,
        stride: usize,
    ) {
        let cout = w.len() / k.max(1);
        if cout == 0 {
            return;
        }
        for (r, row) in out.chunks_exact_mut(cout).enumerate() {
            let xs = &wave[r * stride..r * stride + k];
            let mut c0 = 0;
            for blk in row.chunks_exact_mut(16) {
                let mut acc = [0.0f32; 16];
                if bias.len() == cout {
                    acc.copy_from_slice(&bias[c0..c0 + 16]);
                }
                for (j, &x) in xs.iter().enumerate() {
                    let wj = &w[j * cout + c0..j * cout + c0 + 16];
                    for (a, wv) in acc.iter_mut().zip(wj) {
                        *a += x * wv;
                    }
                }
                blk.copy_from_slice(&acc);
                c0 += 16;
            }
            for (c, v) in row.iter_mut().enumerate().skip(c0) {
                let mut a = if bias.len() == cout { bias[c] } else { 0.0 };
                for (j, &x) in xs.iter().enumerate() {
                    a += x * w[j * cout + c];
                }
                *v = a;
            }
        }
    }
}

multiversion! {
    /// Adds per-column sums and sums of squares of a row-major `(rows, s.len())` block to
    /// `s` and `s2` (f64).
    pub(crate) fn column_sums(x: &[f32], s: &mut [f64], s2: &mut [f64]) {
        if s.is_empty() {
            return;
        }
        for r in x.chunks_exact(s.len()) {
            for ((a, a2), v) in s.iter_mut().zip(s2.iter_mut()).zip(r) {
                let v = f64::from(*v);
                *a += v;
                *a2 += v * v;
            }
        }
    }
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
    fn blocked_gemm_matches_plain_gemm() {
        let (m, k, n, nb) = (7, 5, 12, 4);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let w: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect(); // (k, n)
        let mut blocks = vec![0f32; k * n];
        for j in 0..n / nb {
            for r in 0..k {
                for c in 0..nb {
                    blocks[j * k * nb + r * nb + c] = w[r * n + j * nb + c];
                }
            }
        }
        let rs = n + 3; // a destination row stride wider than n
        let mut want = vec![1f32; m * rs];
        gemm(
            &mut want,
            rs,
            Mat::rm(&a, m, k),
            Mat::rm(&w, k, n),
            1.0,
            true,
            1,
        )
        .unwrap();
        for threads in [1, 2] {
            let mut got = vec![1f32; m * rs];
            gemm_blocked(
                &mut got,
                rs,
                Mat::rm(&a, m, k),
                &blocks,
                n,
                nb,
                true,
                threads,
            )
            .unwrap();
            assert_eq!(got, want, "threads {threads}");
        }
        let mut d = vec![0f32; m * n];
        let e = gemm_blocked(&mut d, n, Mat::rm(&a, m, k), &blocks, n, 5, false, 2);
        assert!(matches!(e, Err(Error::Internal { .. })));
        let e = gemm_blocked(&mut d[1..], n, Mat::rm(&a, m, k), &blocks, n, nb, false, 2);
        assert!(matches!(e, Err(Error::Internal { .. })));
    }

    #[test]
    fn first_conv_kernel_matches_direct_sum() {
        let (k, st, cout, frames) = (4, 2, 20, 3); // 20 channels: one block of 16 + 4 more
        let wave: Vec<f32> = (0..(frames - 1) * st + k).map(|i| i as f32 * 0.1).collect();
        let w: Vec<f32> = (0..k * cout).map(|i| (i % 9) as f32 - 4.0).collect(); // (k, cout)
        let bias: Vec<f32> = (0..cout).map(|c| c as f32).collect();
        let mut out = vec![0f32; frames * cout];
        conv_cin1_rows(&mut out, &wave, &w, &bias, k, st);
        for r in 0..frames {
            for c in 0..cout {
                let want = bias[c]
                    + (0..k)
                        .map(|j| wave[r * st + j] * w[j * cout + c])
                        .sum::<f32>();
                assert!(
                    (out[r * cout + c] - want).abs() < 1e-4,
                    "frame {r} channel {c}"
                );
            }
        }
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
        assert!(matches!(e, Err(Error::Internal { .. })));
    }
}
