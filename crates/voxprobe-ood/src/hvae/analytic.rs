//! Analytic batched backward pass of the [`Hvae`] single-sample ELBO, with per-example
//! parameter gradients.
//!
//! Every layer is an affine map `y = W a + b`, so the per-example gradient of a scalar `f_n`
//! (the n-th example's ELBO) is `∂f_n/∂W = δ_n ⊗ a_n` and `∂f_n/∂b = δ_n`, with `δ_n =
//! ∂f_n/∂y_n` (Goodfellow 2015, "Efficient per-example gradient computations"). Examples never
//! interact (no batch statistics), so the forward pass and the backward propagation of the `δ`s
//! are ordinary batched GEMMs over a chunk of examples, and each example's weight gradients are
//! outer products written straight into its output row. Chunks of examples run in parallel on
//! rayon. The formulas mirror `Hvae::elbo_terms` term by term; a test checks this path against
//! candle autograd, and the crate's parity test against PyTorch `torch.func.vmap(grad)`.

use candle_core::DType;
use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};
use rayon::prelude::*;

use super::{Hvae, Lin, LN_2PI, LOGVAR_LIMIT};
use crate::error::{Error, Result};

/// Largest chunk of examples one rayon task handles: big enough for efficient GEMMs, small enough
/// that the chunk's activations stay in cache.
const MAX_CHUNK: usize = 32;

/// One affine layer copied out of its candle `Var`s, with the offset of its weight in a
/// flattened gradient row (the bias follows the weight).
struct Dense {
    /// `[n_out, n_in]`, as candle and torch store it.
    w: Array2<f32>,
    b: Array1<f32>,
    off: usize,
}

impl Dense {
    fn from_lin(lin: &Lin, off: &mut usize) -> Result<Self> {
        let dims = lin.w.as_tensor().dims().to_vec();
        let [n_out, n_in] = dims[..] else {
            return Err(Error::Fit {
                reason: format!("layer weight has rank {}, expected 2", dims.len()),
            });
        };
        let w = lin
            .w
            .as_tensor()
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let w = Array2::from_shape_vec((n_out, n_in), w).map_err(|e| Error::Fit {
            reason: format!("layer weight: {e}"),
        })?;
        let b = Array1::from(lin.b.as_tensor().to_dtype(DType::F32)?.to_vec1::<f32>()?);
        let layer = Self { w, b, off: *off };
        *off += n_out * n_in + n_out;
        Ok(layer)
    }

    /// `a Wᵀ + b` for a batch `a` (`[n, n_in]`).
    fn fwd(&self, a: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut y = a.dot(&self.w.t());
        y += &self.b;
        y
    }

    /// Back-propagates output deltas `[n, n_out]` to input deltas `[n, n_in]`.
    fn back(&self, delta: ArrayView2<'_, f32>) -> Array2<f32> {
        delta.dot(&self.w)
    }

    /// Writes the per-example gradients `δ_n ⊗ a_n` and `δ_n` into the rows of `out`.
    fn write(
        &self,
        delta: ArrayView2<'_, f32>,
        a: ArrayView2<'_, f32>,
        out: &mut ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        let (n_out, n_in) = self.w.dim();
        let not_contiguous = || Error::Fit {
            reason: "gradient buffer rows not contiguous".into(),
        };
        for ((mut row, d), a) in out.rows_mut().into_iter().zip(delta.rows()).zip(a.rows()) {
            let row = row.as_slice_mut().ok_or_else(not_contiguous)?;
            let a = a.as_slice().ok_or_else(not_contiguous)?;
            let len = row.len();
            let dst = row.get_mut(self.off..self.off + n_out * (n_in + 1)).ok_or(
                Error::ShapeMismatch {
                    what: "gradient row",
                    expected: self.off + n_out * (n_in + 1),
                    actual: len,
                },
            )?;
            let (dw, db) = dst.split_at_mut(n_out * n_in);
            for ((dst, &dv), db) in dw.chunks_exact_mut(n_in).zip(d).zip(db.iter_mut()) {
                for (o, &av) in dst.iter_mut().zip(a) {
                    *o = dv * av;
                }
                *db = dv;
            }
        }
        Ok(())
    }
}

/// The [`Hvae`]'s layers as plain arrays, in gradient-flattening order.
pub(crate) struct Mlp {
    latent: Vec<usize>,
    enc: Vec<Dense>,
    q_heads: Vec<Dense>,
    p_hidden: Vec<Dense>,
    p_heads: Vec<Dense>,
    dec_hidden: Dense,
    dec_out: Dense,
    n_params: usize,
}

fn relu(v: f32) -> f32 {
    v.max(0.0)
}

/// Posterior or prior Gaussian parameters of one stage, with the clamp mask of the log-variance
/// (1 where the clamp is inactive and lets the gradient through).
struct Gauss {
    mu: Array2<f32>,
    lv: Array2<f32>,
    mask: Array2<f32>,
}

fn gauss(head: Array2<f32>, z: usize) -> Gauss {
    let mu = head.slice(s![.., ..z]).to_owned();
    let raw = head.slice(s![.., z..]);
    let lim = LOGVAR_LIMIT as f32;
    Gauss {
        mu,
        lv: raw.mapv(|v| v.clamp(-lim, lim)),
        mask: raw.mapv(|v| f32::from(u8::from(v > -lim && v < lim))),
    }
}

/// Per-row `Σ_d log N(z_d | μ_d, e^{lv_d})`, accumulated in f64.
fn log_normal(z: &Array2<f32>, g: &Gauss) -> Array1<f64> {
    let mut out = Array1::<f64>::zeros(z.nrows());
    Zip::from(&mut out)
        .and(z.rows())
        .and(g.mu.rows())
        .and(g.lv.rows())
        .for_each(|o, z, mu, lv| {
            *o = -0.5
                * z.iter()
                    .zip(mu)
                    .zip(lv)
                    .map(|((&z, &m), &l)| {
                        let d = f64::from(z - m);
                        LN_2PI + f64::from(l) + d * d * (-f64::from(l)).exp()
                    })
                    .sum::<f64>();
        });
    out
}

/// Adds the gradient of `sign · log N(z | μ, e^{lv})` w.r.t. z to `gz` and returns the output
/// delta of the Gaussian head, `[∂/∂μ, ∂/∂lv ⊙ mask]` (`[n, 2z]`).
fn gauss_grad(z: &Array2<f32>, g: &Gauss, sign: f32, gz: &mut Array2<f32>) -> Array2<f32> {
    let (n, k) = z.dim();
    let mut delta = Array2::<f32>::zeros((n, 2 * k));
    let (mut dmu, mut dlv) = delta.multi_slice_mut((s![.., ..k], s![.., k..]));
    Zip::from(gz)
        .and(&mut dmu)
        .and(&mut dlv)
        .and(z)
        .and(&g.mu)
        .and(&g.lv)
        .for_each(|gz, dmu, dlv, &z, &mu, &lv| {
            let prec = (-lv).exp();
            let r = (z - mu) * prec;
            *gz -= sign * r;
            *dmu = sign * r;
            *dlv = sign * -0.5 * (1.0 - (z - mu) * r);
        });
    dlv *= &g.mask;
    delta
}

impl Mlp {
    pub(crate) fn from_model(m: &Hvae) -> Result<Self> {
        let mut off = 0;
        let mut enc = Vec::new();
        let mut q_heads = Vec::new();
        for (e, q) in m.enc.iter().zip(&m.q_heads) {
            enc.push(Dense::from_lin(e, &mut off)?);
            q_heads.push(Dense::from_lin(q, &mut off)?);
        }
        let mut p_hidden = Vec::new();
        let mut p_heads = Vec::new();
        for (h, p) in m.p_hidden.iter().zip(&m.p_heads) {
            p_hidden.push(Dense::from_lin(h, &mut off)?);
            p_heads.push(Dense::from_lin(p, &mut off)?);
        }
        let dec_hidden = Dense::from_lin(&m.dec_hidden, &mut off)?;
        let dec_out = Dense::from_lin(&m.dec_out, &mut off)?;
        Ok(Self {
            latent: m.params.latent.clone(),
            enc,
            q_heads,
            p_hidden,
            p_heads,
            dec_hidden,
            dec_out,
            n_params: off,
        })
    }

    /// Per-example ELBO and gradient rows for a batch; shapes are checked by the caller.
    pub(crate) fn elbo_and_grad(
        &self,
        xs: ArrayView2<'_, f32>,
        eps: &[Array2<f32>],
    ) -> Result<(Array1<f64>, Array2<f32>)> {
        let b = xs.nrows();
        let mut grads = Array2::<f32>::zeros((b, self.n_params));
        let mut lp = Array1::<f64>::zeros(b);
        if b == 0 {
            return Ok((lp, grads));
        }
        let chunk = b
            .div_ceil(rayon::current_num_threads().max(1))
            .clamp(1, MAX_CHUNK);
        let tasks: Vec<_> = grads
            .axis_chunks_iter_mut(Axis(0), chunk)
            .zip(lp.axis_chunks_iter_mut(Axis(0), chunk))
            .enumerate()
            .collect();
        tasks
            .into_par_iter()
            .try_for_each(|(ci, (mut g, l))| -> Result<()> {
                let lo = ci * chunk;
                let hi = lo + g.nrows();
                let x = xs.slice(s![lo..hi, ..]).to_owned();
                let e: Vec<ArrayView2<'_, f32>> =
                    eps.iter().map(|e| e.slice(s![lo..hi, ..])).collect();
                self.chunk(&x, &e, &mut g, l)
            })?;
        Ok((lp, grads))
    }

    /// Forward and backward pass for one chunk of examples.
    fn chunk(
        &self,
        x: &Array2<f32>,
        eps: &[ArrayView2<'_, f32>],
        out: &mut ArrayViewMut2<'_, f32>,
        mut lp: ArrayViewMut1<'_, f64>,
    ) -> Result<()> {
        let l = self.latent.len();
        // ---- forward: bottom-up inference ----
        let mut d: Vec<Array2<f32>> = Vec::with_capacity(l);
        let mut q: Vec<Gauss> = Vec::with_capacity(l);
        let mut zs: Vec<Array2<f32>> = Vec::with_capacity(l);
        for (i, ((enc, head), &k)) in self
            .enc
            .iter()
            .zip(&self.q_heads)
            .zip(&self.latent)
            .enumerate()
        {
            let a = if i == 0 { x.view() } else { d[i - 1].view() };
            let di = enc.fwd(a).mapv_into(relu);
            let g = gauss(head.fwd(di.view()), k);
            let mut z = g.lv.mapv(|v| (0.5 * v).exp());
            z *= &eps[i];
            z += &g.mu;
            d.push(di);
            q.push(g);
            zs.push(z);
        }
        // ---- forward: top-down conditional priors and decoder ----
        let mut p_h: Vec<Array2<f32>> = Vec::with_capacity(l.saturating_sub(1));
        let mut p: Vec<Gauss> = Vec::with_capacity(l.saturating_sub(1));
        for (i, (hid, head)) in self.p_hidden.iter().zip(&self.p_heads).enumerate() {
            let h = hid.fwd(zs[i + 1].view()).mapv_into(relu);
            p.push(gauss(head.fwd(h.view()), self.latent[i]));
            p_h.push(h);
        }
        let dh = self.dec_hidden.fwd(zs[0].view()).mapv_into(relu);
        let logits = self.dec_out.fwd(dh.view());

        // ---- ELBO per row (f64 accumulation) ----
        let mut elbo = Array1::<f64>::zeros(x.nrows());
        Zip::from(&mut elbo)
            .and(x.rows())
            .and(logits.rows())
            .and(zs[l - 1].rows())
            .for_each(|e, x, lg, zt| {
                let recon: f64 = x
                    .iter()
                    .zip(lg)
                    .map(|(&x, &v)| {
                        let v = f64::from(v);
                        f64::from(x) * v - (v.max(0.0) + (-v.abs()).exp().ln_1p())
                    })
                    .sum();
                let top: f64 = zt
                    .iter()
                    .map(|&z| -0.5 * (LN_2PI + f64::from(z) * f64::from(z)))
                    .sum();
                *e = recon + top;
            });
        for i in 0..l {
            elbo -= &log_normal(&zs[i], &q[i]);
            if i + 1 < l {
                elbo += &log_normal(&zs[i], &p[i]);
            }
        }
        lp.assign(&elbo);

        // ---- backward ----
        // decoder: ∂/∂logits of Σ x l − softplus(l) is x − σ(l)
        let mut g_logits = logits;
        Zip::from(&mut g_logits)
            .and(x)
            .for_each(|g, &x| *g = x - 1.0 / (1.0 + (-*g).exp()));
        self.dec_out.write(g_logits.view(), dh.view(), out)?;
        let mut g_dh = self.dec_out.back(g_logits.view());
        Zip::from(&mut g_dh).and(&dh).for_each(|g, &h| {
            if h <= 0.0 {
                *g = 0.0;
            }
        });
        self.dec_hidden.write(g_dh.view(), zs[0].view(), out)?;
        let mut gz: Vec<Array2<f32>> = zs.iter().map(|z| Array2::zeros(z.dim())).collect();
        gz[0] += &self.dec_hidden.back(g_dh.view());
        // top prior N(0, I)
        gz[l - 1] -= &zs[l - 1];
        // stages bottom-up: z_i's gradient is complete once its own terms are added, because the
        // only other consumers (decoder, prior of stage i−1) were handled before.
        let mut gd: Vec<Array2<f32>> = d.iter().map(|a| Array2::zeros(a.dim())).collect();
        for i in 0..l {
            // − log q(z_i | x)
            let mut gz_i = std::mem::take(&mut gz[i]);
            let mut delta_q = gauss_grad(&zs[i], &q[i], -1.0, &mut gz_i);
            if i + 1 < l {
                // + log p(z_i | z_{i+1}) through the prior network into z_{i+1}
                let delta_p = gauss_grad(&zs[i], &p[i], 1.0, &mut gz_i);
                self.p_heads[i].write(delta_p.view(), p_h[i].view(), out)?;
                let mut g_h = self.p_heads[i].back(delta_p.view());
                Zip::from(&mut g_h).and(&p_h[i]).for_each(|g, &h| {
                    if h <= 0.0 {
                        *g = 0.0;
                    }
                });
                self.p_hidden[i].write(g_h.view(), zs[i + 1].view(), out)?;
                gz[i + 1] += &self.p_hidden[i].back(g_h.view());
            }
            // reparameterisation z = μ + e^{lv/2} ε
            let k = self.latent[i];
            {
                let (mut dmu, mut dlv) = delta_q.multi_slice_mut((s![.., ..k], s![.., k..]));
                Zip::from(&mut dmu)
                    .and(&mut dlv)
                    .and(&gz_i)
                    .and(&q[i].lv)
                    .and(&q[i].mask)
                    .and(&eps[i])
                    .for_each(|dmu, dlv, &g, &lv, &m, &e| {
                        *dmu += g;
                        *dlv += g * 0.5 * (0.5 * lv).exp() * e * m;
                    });
            }
            self.q_heads[i].write(delta_q.view(), d[i].view(), out)?;
            gd[i] += &self.q_heads[i].back(delta_q.view());
        }
        // encoder, top-down
        for i in (0..l).rev() {
            let mut delta = std::mem::take(&mut gd[i]);
            Zip::from(&mut delta).and(&d[i]).for_each(|g, &h| {
                if h <= 0.0 {
                    *g = 0.0;
                }
            });
            let a = if i == 0 { x.view() } else { d[i - 1].view() };
            self.enc[i].write(delta.view(), a, out)?;
            if i > 0 {
                gd[i - 1] += &self.enc[i].back(delta.view());
            }
        }
        Ok(())
    }
}
