//! [`Dense`]: the encoder's Linear layers, with their weights laid out once at load time for
//! the CPU fast path's GEMMs.
//!
//! Checkpoints store `W` as `(out, in)`. The fast path computes `Y (T, N) = X (T, K) · Wᵀ`,
//! which the `gemm` crate runs as `Yᵀ = W · Xᵀ` with `W` streamed by its micro-kernel in
//! panels of 64 output channels over the K inputs. Measured on Zen 4 (2 cores), for the
//! transformer's shapes:
//! - read as `(out, in)` (a transposed view), the weights are re-packed on every call:
//!   0.75–0.9× the speed of the layouts below;
//! - stored as `Wᵀ (K, N)` row-major, no packing, but each panel strides N floats per k step
//!   (a new page every step);
//! - stored in **column blocks** `(N/nb, K, nb)`, nb = 64 (one panel), each block contiguous:
//!   same speed as `Wᵀ` on 10 s inputs (T ≈ 500), and 1.1× (one thread) to 1.2–1.45× (two
//!   threads, one task per block) on 1 s inputs (T = 49), where the weights stream from DRAM.
//!
//! So CPU f32 models of the fast-path families store the blocked layout, and only it (no
//! second copy). The candle path still works on it ([`Dense::forward`] multiplies by the
//! blocks with one batched matmul), so `ForwardOptions::generic_path` stays available as the
//! reference. Other devices, dtypes, WavLM (candle path only) and the `mkl`/`accelerate`
//! backends keep candle's `Linear` (with the `Wᵀ`-view storage on CPU f32).

use crate::error::{Error, Result};
use candle_core::{DType, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

/// Output channels per weight block: one 64-row panel of the `gemm` crate's AVX-512
/// micro-kernel, else the largest of 32/16 dividing N (tiny test models), else N.
fn block_width(n: usize) -> usize {
    [64, 32, 16]
        .into_iter()
        .find(|nb| n.is_multiple_of(*nb))
        .unwrap_or(n.max(1))
}

/// Whether this build may store blocked weights (see the module docs).
const BLOCKING_ALLOWED: bool = !cfg!(any(feature = "mkl", feature = "accelerate"));

/// A Linear layer `y = x·Wᵀ + b` (see the module docs for the layouts).
#[derive(Debug, Clone)]
pub(super) enum Dense {
    /// candle's `Linear`.
    Plain(Linear),
    /// CPU f32: `w` is `(N/nb, K, nb)` contiguous; block `j` is the row-major `(K, nb)`
    /// matrix of `Wᵀ`'s columns `j·nb .. (j+1)·nb`.
    Blocked {
        w: Tensor,
        bias: Option<Tensor>,
        inp: usize,
        out: usize,
        nb: usize,
    },
}

impl Dense {
    /// Loads `weight` `(out, in)` and `bias` under `vb`; `block` asks for the blocked layout
    /// (used on CPU f32 only).
    pub(super) fn load(inp: usize, out: usize, vb: VarBuilder, block: bool) -> Result<Self> {
        let lin = candle_nn::linear(inp, out, vb)?;
        if !(block && BLOCKING_ALLOWED && is_cpu_f32(lin.weight())) {
            return Ok(Self::Plain(wt_view(lin)?));
        }
        let nb = block_width(out);
        let w = blocked(lin.weight(), nb)?;
        Ok(Self::Blocked {
            w,
            bias: lin.bias().cloned(),
            inp,
            out,
            nb,
        })
    }

    /// Output features N.
    pub(super) fn out_dim(&self) -> Result<usize> {
        match self {
            Self::Plain(l) => Ok(l.weight().dims2()?.0),
            Self::Blocked { out, .. } => Ok(*out),
        }
    }

    /// The bias, if any.
    pub(super) fn bias(&self) -> Option<&Tensor> {
        match self {
            Self::Plain(l) => l.bias(),
            Self::Blocked { bias, .. } => bias.as_ref(),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Plain(l) => l.forward(x),
            Self::Blocked {
                w, bias, inp, out, ..
            } => {
                let mut dims = x.dims().to_vec();
                let rows = x.elem_count() / (*inp).max(1);
                let x2 = x.reshape((rows, *inp))?;
                // Wᵀ (K, N) gathered from the blocks (a copy per call: this path is the
                // reference, not the fast one), then one matmul; a batched matmul over the
                // blocks measured slower (many small GEMMs)
                let wt = w.permute((1, 0, 2))?.reshape((*inp, *out))?;
                let y = x2.matmul(&wt)?;
                let y = match bias {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                };
                if let Some(last) = dims.last_mut() {
                    *last = *out;
                }
                y.reshape(dims)
            }
        }
    }
}

fn is_cpu_f32(w: &Tensor) -> bool {
    w.device().is_cpu() && w.dtype() == DType::F32 && w.is_contiguous()
}

/// `W (out, in)` → `(out/nb, in, nb)` blocks of `Wᵀ` (see [`Dense::Blocked`]).
fn blocked(w: &Tensor, nb: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    if nb == 0 || out % nb != 0 {
        return Err(Error::InvalidInput {
            reason: format!("internal: block width {nb} does not divide {out}"),
        });
    }
    let v = super::fast::with_f32(w, |v| pack_blocks(v, inp, nb))?;
    Ok(Tensor::from_vec(v, (out / nb, inp, nb), w.device())?)
}

/// Row-major `(out, inp)` → `(out/nb, inp, nb)`. Re-laying out the large geometry adds ~0.9 s
/// to loading, two thirds of it first-touch page faults on the new buffers (kernel time); a
/// tiled version of this loop measured no faster.
fn pack_blocks(v: &[f32], inp: usize, nb: usize) -> Vec<f32> {
    let mut p = vec![0f32; v.len()];
    for (blk, rows) in p.chunks_exact_mut(inp * nb).zip(v.chunks_exact(inp * nb)) {
        for (j, row) in rows.chunks_exact(inp).enumerate() {
            for (i, &x) in row.iter().enumerate() {
                blk[i * nb + j] = x;
            }
        }
    }
    p
}

/// On CPU f32, re-lays out a `Linear`'s storage as `Wᵀ (in, out)` row-major and returns a
/// `Linear` holding its transposed view (same shape and values, so candle's path is
/// unchanged); the fast path then reads a row-major `(K, N)` right-hand side. Otherwise the
/// `Linear` is returned as is.
fn wt_view(lin: Linear) -> Result<Linear> {
    let w = lin.weight();
    if !is_cpu_f32(w) {
        return Ok(lin);
    }
    let (out, inp) = w.dims2()?;
    let wt = w.t()?.contiguous()?;
    debug_assert_eq!(wt.dims(), &[inp, out]);
    Ok(Linear::new(wt.t()?, lin.bias().cloned()))
}

/// Loads `q_proj`, `k_proj` and `v_proj` (`(H, H)` each). With `block` on CPU f32, their
/// weights are stored once as the blocks of `[Wq; Wk; Wv]` (a `(3H/nb, H, nb)` tensor,
/// returned as a bias-free [`Dense`]), and each projection holds a contiguous slice of those
/// blocks: the fast path computes Q, K and V in one GEMM (the input is read once, and three
/// times as many tasks share the threads on short inputs), at no extra memory.
pub(super) fn load_qkv(
    h: usize,
    vb: &VarBuilder,
    block: bool,
) -> Result<([Dense; 3], Option<Dense>)> {
    let lins = [
        candle_nn::linear(h, h, vb.pp("q_proj"))?,
        candle_nn::linear(h, h, vb.pp("k_proj"))?,
        candle_nn::linear(h, h, vb.pp("v_proj"))?,
    ];
    if !(block && BLOCKING_ALLOWED && lins.iter().all(|l| is_cpu_f32(l.weight()))) {
        let [q, k, v] = lins;
        return Ok((
            [
                Dense::Plain(wt_view(q)?),
                Dense::Plain(wt_view(k)?),
                Dense::Plain(wt_view(v)?),
            ],
            None,
        ));
    }
    let nb = block_width(h);
    let per = h / nb;
    let mut fused = Vec::with_capacity(3 * h * h);
    for l in &lins {
        fused.extend(super::fast::with_f32(l.weight(), |v| {
            pack_blocks(v, h, nb)
        })?);
    }
    let fused = Tensor::from_vec(fused, (3 * per, h, nb), lins[0].weight().device())?;
    let [q, k, v] = lins;
    let part = |j: usize, l: Linear| -> Result<Dense> {
        Ok(Dense::Blocked {
            w: fused.narrow(0, j * per, per)?,
            bias: l.bias().cloned(),
            inp: h,
            out: h,
            nb,
        })
    };
    let all = Dense::Blocked {
        w: fused.clone(),
        bias: None,
        inp: h,
        out: 3 * h,
        nb,
    };
    Ok(([part(0, q)?, part(1, k)?, part(2, v)?], Some(all)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn blocked_forward_matches_linear() {
        let dev = Device::Cpu;
        let (inp, out) = (24, 48);
        let w = Tensor::randn(0f32, 1.0, (out, inp), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, out, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 5, inp), &dev).unwrap();
        let lin = Linear::new(w.clone(), Some(b.clone()));
        let d = Dense::Blocked {
            w: blocked(&w, block_width(out)).unwrap(),
            bias: Some(b),
            inp,
            out,
            nb: block_width(out),
        };
        let e = (lin.forward(&x).unwrap() - d.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(e < 1e-5, "{e}");
        assert_eq!(block_width(3072), 64);
        assert_eq!(block_width(96), 32);
        assert_eq!(block_width(24), 24);
    }
}
