//! The CPU f32 fast path of [`SslModel::forward`]: the same computation as the candle path
//! (which stays the reference and the path for CUDA/Metal, other dtypes and WavLM), written on
//! time-major `(T, C)` slices with GEMMs from the `gemm` crate and fused element-wise passes.
//!
//! Where the time goes (issue 9 profile, `VOXPROBE_SSL_PROFILE=1`): GEMMs are ~90% of a 10 s
//! forward pass, so the rest is about feeding them well:
//! - **Weight layout, once at load** (`dense`, `pack_conv`): Linear weights in contiguous
//!   64-column blocks of `Wᵀ`, Q/K/V fused into one blocked `(3H)` layer, conv weights as
//!   row-major `(K·C_in, C_out)`. No per-call transposition or re-packing of weights.
//! - **Conv feature encoder** (~1/3 of the FLOPs): in time-major layout, the im2col matrix of a
//!   stride-s, kernel-k conv is a *strided view* of its input (row t starts at `s·t·C_in` and is
//!   `k·C_in` long), so each conv is one GEMM with no copy; GroupNorm/LayerNorm and GELU are one
//!   fused pass. The first conv (one input channel, the model's largest output) is computed in
//!   L2-sized blocks straight from the waveform with its norm and GELU (`first_conv`).
//! - **Grouped positional conv**: the input is rearranged group-major once, after which each
//!   group's im2col is again a strided view; groups run in parallel.
//! - **Attention**: Q, K and V come from one GEMM into one `(T, 3H)` buffer; per (item, head)
//!   one GEMM for the scores (read as strided views, no head split copies), softmax in place
//!   with the key mask, one GEMM for the context (tiles of queries measured no faster).
//! - Residual adds are fused into GEMM accumulation; bias adds into LayerNorm or GELU passes;
//!   element-wise kernels are compiled for AVX-512/AVX2 and picked at run time (`kernels`).
//! - The conv encoder's large buffers are reused across calls (`BufPool`), sparing the page
//!   faults of fresh 30–200 MB allocations.
//!
//! Normalisation parameters are read in place from the candle tensors (no copy).

use super::dense::Dense;
use super::{ConvNorm, PosConv, PosEmbed, SslModel, CONV_NORM_EPS, MASK_NEG};
use crate::config::Family;
use crate::error::{Error, Result};
use crate::kernels::{self, gemm, Mat};
use crate::model::{ForwardOptions, LayerSelection};
use candle_core::{DType, Device, Tensor};
use candle_nn::LayerNorm;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Set this environment variable to force the candle path (A/B timing, debugging).
const DISABLE_ENV: &str = "VOXPROBE_SSL_NO_FAST";
/// Set this environment variable to print seconds per stage of each forward pass to stderr.
const PROFILE_ENV: &str = "VOXPROBE_SSL_PROFILE";

/// Per-stage wall-clock accumulator (active only with `VOXPROBE_SSL_PROFILE`).
struct Prof {
    on: bool,
    last: std::time::Instant,
    acc: Vec<(&'static str, f64)>,
}

impl Prof {
    fn new() -> Self {
        Self {
            on: std::env::var_os(PROFILE_ENV).is_some(),
            last: std::time::Instant::now(),
            acc: Vec::new(),
        }
    }
    /// Charges the time since the previous mark to `stage`.
    fn mark(&mut self, stage: &'static str) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        let dt = (now - self.last).as_secs_f64();
        self.last = now;
        match self.acc.iter_mut().find(|(n, _)| *n == stage) {
            Some((_, v)) => *v += dt,
            None => self.acc.push((stage, dt)),
        }
    }
    fn report(&self) {
        if self.on {
            let parts: Vec<String> = self
                .acc
                .iter()
                .map(|(n, v)| format!("{n}={v:.4}"))
                .collect();
            eprintln!("voxprobe-ssl profile: {}", parts.join(" "));
        }
    }
}

/// Packs a conv weight `(C_out, C_in/G, K)` of `groups` groups as, per group, a row-major
/// `(K·C_in/G, C_out/G)` matrix (taps outer), for CPU f32 models; `None` elsewhere (the fast
/// path is then not used). Row-major `(K, N)` weights are the GEMM's fastest right-hand side
/// (measured 5–35% over reading `(N, K)` transposed, more for skinny inputs).
pub(super) fn pack_conv(w: &Tensor, groups: usize) -> Result<Option<Arc<Vec<f32>>>> {
    if !w.device().is_cpu() || w.dtype() != DType::F32 {
        return Ok(None);
    }
    let (cout, cin, k) = w.dims3()?;
    if groups == 0 || cout % groups != 0 {
        return Err(Error::InvalidInput {
            reason: format!("conv with {cout} output channels in {groups} groups"),
        });
    }
    let cg = cout / groups;
    let v = w.flatten_all()?.to_vec1::<f32>()?;
    let mut p = vec![0f32; v.len()];
    for o in 0..cout {
        let (gg, og) = (o / cg, o % cg);
        let base = gg * cg * k * cin;
        for c in 0..cin {
            for j in 0..k {
                p[base + (j * cin + c) * cg + og] = v[(o * cin + c) * k + j];
            }
        }
    }
    Ok(Some(Arc::new(p)))
}

/// Bytes of buffers [`BufPool`] keeps at most.
const POOL_MAX_BYTES: usize = 512 << 20;

/// Large f32 buffers kept between forward passes of one model (and its clones). The conv
/// encoder's outputs are the largest tensors of the model (T₀ × 512 floats: 65 MB for 10 s of
/// audio), and fresh allocations that size are mmapped by the allocator each call, costing a
/// page fault per 4 KiB (~22k faults, 2–3% of a 10 s forward pass). Reused buffers are
/// already mapped. At most [`POOL_MAX_BYTES`] are kept.
#[derive(Debug, Default)]
pub(super) struct BufPool(std::sync::Mutex<Vec<Vec<f32>>>);

impl BufPool {
    /// A buffer of `len` values with unspecified contents: the caller overwrites all of it.
    fn take(&self, len: usize) -> Vec<f32> {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // best fit: the smallest buffer that holds `len`
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                let mut v = free.swap_remove(i);
                drop(free);
                if v.len() >= len {
                    v.truncate(len);
                } else {
                    v.resize(len, 0.0);
                }
                v
            }
            None => vec![0f32; len],
        }
    }

    /// Returns a buffer for later [`BufPool::take`]s (dropped when the pool is full).
    fn give(&self, v: Vec<f32>) {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = free.iter().map(|b| b.capacity() * 4).sum();
        if held + v.capacity() * 4 <= POOL_MAX_BYTES {
            free.push(v);
        }
    }
}

/// Whether [`forward`] handles this model: CPU, f32, erf-GELU activations, no WavLM relative
/// position bias, packed conv weights.
pub(super) fn supported(m: &SslModel) -> bool {
    let pos_packed = match &m.encoder.pos.kind {
        PosEmbed::Single(c, _) => c.packed.is_some(),
        PosEmbed::Stacked(v) => v.iter().all(|c| c.packed.is_some()),
    };
    m.device.is_cpu()
        && m.dtype == DType::F32
        && m.spec.family != Family::WavLm
        && m.encoder.rel_embed.is_none()
        && matches!(m.spec.hidden_act, candle_nn::Activation::Gelu)
        && matches!(m.spec.feat_act, candle_nn::Activation::Gelu)
        && m.feature_extractor
            .layers
            .iter()
            .all(|l| l.packed.is_some())
        && pos_packed
        && std::env::var_os(DISABLE_ENV).is_none()
}

/// A read lock on a CPU f32 tensor's storage, so that its data can be borrowed as a slice.
struct Held<'a> {
    guard: Box<dyn std::ops::Deref<Target = candle_core::Storage> + 'a>,
    start: usize,
    len: usize,
}

fn hold(t: &Tensor) -> Result<Held<'_>> {
    let (guard, layout) = t.storage_and_layout();
    let (start, end) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::InvalidInput {
            reason: "internal: non-contiguous weight on the CPU fast path".into(),
        })?;
    Ok(Held {
        guard: Box::new(guard),
        start,
        len: end - start,
    })
}

/// Runs `f` on the values of a contiguous CPU f32 tensor, without copying them.
pub(super) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let held = hold(t)?;
    Ok(f(held.s()?))
}

impl Held<'_> {
    fn s(&self) -> Result<&[f32]> {
        match &**self.guard {
            candle_core::Storage::Cpu(candle_core::CpuStorage::F32(v)) => {
                Ok(&v[self.start..self.start + self.len])
            }
            _ => Err(Error::InvalidInput {
                reason: "internal: CPU fast path on a non-CPU-f32 tensor".into(),
            }),
        }
    }
}

/// `dst (rows × out) [+]= x (rows × in) · Wᵀ`; the bias is left to a fused later pass.
fn linear_nobias(
    dst: &mut [f32],
    dst_rs: usize,
    x: &[f32],
    rows: usize,
    lin: &Dense,
    accumulate: bool,
    threads: usize,
) -> Result<()> {
    let lin = match lin {
        Dense::Plain(l) => l,
        Dense::Blocked {
            w, inp, out, nb, ..
        } => {
            let held = hold(w)?;
            return kernels::gemm_blocked(
                dst,
                dst_rs,
                Mat::rm(x, rows, *inp),
                held.s()?,
                *out,
                *nb,
                accumulate,
                threads,
            );
        }
    };
    let (out, inp) = lin.weight().dims2()?;
    // `Dense::Plain` stores CPU f32 weights as (in, out) row-major: the view's transpose is
    // then contiguous. Any other Linear is read as (out, in) transposed.
    let wt = lin.weight().t()?;
    let transposed = wt.is_contiguous();
    let held = if transposed {
        hold(&wt)?
    } else {
        hold(lin.weight())?
    };
    let w = held.s()?;
    let w = if transposed {
        Mat::rm(w, inp, out)
    } else {
        Mat::rm(w, out, inp).t()
    };
    gemm(
        dst,
        dst_rs,
        Mat::rm(x, rows, inp),
        w,
        1.0,
        accumulate,
        threads,
    )
}

fn ln_params(ln: &LayerNorm) -> Result<(Held<'_>, Option<Held<'_>>)> {
    Ok((hold(ln.weight())?, ln.bias().map(hold).transpose()?))
}

/// In-place LayerNorm over rows of `x`, adding `add` (a fused Linear bias) first.
fn apply_ln(x: &mut [f32], row: usize, add: &[f32], ln: &LayerNorm) -> Result<()> {
    let (w, b) = ln_params(ln)?;
    let b = match &b {
        Some(b) => b.s()?,
        None => &[],
    };
    kernels::layer_norm(x, row, add, w.s()?, b, ln.eps() as f32);
    Ok(())
}

fn bias_of(lin: &Dense) -> Result<Option<Held<'_>>> {
    lin.bias().map(hold).transpose()
}

fn slice_or_empty<'a>(h: &'a Option<Held<'_>>) -> Result<&'a [f32]> {
    match h {
        Some(h) => h.s(),
        None => Ok(&[]),
    }
}

/// Runs the model on `x` `(B, N)`; returns (conv features, projected features, last hidden
/// state) and fills `hidden` like the candle path.
pub(super) fn forward(
    m: &SslModel,
    x: &Tensor,
    lens: &[usize],
    masked: bool,
    opts: &ForwardOptions,
    hidden: &mut BTreeMap<usize, Tensor>,
) -> Result<(Option<Tensor>, Option<Tensor>, Tensor)> {
    let threads = kernels::cpu_threads();
    let mut prof = Prof::new();
    let (b, n) = x.dims2()?;
    let input = x.flatten_all()?.to_vec1::<f32>()?;
    let t = m.frames_for(n);
    let c = m.spec.conv_dim.last().copied().unwrap_or(0);
    let h = m.spec.hidden;
    let rows = b * t;
    let mut feats = Vec::with_capacity(rows * c);
    {
        let _s = tracing::trace_span!("feature_extractor").entered();
        for i in 0..b {
            let f = conv_encoder(m, &input[i * n..(i + 1) * n], threads, &mut prof)?;
            feats.extend_from_slice(&f);
            m.pool.give(f);
        }
    }
    if feats.len() != rows * c {
        return Err(Error::InvalidInput {
            reason: format!(
                "internal: conv stack gave {} values, expected {}",
                feats.len(),
                rows * c
            ),
        });
    }
    let dev = Device::Cpu;
    let conv_t = if opts.intermediates {
        Some(Tensor::from_slice(&feats, (b, t, c), &dev)?)
    } else {
        None
    };
    let fp = &m.feature_projection;
    if let Some(ln) = &fp.layer_norm {
        apply_ln(&mut feats, c, &[], ln)?;
    }
    let mut xs = vec![0f32; rows * h];
    linear_nobias(&mut xs, h, &feats, rows, &fp.projection, false, threads)?;
    drop(feats);
    let pb = bias_of(&fp.projection)?;
    kernels::add_rows(&mut xs, slice_or_empty(&pb)?);
    let proj_t = if opts.intermediates {
        Some(Tensor::from_slice(&xs, (b, t, h), &dev)?)
    } else {
        None
    };
    let key_masks: Vec<Vec<f32>> = if masked {
        for (i, &l) in lens.iter().enumerate() {
            xs[(i * t + l.min(t)) * h..(i + 1) * t * h].fill(0.0);
        }
        lens.iter()
            .map(|&l| (0..t).map(|j| if j < l { 0.0 } else { MASK_NEG }).collect())
            .collect()
    } else {
        vec![Vec::new(); b]
    };
    prof.mark("projection");
    encoder(
        m,
        &mut xs,
        b,
        t,
        &key_masks,
        &opts.hidden_states,
        hidden,
        threads,
        &mut prof,
    )?;
    prof.report();
    let last = Tensor::from_vec(xs, (b, t, h), &dev)?;
    Ok((conv_t, proj_t, last))
}

/// Conv stack on one waveform → `(T, C)` time-major.
fn conv_encoder(m: &SslModel, wave: &[f32], threads: usize, prof: &mut Prof) -> Result<Vec<f32>> {
    const GEMM: [&str; 8] = [
        "conv0_gemm",
        "conv1_gemm",
        "conv2_gemm",
        "conv3_gemm",
        "conv4_gemm",
        "conv5_gemm",
        "conv6_gemm",
        "convN_gemm",
    ];
    // From the pool, like every buffer given back to it below: a fresh copy here would add
    // one buffer to the pool per forward pass, up to POOL_MAX_BYTES (memory growing with the
    // number of utterances a process embeds).
    let mut cur = m.pool.take(wave.len());
    cur.copy_from_slice(wave);
    let mut cin = 1usize;
    let mut tin = wave.len();
    for (li, l) in m.feature_extractor.layers.iter().enumerate() {
        let (cout, _, k) = l.weight.dims3()?;
        let st = l.stride;
        let tout = (tin - k) / st + 1;
        let packed = l.packed.as_ref().ok_or_else(|| Error::InvalidInput {
            reason: "internal: unpacked conv weight on the CPU fast path".into(),
        })?;
        if cin == 1 {
            let out = first_conv(l, &cur, tout, packed, m.pool.take(tout * cout))?;
            m.pool.give(std::mem::replace(&mut cur, out));
            prof.mark("conv0_fused");
            cin = cout;
            tin = tout;
            continue;
        }
        // fully overwritten by the GEMM (accumulate = false)
        let mut out = m.pool.take(tout * cout);
        // im2col without a copy: output frame t reads input rows s·t .. s·t + k, contiguous
        let lhs = Mat {
            data: &cur,
            rows: tout,
            cols: k * cin,
            rs: st * cin,
            cs: 1,
        };
        gemm(
            &mut out,
            cout,
            lhs,
            Mat::rm(packed, k * cin, cout),
            1.0,
            false,
            threads,
        )?;
        prof.mark(GEMM[li.min(7)]);
        let bias = l.bias.as_ref().map(hold).transpose()?;
        let bias = slice_or_empty(&bias)?;
        match &l.norm {
            ConvNorm::None => kernels::bias_gelu(&mut out, bias, cout),
            ConvNorm::Group(_, w, b) => {
                kernels::add_rows(&mut out, bias);
                let (mean, rstd) = kernels::column_stats(&out, cout, CONV_NORM_EPS);
                let (w, b) = (hold(w)?, hold(b)?);
                kernels::scale_shift_gelu(&mut out, &mean, &rstd, w.s()?, b.s()?);
            }
            ConvNorm::Layer(ln) => {
                apply_ln(&mut out, cout, bias, ln)?;
                kernels::bias_gelu(&mut out, &[], cout);
            }
        }
        prof.mark("conv_norm_gelu");
        m.pool.give(std::mem::replace(&mut cur, out));
        cin = cout;
        tin = tout;
    }
    Ok(cur)
}

/// Frames per task in [`first_conv`]: 128 × 512 channels = 256 KiB, L2-resident.
const FIRST_CONV_ROWS: usize = 128;

/// The first conv layer (one input channel, e.g. k = 10, stride 5, 512 channels) with its norm
/// and GELU, fused: its output is the largest tensor of the model (T₀ × 512, 65 MB on 10 s),
/// and separate GEMM, statistics and normalise passes each stream it through memory. Here the
/// frames are computed in L2-sized blocks straight from the waveform (K is too small for a
/// GEMM to pay), and written once. For GroupNorm (statistics over all frames) the cheap conv
/// is computed twice: once for the per-channel sums, once to normalise and write.
fn first_conv(
    l: &super::ConvLayer,
    wave: &[f32],
    tout: usize,
    packed: &[f32],
    mut out: Vec<f32>,
) -> Result<Vec<f32>> {
    let (cout, _, k) = l.weight.dims3()?;
    let st = l.stride;
    let bias = l.bias.as_ref().map(hold).transpose()?;
    let bias = slice_or_empty(&bias)?;
    let block = FIRST_CONV_ROWS * cout;
    // frames r0.. of `out` from the waveform
    let conv = |r0: usize, out: &mut [f32]| {
        kernels::conv_cin1_rows(out, &wave[r0 * st..], packed, bias, k, st);
    };
    // every block of `out` is written below, whatever it held before
    out.resize(tout * cout, 0.0);
    let par = kernels::cpu_threads() > 1;
    match &l.norm {
        ConvNorm::Group(_, w, b) => {
            let sums = |ci: usize| {
                let r0 = ci * FIRST_CONV_ROWS;
                let n = FIRST_CONV_ROWS.min(tout - r0);
                let mut buf = vec![0f32; n * cout];
                conv(r0, &mut buf);
                let (mut s, mut s2) = (vec![0f64; cout], vec![0f64; cout]);
                kernels::column_sums(&buf, &mut s, &mut s2);
                (s, s2)
            };
            let add = |mut a: (Vec<f64>, Vec<f64>), b: (Vec<f64>, Vec<f64>)| {
                a.0.iter_mut().zip(&b.0).for_each(|(x, y)| *x += y);
                a.1.iter_mut().zip(&b.1).for_each(|(x, y)| *x += y);
                a
            };
            let zero = || (vec![0f64; cout], vec![0f64; cout]);
            let chunks = tout.div_ceil(FIRST_CONV_ROWS);
            let (s, s2) = if par {
                (0..chunks).into_par_iter().map(sums).reduce(zero, add)
            } else {
                (0..chunks).map(sums).fold(zero(), add)
            };
            let (w, b) = (hold(w)?, hold(b)?);
            let (w, b) = (w.s()?, b.s()?);
            let nf = tout.max(1) as f64;
            let mut sc = vec![0f32; cout];
            let mut sh = vec![0f32; cout];
            for c in 0..cout.min(w.len()).min(b.len()) {
                let mean = s[c] / nf;
                let var = (s2[c] / nf - mean * mean).max(0.0);
                let scale = (1.0 / (var + CONV_NORM_EPS).sqrt()) as f32 * w[c];
                sc[c] = scale;
                sh[c] = b[c] - mean as f32 * scale;
            }
            let fin = |(ci, chunk): (usize, &mut [f32])| {
                conv(ci * FIRST_CONV_ROWS, chunk);
                kernels::scale_shift_gelu_imp(chunk, &sc, &sh);
            };
            if par {
                out.par_chunks_mut(block).enumerate().for_each(fin);
            } else {
                out.chunks_mut(block).enumerate().for_each(fin);
            }
        }
        ConvNorm::Layer(ln) => {
            let (w, b) = ln_params(ln)?;
            let (w, b) = (w.s()?, slice_or_empty(&b)?);
            let eps = ln.eps() as f32;
            let fin = |(ci, chunk): (usize, &mut [f32])| {
                conv(ci * FIRST_CONV_ROWS, chunk);
                kernels::layer_norm_imp(chunk, cout, &[], w, b, eps);
                kernels::gelu_rows(chunk, &[], cout);
            };
            if par {
                out.par_chunks_mut(block).enumerate().for_each(fin);
            } else {
                out.chunks_mut(block).enumerate().for_each(fin);
            }
        }
        ConvNorm::None => {
            let fin = |(ci, chunk): (usize, &mut [f32])| {
                conv(ci * FIRST_CONV_ROWS, chunk);
                kernels::gelu_rows(chunk, &[], cout);
            };
            if par {
                out.par_chunks_mut(block).enumerate().for_each(fin);
            } else {
                out.chunks_mut(block).enumerate().for_each(fin);
            }
        }
    }
    Ok(out)
}

/// Grouped conv with ⌊K/2⌋ zero padding, first T outputs (HF's SamePad), no bias:
/// `x` `(T, H)` → `(T, H)`.
fn grouped_conv(conv: &PosConv, x: &[f32], t: usize, h: usize, g: usize) -> Result<Vec<f32>> {
    let k = conv.k;
    let p = k / 2;
    let cg = h / g;
    let packed = conv.packed.as_ref().ok_or_else(|| Error::InvalidInput {
        reason: "internal: unpacked positional conv weight on the CPU fast path".into(),
    })?;
    let tp = t + k - 1;
    // group-major padded input: group gg is a contiguous (tp, cg) block, so that its im2col
    // matrix is the strided view "row r = values r·cg .. (r + k)·cg"
    let mut xg = vec![0f32; g * tp * cg];
    for (r, row) in x.chunks_exact(h).enumerate() {
        for gg in 0..g {
            let o = gg * tp * cg + (r + p) * cg;
            xg[o..o + cg].copy_from_slice(&row[gg * cg..(gg + 1) * cg]);
        }
    }
    let wlen = cg * k * cg;
    let run = |gg: usize| -> Result<Vec<f32>> {
        let mut og = vec![0f32; t * cg];
        let lhs = Mat {
            data: &xg[gg * tp * cg..(gg + 1) * tp * cg],
            rows: t,
            cols: k * cg,
            rs: cg,
            cs: 1,
        };
        let w = Mat::rm(&packed[gg * wlen..(gg + 1) * wlen], k * cg, cg);
        gemm(&mut og, cg, lhs, w, 1.0, false, 1)?;
        Ok(og)
    };
    let outs: Vec<Vec<f32>> = if kernels::cpu_threads() > 1 {
        (0..g).into_par_iter().map(run).collect::<Result<_>>()?
    } else {
        (0..g).map(run).collect::<Result<_>>()?
    };
    let mut y = vec![0f32; t * h];
    for (gg, og) in outs.iter().enumerate() {
        for (r, src) in og.chunks_exact(cg).enumerate() {
            y[r * h + gg * cg..r * h + (gg + 1) * cg].copy_from_slice(src);
        }
    }
    Ok(y)
}

/// Positional embedding of `x` `(B·T, H)`, added to `x` in place.
fn add_positional(m: &SslModel, x: &mut [f32], b: usize, t: usize) -> Result<()> {
    let pe = &m.encoder.pos;
    let h = m.spec.hidden;
    let g = pe.groups;
    for i in 0..b {
        let xi = &mut x[i * t * h..(i + 1) * t * h];
        let y = match &pe.kind {
            PosEmbed::Single(conv, bn) => {
                let mut y = match bn {
                    Some(bn) => {
                        let (sc, sh) = (hold(&bn.scale)?, hold(&bn.shift)?);
                        let (sc, sh) = (sc.s()?, sh.s()?);
                        let mut z = xi.to_vec();
                        for r in z.chunks_exact_mut(h) {
                            for ((v, a), s) in r.iter_mut().zip(sc).zip(sh) {
                                *v = *v * a + s;
                            }
                        }
                        grouped_conv(conv, &z, t, h, g)?
                    }
                    None => grouped_conv(conv, xi, t, h, g)?,
                };
                let bias = hold(&conv.bias)?;
                kernels::bias_gelu(&mut y, bias.s()?, h);
                y
            }
            PosEmbed::Stacked(convs) => {
                let mut y = xi.to_vec();
                for conv in convs {
                    let mut z = grouped_conv(conv, &y, t, h, g)?;
                    let bias = hold(&conv.bias)?;
                    // LayerNorm without affine parameters, then the activation
                    kernels::layer_norm(&mut z, h, bias.s()?, &[], &[], CONV_NORM_EPS as f32);
                    kernels::bias_gelu(&mut z, &[], h);
                    y = z;
                }
                y
            }
        };
        for (a, v) in xi.iter_mut().zip(&y) {
            *a += v;
        }
    }
    Ok(())
}

/// Scratch buffers reused by every layer.
struct Scratch {
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    heads: Vec<f32>,
    tmp: Vec<f32>,
    ff: Vec<f32>,
}

#[allow(clippy::too_many_arguments)]
fn encoder(
    m: &SslModel,
    x: &mut Vec<f32>,
    b: usize,
    t: usize,
    key_masks: &[Vec<f32>],
    sel: &LayerSelection,
    hidden: &mut BTreeMap<usize, Tensor>,
    threads: usize,
    prof: &mut Prof,
) -> Result<()> {
    let h = m.spec.hidden;
    let rows = b * t;
    let enc = &m.encoder;
    add_positional(m, x, b, t)?;
    if !enc.stable {
        apply_ln(x, h, &[], &enc.layer_norm)?;
    }
    prof.mark("pos_conv");
    let dev = Device::Cpu;
    if sel.wants(0) {
        hidden.insert(0, Tensor::from_slice(x, (b, t, h), &dev)?);
    }
    let mut s = Scratch {
        qkv: vec![0f32; rows * 3 * h],
        ctx: vec![0f32; rows * h],
        heads: vec![0f32; rows * h],
        tmp: vec![0f32; rows * h],
        ff: vec![0f32; rows * m.spec.ffn],
    };
    for (i, layer) in enc.layers.iter().enumerate() {
        let _span = tracing::trace_span!("encoder_layer", i).entered();
        if enc.stable {
            // pre-LN: x += attn(LN1(x)); x += ffn(LN2(x))
            s.tmp.copy_from_slice(x);
            apply_ln(&mut s.tmp, h, &[], &layer.layer_norm)?;
            prof.mark("layer_norm");
            attention(&layer.attention, &mut s, b, t, h, key_masks, threads, prof)?;
            let a = &layer.attention.out;
            linear_nobias(x, h, &s.ctx, rows, a, true, threads)?;
            let ob = bias_of(a)?;
            kernels::add_rows(x, slice_or_empty(&ob)?);
            prof.mark("attn_out_proj");
            s.tmp.copy_from_slice(x);
            apply_ln(&mut s.tmp, h, &[], &layer.final_layer_norm)?;
            prof.mark("layer_norm");
            ffn(layer, &mut s, rows, threads, prof)?;
            linear_nobias(x, h, &s.ff, rows, &layer.output, true, threads)?;
            let ob = bias_of(&layer.output)?;
            kernels::add_rows(x, slice_or_empty(&ob)?);
            prof.mark("ffn_out");
        } else {
            // post-LN: x = LN1(x + attn(x)); x = LN2(x + ffn(x))
            s.tmp.copy_from_slice(x);
            attention(&layer.attention, &mut s, b, t, h, key_masks, threads, prof)?;
            let a = &layer.attention.out;
            let mut y = std::mem::take(x);
            linear_nobias(&mut y, h, &s.ctx, rows, a, true, threads)?;
            prof.mark("attn_out_proj");
            let ob = bias_of(a)?;
            apply_ln(&mut y, h, slice_or_empty(&ob)?, &layer.layer_norm)?;
            s.tmp.copy_from_slice(&y);
            prof.mark("layer_norm");
            ffn(layer, &mut s, rows, threads, prof)?;
            linear_nobias(&mut y, h, &s.ff, rows, &layer.output, true, threads)?;
            prof.mark("ffn_out");
            let ob = bias_of(&layer.output)?;
            apply_ln(&mut y, h, slice_or_empty(&ob)?, &layer.final_layer_norm)?;
            prof.mark("layer_norm");
            *x = y;
        }
        if sel.wants(i + 1) {
            hidden.insert(i + 1, Tensor::from_slice(x, (b, t, h), &dev)?);
        }
    }
    if enc.stable {
        apply_ln(x, h, &[], &enc.layer_norm)?;
    }
    Ok(())
}

/// `s.ff = gelu(s.tmp · Wiᵀ + bi)`.
fn ffn(
    layer: &super::EncoderLayer,
    s: &mut Scratch,
    rows: usize,
    threads: usize,
    prof: &mut Prof,
) -> Result<()> {
    let f = m_ffn(layer)?;
    linear_nobias(
        &mut s.ff,
        f,
        &s.tmp,
        rows,
        &layer.intermediate,
        false,
        threads,
    )?;
    prof.mark("ffn_in");
    let ib = bias_of(&layer.intermediate)?;
    kernels::bias_gelu(&mut s.ff, slice_or_empty(&ib)?, f);
    prof.mark("bias_gelu");
    Ok(())
}

fn m_ffn(layer: &super::EncoderLayer) -> Result<usize> {
    layer.intermediate.out_dim()
}

/// Self-attention of `s.tmp` `(B·T, H)` into `s.ctx` `(B·T, H)` (before the output projection).
#[allow(clippy::too_many_arguments)]
fn attention(
    att: &super::Attention,
    s: &mut Scratch,
    b: usize,
    t: usize,
    h: usize,
    key_masks: &[Vec<f32>],
    threads: usize,
    prof: &mut Prof,
) -> Result<()> {
    let rows = b * t;
    let h3 = 3 * h;
    match &att.qkv {
        Some(all) => linear_nobias(&mut s.qkv, h3, &s.tmp, rows, all, false, threads)?,
        None => {
            for (j, lin) in [&att.q, &att.k, &att.v].into_iter().enumerate() {
                linear_nobias(&mut s.qkv[j * h..], h3, &s.tmp, rows, lin, false, threads)?;
            }
        }
    }
    let (bq, bk, bv) = (bias_of(&att.q)?, bias_of(&att.k)?, bias_of(&att.v)?);
    let mut bias = Vec::with_capacity(h3);
    for bb in [&bq, &bk, &bv] {
        match bb {
            Some(x) => bias.extend_from_slice(x.s()?),
            None => bias.extend(std::iter::repeat_n(0.0, h)),
        }
    }
    kernels::add_rows(&mut s.qkv, &bias);
    prof.mark("qkv_proj");
    let nh = att.heads;
    let hd = att.head_dim;
    let scale = 1.0 / (hd as f32).sqrt();
    let qkv = &s.qkv;
    let run = |task: usize, out: &mut [f32], scores: &mut Vec<f32>| -> Result<()> {
        let (i, hh) = (task / nh, task % nh);
        let base = i * t * h3;
        let view = |off: usize| Mat {
            data: &qkv[base + off + hh * hd..],
            rows: t,
            cols: hd,
            rs: h3,
            cs: 1,
        };
        scores.resize(t * t, 0.0);
        gemm(scores, t, view(0), view(h).t(), scale, false, 1)?;
        kernels::softmax_rows(scores, t, &key_masks[i]);
        gemm(out, hd, Mat::rm(scores, t, t), view(2 * h), 1.0, false, 1)
    };
    // One task per (item, head). Tiles of queries were measured: with K and V read as
    // strided views they re-pack them per tile (slower); with Kᵀ and V copied contiguous per
    // head first, the same speed at 10 s and 4% faster attention at 30 s, not worth the code.
    let heads = &mut s.heads;
    if threads > 1 {
        heads
            .par_chunks_mut(t * hd)
            .enumerate()
            .map_init(Vec::new, |sc, (task, out)| run(task, out, sc))
            .collect::<Result<()>>()?;
    } else {
        let mut sc = Vec::new();
        for (task, out) in heads.chunks_mut(t * hd).enumerate() {
            run(task, out, &mut sc)?;
        }
    }
    prof.mark("scores_softmax_ctx");
    // (B, heads, T, hd) → (B·T, H)
    for (task, src) in s.heads.chunks_exact(t * hd).enumerate() {
        let (i, hh) = (task / nh, task % nh);
        for (r, v) in src.chunks_exact(hd).enumerate() {
            let o = (i * t + r) * h + hh * hd;
            s.ctx[o..o + hd].copy_from_slice(v);
        }
    }
    Ok(())
}
