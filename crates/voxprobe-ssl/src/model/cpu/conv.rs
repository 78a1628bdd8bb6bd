//! The CPU engine's convolutions: the feature encoder (conv stack) and the grouped positional
//! conv, on time-major `(T, C)` slices.
//!
//! - In time-major layout the im2col matrix of a stride-s, kernel-k conv is a *strided view*
//!   of its input (row t starts at `s·t·C_in` and is `k·C_in` long), so each conv is one GEMM
//!   with no copy; GroupNorm/LayerNorm and GELU are one fused pass. Weights are packed at load
//!   as row-major `(K·C_in, C_out)` (taps outer), the GEMM's fastest right-hand side
//!   (measured 5–35% over reading `(N, K)` transposed, more for skinny inputs).
//! - The first conv (one input channel, the model's largest output) is computed in L2-sized
//!   blocks straight from the waveform with its norm and GELU ([`ConvStack::first`]).
//! - The grouped positional conv rearranges its input group-major once, after which each
//!   group's im2col is again a strided view; groups run in parallel.
//! - The conv encoder's large buffers are reused across calls ([`BufPool`]).

use super::{read_f32, Norm};
use crate::config::{FeatNorm, PosConvKind, Spec};
use crate::error::{Error, Result};
use crate::kernels::{self, gemm, Mat};
use crate::model::{weight_norm_keys, BATCH_NORM_EPS, CONV_NORM_EPS};
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// Packs a conv weight `(C_out, C_in/G, K)` of `groups` groups as, per group, a row-major
/// `(K·C_in/G, C_out/G)` matrix (taps outer).
fn pack_conv(v: &[f32], cout: usize, cin: usize, k: usize, groups: usize) -> Result<Vec<f32>> {
    if groups == 0 || !cout.is_multiple_of(groups) || v.len() != cout * cin * k {
        return Err(Error::Internal {
            reason: format!(
                "conv weight of {} values as ({cout}, {cin}, {k}) in {groups} groups",
                v.len()
            ),
        });
    }
    let cg = cout / groups;
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
    Ok(p)
}

/// Norm after a conv of the stack.
#[derive(Debug, Clone)]
enum ConvNorm {
    None,
    /// GroupNorm with one group per channel: statistics over time, per-channel affine.
    Group {
        w: Vec<f32>,
        b: Vec<f32>,
    },
    /// LayerNorm over channels at each frame.
    Layer(Norm),
}

/// One conv layer of the feature encoder.
#[derive(Debug, Clone)]
struct ConvLayer {
    /// `(K·C_in, C_out)` row-major, taps outer.
    w: Vec<f32>,
    /// Bias, or empty.
    bias: Vec<f32>,
    k: usize,
    stride: usize,
    cout: usize,
    norm: ConvNorm,
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
    pub(super) fn give(&self, v: Vec<f32>) {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held: usize = free.iter().map(|b| b.capacity() * 4).sum();
        if held + v.capacity() * 4 <= POOL_MAX_BYTES {
            free.push(v);
        }
    }
}

/// Work on one block of frames (index, values) of [`ConvStack::first`].
type BlockFn<'a> = dyn Fn((usize, &mut [f32])) + Sync + 'a;

/// Frames per task in [`ConvStack::first`]: 128 × 512 channels = 256 KiB, L2-resident.
const FIRST_CONV_ROWS: usize = 128;

/// The feature encoder (`feature_extractor.conv_layers.*`) with GELU after every layer.
#[derive(Debug, Clone)]
pub(super) struct ConvStack {
    layers: Vec<ConvLayer>,
}

impl ConvStack {
    pub(super) fn load(vb: &VarBuilder, s: &Spec) -> Result<Self> {
        let vb = vb.pp("conv_layers");
        let mut layers = Vec::with_capacity(s.conv_dim.len());
        for (i, ((&cout, &k), &stride)) in s
            .conv_dim
            .iter()
            .zip(&s.conv_kernel)
            .zip(&s.conv_stride)
            .enumerate()
        {
            let cin = if i == 0 { 1 } else { s.conv_dim[i - 1] };
            let vbi = vb.pp(i);
            let raw = read_f32(&vbi.pp("conv"), (cout, cin, k), "weight")?;
            let bias = if s.conv_bias {
                read_f32(&vbi.pp("conv"), cout, "bias")?
            } else {
                Vec::new()
            };
            let norm = match (s.feat_norm, i) {
                (FeatNorm::Group, 0) => {
                    let g = vbi.pp("layer_norm");
                    ConvNorm::Group {
                        w: read_f32(&g, cout, "weight")?,
                        b: read_f32(&g, cout, "bias")?,
                    }
                }
                (FeatNorm::Group, _) => ConvNorm::None,
                (FeatNorm::Layer, _) => {
                    ConvNorm::Layer(Norm::load(&vbi.pp("layer_norm"), cout, CONV_NORM_EPS)?)
                }
            };
            layers.push(ConvLayer {
                w: pack_conv(&raw, cout, cin, k, 1)?,
                bias,
                k,
                stride,
                cout,
                norm,
            });
        }
        Ok(Self { layers })
    }

    /// Conv stack on one waveform → `(T, C)` time-major.
    pub(super) fn forward(&self, wave: &[f32], pool: &BufPool, threads: usize) -> Result<Vec<f32>> {
        // From the pool, like every buffer given back to it below: a fresh copy here would add
        // one buffer to the pool per forward pass, up to POOL_MAX_BYTES (memory growing with the
        // number of utterances a process embeds).
        let mut cur = pool.take(wave.len());
        cur.copy_from_slice(wave);
        let mut cin = 1usize;
        let mut tin = wave.len();
        for l in &self.layers {
            let _s = tracing::trace_span!("conv_layer", cout = l.cout).entered();
            let (k, st, cout) = (l.k, l.stride, l.cout);
            if tin < k {
                return Err(Error::Internal {
                    reason: format!("conv stack input of {tin} frames for kernel {k}"),
                });
            }
            let tout = (tin - k) / st + 1;
            if cin == 1 {
                let out = Self::first(l, &cur, tout, pool.take(tout * cout), threads);
                pool.give(std::mem::replace(&mut cur, out));
                cin = cout;
                tin = tout;
                continue;
            }
            // fully overwritten by the GEMM (accumulate = false)
            let mut out = pool.take(tout * cout);
            // im2col without a copy: output frame t reads input rows s·t .. s·t + k
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
                Mat::rm(&l.w, k * cin, cout),
                1.0,
                false,
                threads,
            )?;
            match &l.norm {
                ConvNorm::None => kernels::bias_gelu(&mut out, &l.bias, cout, threads),
                ConvNorm::Group { w, b } => {
                    kernels::add_rows(&mut out, &l.bias, threads);
                    let (mean, rstd) = kernels::column_stats(&out, cout, CONV_NORM_EPS);
                    kernels::scale_shift_gelu(&mut out, &mean, &rstd, w, b, threads);
                }
                ConvNorm::Layer(ln) => {
                    ln.apply(&mut out, cout, &l.bias, threads);
                    kernels::bias_gelu(&mut out, &[], cout, threads);
                }
            }
            pool.give(std::mem::replace(&mut cur, out));
            cin = cout;
            tin = tout;
        }
        Ok(cur)
    }

    /// The first conv layer (one input channel, e.g. k = 10, stride 5, 512 channels) with its
    /// norm and GELU, fused: its output is the largest tensor of the model (T₀ × 512, 65 MB on
    /// 10 s), and separate GEMM, statistics and normalise passes each stream it through
    /// memory. Here the frames are computed in L2-sized blocks straight from the waveform (K is
    /// too small for a GEMM to pay), and written once. For GroupNorm (statistics over all
    /// frames) the cheap conv is computed twice: once for the per-channel sums, once to
    /// normalise and write.
    fn first(
        l: &ConvLayer,
        wave: &[f32],
        tout: usize,
        mut out: Vec<f32>,
        threads: usize,
    ) -> Vec<f32> {
        let (cout, k, st) = (l.cout, l.k, l.stride);
        let (packed, bias) = (&l.w, &l.bias);
        let block = FIRST_CONV_ROWS * cout;
        // frames r0.. of `out` from the waveform
        let conv = |r0: usize, out: &mut [f32]| {
            kernels::conv_cin1_rows(out, &wave[r0 * st..], packed, bias, k, st);
        };
        // every block of `out` is written below, whatever it held before
        out.resize(tout * cout, 0.0);
        let par = threads > 1;
        let run = |out: &mut Vec<f32>, fin: &BlockFn<'_>| {
            if par {
                out.par_chunks_mut(block).enumerate().for_each(fin);
            } else {
                out.chunks_mut(block).enumerate().for_each(fin);
            }
        };
        match &l.norm {
            ConvNorm::Group { w, b } => {
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
                run(&mut out, &|(ci, chunk): (usize, &mut [f32])| {
                    conv(ci * FIRST_CONV_ROWS, chunk);
                    kernels::scale_shift_gelu_imp(chunk, &sc, &sh);
                });
            }
            ConvNorm::Layer(ln) => {
                run(&mut out, &|(ci, chunk): (usize, &mut [f32])| {
                    conv(ci * FIRST_CONV_ROWS, chunk);
                    kernels::layer_norm_imp(chunk, cout, &[], &ln.w, &ln.b, ln.eps);
                    kernels::gelu_rows(chunk, &[], cout);
                });
            }
            ConvNorm::None => {
                run(&mut out, &|(ci, chunk): (usize, &mut [f32])| {
                    conv(ci * FIRST_CONV_ROWS, chunk);
                    kernels::gelu_rows(chunk, &[], cout);
                });
            }
        }
        out
    }
}

/// One grouped positional conv, packed per group.
#[derive(Debug, Clone)]
struct PosConv {
    /// Per group, `(K·C/G, C/G)` row-major, taps outer.
    w: Vec<f32>,
    bias: Vec<f32>,
    k: usize,
}

impl PosConv {
    fn new(raw: &[f32], bias: Vec<f32>, h: usize, g: usize, k: usize) -> Result<Self> {
        Ok(Self {
            w: pack_conv(raw, h, h / g.max(1), k, g)?,
            bias,
            k,
        })
    }

    /// Grouped conv with ⌊K/2⌋ zero padding, first T outputs (HF's SamePad), no bias:
    /// `x` `(T, H)` → `(T, H)`.
    fn forward(&self, x: &[f32], t: usize, h: usize, g: usize, threads: usize) -> Result<Vec<f32>> {
        let k = self.k;
        let p = k / 2;
        let cg = h / g;
        let tp = t + k - 1;
        // group-major padded input: group gg is a contiguous (tp, cg) block, so that its
        // im2col matrix is the strided view "row r = values r·cg .. (r + k)·cg"
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
            let w = Mat::rm(&self.w[gg * wlen..(gg + 1) * wlen], k * cg, cg);
            gemm(&mut og, cg, lhs, w, 1.0, false, 1)?;
            Ok(og)
        };
        let outs: Vec<Vec<f32>> = if threads > 1 {
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
}

#[derive(Debug, Clone)]
enum PosKind {
    /// One conv, after HuBERT's folded BatchNorm (scale, shift per channel) if any.
    Single(PosConv, Option<(Vec<f32>, Vec<f32>)>),
    /// data2vec-audio: convs each followed by an affine-free LayerNorm and GELU.
    Stacked(Vec<PosConv>),
}

/// The positional conv embedding (`encoder.pos_conv_embed.*`).
#[derive(Debug, Clone)]
pub(super) struct PosEmbed {
    kind: PosKind,
    groups: usize,
    hidden: usize,
}

impl PosEmbed {
    pub(super) fn load(vb: &VarBuilder, s: &Spec) -> Result<Self> {
        let h = s.hidden;
        let g = s.pos_groups;
        let kind = match s.pos {
            PosConvKind::WeightNorm { k } => {
                let cvb = vb.pp("conv");
                let w = weight_norm_dim2(&cvb, (h, h / g, k))?;
                PosKind::Single(PosConv::new(&w, read_f32(&cvb, h, "bias")?, h, g, k)?, None)
            }
            PosConvKind::BatchNorm { k } => {
                let cvb = vb.pp("conv");
                let w = read_f32(&cvb, (h, h / g, k), "weight")?;
                let conv = PosConv::new(&w, read_f32(&cvb, h, "bias")?, h, g, k)?;
                let bvb = vb.pp("batch_norm");
                let bw = read_f32(&bvb, h, "weight")?;
                let bb = read_f32(&bvb, h, "bias")?;
                let mean = read_f32(&bvb, h, "running_mean")?;
                let var = read_f32(&bvb, h, "running_var")?;
                // eval-mode BatchNorm1d folded into one scale and shift per channel
                let scale: Vec<f32> = bw
                    .iter()
                    .zip(&var)
                    .map(|(w, v)| w / (v + BATCH_NORM_EPS as f32).sqrt())
                    .collect();
                let shift = bb
                    .iter()
                    .zip(&mean)
                    .zip(&scale)
                    .map(|((b, m), s)| b - m * s)
                    .collect();
                PosKind::Single(conv, Some((scale, shift)))
            }
            PosConvKind::Stacked { layers, k } => {
                let mut v = Vec::with_capacity(layers);
                for j in 0..layers {
                    let cvb = vb.pp("layers").pp(j).pp("conv");
                    let w = read_f32(&cvb, (h, h / g, k), "weight")?;
                    v.push(PosConv::new(&w, read_f32(&cvb, h, "bias")?, h, g, k)?);
                }
                PosKind::Stacked(v)
            }
        };
        Ok(Self {
            kind,
            groups: g,
            hidden: h,
        })
    }

    /// Positional embedding of `x` `(B·T, H)`, added to `x` in place.
    pub(super) fn add_to(&self, x: &mut [f32], b: usize, t: usize, threads: usize) -> Result<()> {
        let (h, g) = (self.hidden, self.groups);
        for i in 0..b {
            let xi = &mut x[i * t * h..(i + 1) * t * h];
            let y = match &self.kind {
                PosKind::Single(conv, bn) => {
                    let mut y = match bn {
                        Some((sc, sh)) => {
                            let mut z = xi.to_vec();
                            for r in z.chunks_exact_mut(h) {
                                for ((v, a), s) in r.iter_mut().zip(sc).zip(sh) {
                                    *v = *v * a + s;
                                }
                            }
                            conv.forward(&z, t, h, g, threads)?
                        }
                        None => conv.forward(xi, t, h, g, threads)?,
                    };
                    kernels::bias_gelu(&mut y, &conv.bias, h, threads);
                    y
                }
                PosKind::Stacked(convs) => {
                    let mut y = xi.to_vec();
                    for conv in convs {
                        let mut z = conv.forward(&y, t, h, g, threads)?;
                        // LayerNorm without affine parameters, then the activation
                        let eps = CONV_NORM_EPS as f32;
                        kernels::layer_norm(&mut z, h, &conv.bias, &[], &[], eps, threads);
                        kernels::bias_gelu(&mut z, &[], h, threads);
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
}

/// Folds a weight-normed conv weight `(C_out, C_in/G, K)` with one norm per kernel tap
/// (`torch.nn.utils.weight_norm(conv, dim=2)`: the norm over dims 0 and 1), accepting both
/// key layouts; accumulated in f64.
fn weight_norm_dim2(vb: &VarBuilder, shape: (usize, usize, usize)) -> Result<Vec<f32>> {
    let (g_name, v_name) = weight_norm_keys(vb);
    let k = shape.2;
    let g = read_f32(vb, (1, 1, k), g_name)?;
    let mut v = read_f32(vb, shape, v_name)?;
    let mut norm = vec![0f64; k];
    for row in v.chunks_exact(k) {
        for (n, &x) in norm.iter_mut().zip(row) {
            *n += f64::from(x) * f64::from(x);
        }
    }
    let scale: Vec<f32> = g
        .iter()
        .zip(&norm)
        .map(|(g, n)| (f64::from(*g) / n.sqrt()) as f32)
        .collect();
    for row in v.chunks_exact_mut(k) {
        for (x, s) in row.iter_mut().zip(&scale) {
            *x *= s;
        }
    }
    Ok(v)
}
