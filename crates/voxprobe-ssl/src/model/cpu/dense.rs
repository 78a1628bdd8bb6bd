//! [`Dense`]: the CPU engine's Linear layers, weights packed once at load time.
//!
//! Checkpoints store `W` as `(out, in)`. The engine computes `Y (T, N) = X (T, K) · Wᵀ`,
//! which the `gemm` crate runs with `W` streamed by its micro-kernel in panels of 64 output
//! channels over the K inputs. Measured on Zen 4 (2 cores), for the transformer's shapes:
//! - read as `(out, in)` (a transposed view), the weights are re-packed on every call:
//!   0.75–0.9× the speed of the layouts below;
//! - stored as `Wᵀ (K, N)` row-major, no packing, but each panel strides N floats per k step;
//! - stored in **column blocks** `(N/nb, K, nb)`, nb = 64 (one panel), each block contiguous:
//!   same speed as `Wᵀ` on 10 s inputs (T ≈ 500), and 1.1× (one thread) to 1.2–1.45× (two
//!   threads, one task per block) on 1 s inputs (T = 49), where the weights stream from DRAM.
//!
//! So every Linear of the CPU engine is stored blocked, and only so (no second copy).

use super::read_f32;
use crate::error::{Error, Result};
use crate::kernels::{self, Mat};
use candle_nn::VarBuilder;

/// Output channels per weight block: one 64-row panel of the `gemm` crate's AVX-512
/// micro-kernel, else the largest of 32/16 dividing N (tiny test models), else N.
fn block_width(n: usize) -> usize {
    [64, 32, 16]
        .into_iter()
        .find(|nb| n.is_multiple_of(*nb))
        .unwrap_or(n.max(1))
}

/// A Linear layer `y = x·Wᵀ + b` with `W` stored as `(N/nb, K, nb)` blocks: block `j` is the
/// row-major `(K, nb)` matrix of `Wᵀ`'s columns `j·nb .. (j+1)·nb`.
#[derive(Debug, Clone)]
pub(super) struct Dense {
    w: Vec<f32>,
    /// Bias (length `out`), or empty.
    pub(super) bias: Vec<f32>,
    pub(super) inp: usize,
    pub(super) out: usize,
    nb: usize,
}

impl Dense {
    /// Loads `weight` `(out, in)` and `bias` `(out)` under `vb`.
    pub(super) fn load(vb: &VarBuilder, inp: usize, out: usize) -> Result<Self> {
        Self::fused(std::slice::from_ref(vb), inp, out)
    }

    /// Loads several `(out, in)` layers reading the same input (Q, K, V) as one layer of
    /// `parts × out` outputs, so that one GEMM computes all of them (the input is read once,
    /// and more blocks share the threads on short inputs).
    pub(super) fn fused(vbs: &[VarBuilder], inp: usize, out: usize) -> Result<Self> {
        let nb = block_width(out);
        let mut w = Vec::with_capacity(vbs.len() * out * inp);
        let mut bias = Vec::with_capacity(vbs.len() * out);
        for vb in vbs {
            let wi = read_f32(vb, (out, inp), "weight")?;
            pack_blocks(&wi, inp, nb, &mut w);
            bias.extend(read_f32(vb, out, "bias")?);
        }
        Ok(Self {
            w,
            bias,
            inp,
            out: vbs.len() * out,
            nb,
        })
    }

    /// `dst (rows × out, row stride dst_rs) [+]= x (rows × inp) · Wᵀ`; the bias is left to a
    /// fused later pass.
    pub(super) fn matmul_nobias(
        &self,
        dst: &mut [f32],
        dst_rs: usize,
        x: &[f32],
        rows: usize,
        accumulate: bool,
        threads: usize,
    ) -> Result<()> {
        if x.len() < rows * self.inp {
            return Err(Error::Internal {
                reason: format!(
                    "linear input of {} values for {rows} rows of {}",
                    x.len(),
                    self.inp
                ),
            });
        }
        kernels::gemm_blocked(
            dst,
            dst_rs,
            Mat::rm(x, rows, self.inp),
            &self.w,
            self.out,
            self.nb,
            accumulate,
            threads,
        )
    }
}

/// Appends row-major `(out, inp)` as `(out/nb, inp, nb)` blocks to `p`. Re-laying out the
/// large geometry adds ~0.9 s to loading, two thirds of it first-touch page faults on the new
/// buffers (kernel time); a tiled version of this loop measured no faster.
fn pack_blocks(v: &[f32], inp: usize, nb: usize, p: &mut Vec<f32>) {
    let base = p.len();
    p.resize(base + v.len(), 0.0);
    for (blk, rows) in p[base..]
        .chunks_exact_mut(inp * nb)
        .zip(v.chunks_exact(inp * nb))
    {
        for (j, row) in rows.chunks_exact(inp).enumerate() {
            for (i, &x) in row.iter().enumerate() {
                blk[i * nb + j] = x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_layout_multiplies_like_the_transpose() {
        let (inp, out, rows) = (24, 48, 5);
        let w: Vec<f32> = (0..out * inp)
            .map(|i| ((i * 7) % 13) as f32 - 6.0)
            .collect();
        let x: Vec<f32> = (0..rows * inp)
            .map(|i| ((i * 3) % 5) as f32 - 2.0)
            .collect();
        let nb = block_width(out);
        let mut packed = Vec::new();
        pack_blocks(&w, inp, nb, &mut packed);
        let d = Dense {
            w: packed,
            bias: Vec::new(),
            inp,
            out,
            nb,
        };
        for threads in [1, 2] {
            let mut y = vec![0f32; rows * out];
            d.matmul_nobias(&mut y, out, &x, rows, false, threads)
                .unwrap();
            for r in 0..rows {
                for o in 0..out {
                    let want: f32 = (0..inp).map(|i| x[r * inp + i] * w[o * inp + i]).sum();
                    assert_eq!(y[r * out + o], want, "row {r} out {o}");
                }
            }
        }
        assert_eq!(block_width(3072), 64);
        assert_eq!(block_width(96), 32);
        assert_eq!(block_width(24), 24);
        let mut short = vec![0f32; rows * out];
        let e = d.matmul_nobias(&mut short, out, &x[1..], rows, false, 1);
        assert!(matches!(e, Err(Error::Internal { .. })));
    }
}
