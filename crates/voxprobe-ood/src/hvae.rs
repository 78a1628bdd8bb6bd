//! A small hierarchical VAE in candle (MLP stages, Bernoulli likelihood) with the
//! likelihood-ratio score `LLR^{>k}` of Havtorn et al. (ICML 2021). One latent stage is a plain
//! VAE.
//!
//! Inference is bottom-up on a deterministic path, `d_1 = f_1(x)`, `d_{i+1} = f_{i+1}(d_i)`,
//! `q(z_i | x) = N(μ_i(d_i), σ_i²(d_i))`; generation is top-down, `p(z_L) = N(0, I)`,
//! `p(z_i | z_{i+1})` Gaussian with MLP mean and log-variance, `p(x | z_1)` Bernoulli on logits.
//! The ELBO is the single-sample Monte-Carlo bound `log p(x|z) + Σ log p(z_i|·) − Σ log q(z_i|x)`,
//! with noise drawn from a generator seeded by the example's bytes and the model seed, so it is a
//! deterministic function of `x` (what the score test needs).

use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use ndarray::{Array1, Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{check_range, Error, Result};
use crate::model::{check_batch, to_tensor, CandleDensity, DensityModel};

const LN_2PI: f64 = 1.837_877_066_409_345_3;
/// Log-variances are clamped to ±LOGVAR_LIMIT: keeps exp() finite on far-OOD inputs.
const LOGVAR_LIMIT: f64 = 10.0;

/// Settings of an [`Hvae`] and its training.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct HvaeParams {
    /// Latent sizes from the lowest stage `z_1` to the top `z_L`. Default: `[16]` (a VAE).
    pub latent: Vec<usize>,
    /// Hidden width of every MLP. Default: 256.
    pub hidden: usize,
    /// Training epochs. Default: 30.
    pub epochs: usize,
    /// Minibatch size. Default: 128.
    pub batch_size: usize,
    /// Adam learning rate. Default: 1e-3.
    pub lr: f64,
    /// Epochs of linear KL warm-up (β from 0 to 1), which keeps upper stages from collapsing.
    /// Default: 5.
    pub warmup_epochs: usize,
    /// Seed of the weights, the training noise and the per-example evaluation noise. Default: 1.
    pub seed: u64,
}

impl Default for HvaeParams {
    fn default() -> Self {
        Self {
            latent: vec![16],
            hidden: 256,
            epochs: 30,
            batch_size: 128,
            lr: 1e-3,
            warmup_epochs: 5,
            seed: 1,
        }
    }
}

impl HvaeParams {
    /// Sets [`latent`](Self::latent).
    pub fn latent(mut self, v: Vec<usize>) -> Self {
        self.latent = v;
        self
    }
    /// Sets [`hidden`](Self::hidden).
    pub fn hidden(mut self, v: usize) -> Self {
        self.hidden = v;
        self
    }
    /// Sets [`epochs`](Self::epochs).
    pub fn epochs(mut self, v: usize) -> Self {
        self.epochs = v;
        self
    }
    /// Sets [`batch_size`](Self::batch_size).
    pub fn batch_size(mut self, v: usize) -> Self {
        self.batch_size = v;
        self
    }
    /// Sets [`lr`](Self::lr).
    pub fn lr(mut self, v: f64) -> Self {
        self.lr = v;
        self
    }
    /// Sets [`warmup_epochs`](Self::warmup_epochs).
    pub fn warmup_epochs(mut self, v: usize) -> Self {
        self.warmup_epochs = v;
        self
    }
    /// Sets [`seed`](Self::seed).
    pub fn seed(mut self, v: u64) -> Self {
        self.seed = v;
        self
    }

    fn check(&self, n_features: usize) -> Result<()> {
        check_range(
            "latent.len()",
            self.latent.len() as f64,
            !self.latent.is_empty(),
            "≥ 1",
        )?;
        for &z in &self.latent {
            check_range("latent size", z as f64, z >= 1, "≥ 1")?;
        }
        check_range("hidden", self.hidden as f64, self.hidden >= 1, "≥ 1")?;
        check_range(
            "batch_size",
            self.batch_size as f64,
            self.batch_size >= 1,
            "≥ 1",
        )?;
        check_range(
            "lr",
            self.lr,
            self.lr > 0.0 && self.lr.is_finite(),
            "finite, > 0",
        )?;
        check_range("n_features", n_features as f64, n_features >= 1, "≥ 1")?;
        Ok(())
    }

    /// Initialises an untrained model for `n_features` inputs on `device`.
    pub fn init(&self, n_features: usize, device: &Device) -> Result<Hvae> {
        self.check(n_features)?;
        Hvae::new(self.clone(), n_features, device)
    }

    /// Trains by Adam on the negative ELBO; inputs are Bernoulli targets in [0, 1].
    pub fn fit(&self, train: ArrayView2<'_, f32>, device: &Device) -> Result<Hvae> {
        self.fit_with(train, device, |_, _| true)
    }

    /// As [`fit`](Self::fit), calling `on_epoch(epoch, mean_neg_elbo)` after every epoch; training
    /// stops early when it returns false.
    pub fn fit_with(
        &self,
        train: ArrayView2<'_, f32>,
        device: &Device,
        mut on_epoch: impl FnMut(usize, f64) -> bool,
    ) -> Result<Hvae> {
        let model = self.init(train.ncols(), device)?;
        check_batch(&train, train.ncols())?;
        if train.nrows() == 0 {
            return Err(Error::Empty {
                what: "training set",
            });
        }
        let mut opt = AdamW::new(
            model.vars.clone(),
            ParamsAdamW {
                lr: self.lr,
                weight_decay: 0.0,
                ..Default::default()
            },
        )?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed ^ 0x5eed);
        let mut order: Vec<usize> = (0..train.nrows()).collect();
        for epoch in 0..self.epochs {
            order.shuffle(&mut rng);
            let beta = if self.warmup_epochs == 0 {
                1.0
            } else {
                ((epoch + 1) as f64 / self.warmup_epochs as f64).min(1.0)
            };
            let (mut total, mut count) = (0.0, 0usize);
            for chunk in order.chunks(self.batch_size) {
                let xb = to_tensor(train.select(ndarray::Axis(0), chunk).view(), device)?;
                let eps = model.noise_random(chunk.len(), &mut rng)?;
                let (recon, kl) = model.elbo_terms(&xb, &eps)?;
                let elbo = (&recon - &kl)?.sum_all()?.to_dtype(DType::F64)?;
                total -= elbo.to_scalar::<f64>()?;
                let loss = ((kl * beta)? - &recon)?.mean_all()?;
                opt.backward_step(&loss)?;
                count += chunk.len();
            }
            if !on_epoch(epoch, total / count as f64) {
                break;
            }
        }
        Ok(model)
    }
}

struct Lin {
    /// Position of `w` in [`Hvae::vars`] (`b` follows it).
    id: usize,
    w: Var,
    b: Var,
}

/// Recorded layer inputs and zero "probe" variables added to layer outputs: the gradient of the
/// summed per-example bounds with respect to a probe is the per-example gradient with respect to
/// that layer's output, from which per-example weight gradients are outer products (Goodfellow
/// 2015). Valid because rows never interact (no batch statistics).
type Recording = Vec<(usize, Tensor, Var)>;

impl Lin {
    /// torch.nn.Linear's default init: U(−1/√in, 1/√in) for weights and biases.
    fn new(
        n_in: usize,
        n_out: usize,
        rng: &mut impl Rng,
        dev: &Device,
        vars: &mut Vec<Var>,
    ) -> Result<Self> {
        let bound = 1.0 / (n_in as f64).sqrt();
        let mut u = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let w = Var::from_tensor(&Tensor::from_vec(u(n_in * n_out), (n_out, n_in), dev)?)?;
        let b = Var::from_tensor(&Tensor::from_vec(u(n_out), n_out, dev)?)?;
        let id = vars.len();
        vars.push(w.clone());
        vars.push(b.clone());
        Ok(Self { id, w, b })
    }
    fn share(&self) -> Self {
        Self {
            id: self.id,
            w: self.w.clone(),
            b: self.b.clone(),
        }
    }
    fn fwd(&self, x: &Tensor, rec: Option<&Mutex<Recording>>) -> Result<Tensor> {
        let z = x
            .matmul(&self.w.as_tensor().t()?)?
            .broadcast_add(self.b.as_tensor())?;
        match rec {
            None => Ok(z),
            Some(r) => {
                let probe = Var::zeros(z.dims(), z.dtype(), z.device())?;
                let z = (z + probe.as_tensor())?;
                r.lock()
                    .map_err(|_| Error::Fit {
                        reason: "recorder lock poisoned".into(),
                    })?
                    .push((self.id, x.clone(), probe));
                Ok(z)
            }
        }
    }
}

/// Gaussian parameters from a linear head: (mean, clamped log-variance).
fn gauss_head(
    head: &Lin,
    h: &Tensor,
    z: usize,
    rec: Option<&Mutex<Recording>>,
) -> Result<(Tensor, Tensor)> {
    let out = head.fwd(h, rec)?;
    let mu = out.narrow(1, 0, z)?;
    let lv = out.narrow(1, z, z)?.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)?;
    Ok((mu, lv))
}

/// `Σ_d log N(z_d | μ_d, e^{lv_d})` per row.
fn log_normal(z: &Tensor, mu: &Tensor, lv: &Tensor) -> Result<Tensor> {
    let q = ((z - mu)?.sqr()? * lv.neg()?.exp()?)?;
    Ok((((q + lv)? + LN_2PI)?.sum(D::Minus1)? * -0.5)?)
}

fn log_std_normal(z: &Tensor) -> Result<Tensor> {
    Ok(((z.sqr()? + LN_2PI)?.sum(D::Minus1)? * -0.5)?)
}

/// `Σ_d x log σ(l) + (1 − x) log(1 − σ(l)) = Σ x l − softplus(l)`, stable softplus.
fn bernoulli_log_lik(x: &Tensor, logits: &Tensor) -> Result<Tensor> {
    let softplus = (logits.relu()? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok(((x * logits)? - softplus)?.sum(D::Minus1)?)
}

/// A trained (or initialised) hierarchical VAE.
pub struct Hvae {
    params: HvaeParams,
    n_features: usize,
    enc: Vec<Lin>,
    q_heads: Vec<Lin>,
    p_hidden: Vec<Lin>,
    p_heads: Vec<Lin>,
    dec_hidden: Lin,
    dec_out: Lin,
    vars: Vec<Var>,
    device: Device,
    /// Set only inside [`DensityModel::log_prob_and_grad`]: records layer inputs and probes.
    recorder: Option<Mutex<Recording>>,
}

impl std::fmt::Debug for Hvae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hvae")
            .field("params", &self.params)
            .field("n_features", &self.n_features)
            .finish_non_exhaustive()
    }
}

impl Hvae {
    fn new(params: HvaeParams, n_features: usize, device: &Device) -> Result<Self> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
        let mut vars = Vec::new();
        let h = params.hidden;
        let l = params.latent.len();
        let mut enc = Vec::with_capacity(l);
        let mut q_heads = Vec::with_capacity(l);
        for (i, &z) in params.latent.iter().enumerate() {
            let n_in = if i == 0 { n_features } else { h };
            enc.push(Lin::new(n_in, h, &mut rng, device, &mut vars)?);
            q_heads.push(Lin::new(h, 2 * z, &mut rng, device, &mut vars)?);
        }
        let mut p_hidden = Vec::new();
        let mut p_heads = Vec::new();
        for i in 0..l.saturating_sub(1) {
            p_hidden.push(Lin::new(
                params.latent[i + 1],
                h,
                &mut rng,
                device,
                &mut vars,
            )?);
            p_heads.push(Lin::new(
                h,
                2 * params.latent[i],
                &mut rng,
                device,
                &mut vars,
            )?);
        }
        let dec_hidden = Lin::new(params.latent[0], h, &mut rng, device, &mut vars)?;
        let dec_out = Lin::new(h, n_features, &mut rng, device, &mut vars)?;
        Ok(Self {
            params,
            n_features,
            enc,
            q_heads,
            p_hidden,
            p_heads,
            dec_hidden,
            dec_out,
            vars,
            device: device.clone(),
            recorder: None,
        })
    }

    fn rec(&self) -> Option<&Mutex<Recording>> {
        self.recorder.as_ref()
    }

    /// Per-example ELBO gradients for a whole batch in one backward pass (see [`Recording`]).
    fn batched_grads(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)> {
        check_batch(&xs, self.n_features)?;
        let b = xs.nrows();
        let x = to_tensor(xs, &self.device)?;
        // A recording twin sharing the same Vars (Var clones share storage).
        let twin = Hvae {
            params: self.params.clone(),
            n_features: self.n_features,
            enc: self.enc.iter().map(Lin::share).collect(),
            q_heads: self.q_heads.iter().map(Lin::share).collect(),
            p_hidden: self.p_hidden.iter().map(Lin::share).collect(),
            p_heads: self.p_heads.iter().map(Lin::share).collect(),
            dec_hidden: self.dec_hidden.share(),
            dec_out: self.dec_out.share(),
            vars: Vec::new(),
            device: self.device.clone(),
            recorder: Some(Mutex::new(Vec::new())),
        };
        let lp = twin.log_prob_tensor(&x)?;
        let grads = lp.sum_all()?.backward()?;
        let mut offsets = Vec::with_capacity(self.vars.len() + 1);
        let mut acc = 0;
        for v in &self.vars {
            offsets.push(acc);
            acc += v.elem_count();
        }
        let mut out = Array2::<f32>::zeros((b, acc));
        let rec = twin
            .recorder
            .ok_or(Error::Fit {
                reason: "recorder missing".into(),
            })?
            .into_inner()
            .map_err(|_| Error::Fit {
                reason: "recorder lock poisoned".into(),
            })?;
        for (id, a, probe) in rec {
            let Some(dz) = grads.get(probe.as_tensor()) else {
                continue;
            };
            let n_out = dz.dim(1)?;
            let n_in = a.dim(1)?;
            let gw = dz
                .unsqueeze(2)?
                .matmul(&a.unsqueeze(1)?)?
                .reshape((b, n_out * n_in))?;
            let gw = gw.to_vec2::<f32>()?;
            let gb = dz.to_vec2::<f32>()?;
            let (ow, ob) = (offsets[id], offsets[id + 1]);
            for (i, (rw, rb)) in gw.iter().zip(&gb).enumerate() {
                let mut row = out.row_mut(i);
                for (dst, src) in row
                    .slice_mut(ndarray::s![ow..ow + n_out * n_in])
                    .iter_mut()
                    .zip(rw)
                {
                    *dst += src;
                }
                for (dst, src) in row
                    .slice_mut(ndarray::s![ob..ob + n_out])
                    .iter_mut()
                    .zip(rb)
                {
                    *dst += src;
                }
            }
        }
        let lp = Array1::from(lp.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        Ok((lp, out))
    }

    /// The settings the model was built with.
    pub fn params(&self) -> &HvaeParams {
        &self.params
    }
    /// All trainable parameters (generative θ and inference φ), in a fixed order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
    /// Number of latent stages L.
    pub fn n_stages(&self) -> usize {
        self.params.latent.len()
    }

    fn noise_random(&self, b: usize, rng: &mut impl Rng) -> Result<Vec<Tensor>> {
        self.params
            .latent
            .iter()
            .map(|&z| {
                let v: Vec<f32> = (0..b * z).map(|_| std_normal(rng) as f32).collect();
                Ok(Tensor::from_vec(v, (b, z), &self.device)?)
            })
            .collect()
    }

    /// Per-example noise: `n_samples` blocks of rows, each row seeded by the example's bytes.
    fn noise_for(&self, xs: &Tensor, n_samples: usize) -> Result<Vec<Tensor>> {
        let rows = xs.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let b = rows.len();
        let mut per_layer: Vec<Vec<f32>> = self
            .params
            .latent
            .iter()
            .map(|&z| vec![0.0; n_samples * b * z])
            .collect();
        for (r, row) in rows.iter().enumerate() {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(row_seed(row, self.params.seed));
            for s in 0..n_samples {
                for (li, &z) in self.params.latent.iter().enumerate() {
                    let off = (s * b + r) * z;
                    for v in &mut per_layer[li][off..off + z] {
                        *v = std_normal(&mut rng) as f32;
                    }
                }
            }
        }
        per_layer
            .into_iter()
            .zip(&self.params.latent)
            .map(|(v, &z)| Ok(Tensor::from_vec(v, (n_samples * b, z), &self.device)?))
            .collect()
    }

    /// Bottom-up pass: posterior (μ, log σ²) per stage.
    fn infer(&self, xs: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
        let mut d = xs.clone();
        let mut out = Vec::with_capacity(self.n_stages());
        for ((enc, head), &z) in self.enc.iter().zip(&self.q_heads).zip(&self.params.latent) {
            d = enc.fwd(&d, self.rec())?.relu()?;
            out.push(gauss_head(head, &d, z, self.rec())?);
        }
        Ok(out)
    }

    /// Conditional prior (μ, log σ²) of stage i (0-based, i < L−1) given z_{i+1}.
    fn prior(&self, i: usize, z_above: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.p_hidden[i].fwd(z_above, self.rec())?.relu()?;
        gauss_head(&self.p_heads[i], &h, self.params.latent[i], self.rec())
    }

    fn decode(&self, z1: &Tensor) -> Result<Tensor> {
        let h = self.dec_hidden.fwd(z1, self.rec())?.relu()?;
        self.dec_out.fwd(&h, self.rec())
    }

    /// (log p(x|z), Σ log q − Σ log p(z)) for one posterior sample per row.
    fn elbo_terms(&self, xs: &Tensor, eps: &[Tensor]) -> Result<(Tensor, Tensor)> {
        let q = self.infer(xs)?;
        let zs: Vec<Tensor> = q
            .iter()
            .zip(eps)
            .map(|((mu, lv), e)| Ok((mu + ((lv * 0.5)?.exp()? * e)?)?))
            .collect::<Result<_>>()?;
        let l = self.n_stages();
        let mut kl = log_std_normal(&zs[l - 1])?.neg()?;
        for i in 0..l {
            kl = (kl + log_normal(&zs[i], &q[i].0, &q[i].1)?)?;
            if i + 1 < l {
                let (pm, plv) = self.prior(i, &zs[i + 1])?;
                kl = (kl - log_normal(&zs[i], &pm, &plv)?)?;
            }
        }
        let recon = bernoulli_log_lik(xs, &self.decode(&zs[0])?)?;
        Ok((recon, kl))
    }

    /// `(L, L^{>k})` per row for one posterior sample: the lowest k stages of the second bound
    /// take the mode of the conditional prior and drop their KL terms (`use_mode` in
    /// `JakobHavtorn/hvae-oodd`).
    fn bounds_once(&self, xs: &Tensor, eps: &[Tensor], k: usize) -> Result<(Tensor, Tensor)> {
        let q = self.infer(xs)?;
        let l = self.n_stages();
        let zs: Vec<Tensor> = q
            .iter()
            .zip(eps)
            .map(|((mu, lv), e)| Ok((mu + ((lv * 0.5)?.exp()? * e)?)?))
            .collect::<Result<_>>()?;
        // full ELBO
        let mut elbo = log_std_normal(&zs[l - 1])?;
        let mut upper = elbo.clone();
        let mut z_mode = zs[l - 1].clone();
        for i in (0..l).rev() {
            let lq = log_normal(&zs[i], &q[i].0, &q[i].1)?;
            elbo = (elbo - &lq)?;
            if i >= k {
                upper = (upper - &lq)?;
            }
            if i + 1 < l {
                let (pm, plv) = self.prior(i, &zs[i + 1])?;
                elbo = (elbo + log_normal(&zs[i], &pm, &plv)?)?;
                if i >= k {
                    upper = (upper + log_normal(&zs[i], &pm, &plv)?)?;
                    z_mode = zs[i].clone();
                } else {
                    // mode of p(z_i | z_{i+1}) with z_{i+1} from the chain above
                    z_mode = self.prior(i, &z_mode)?.0;
                }
            }
        }
        let elbo = (elbo + bernoulli_log_lik(xs, &self.decode(&zs[0])?)?)?;
        let upper = (upper + bernoulli_log_lik(xs, &self.decode(&z_mode)?)?)?;
        Ok((elbo, upper))
    }

    /// Importance-weighted bounds `(L_S, L^{>k}_S)` per row: log-mean-exp over `n_samples`
    /// posterior samples of each single-sample bound (Havtorn et al. 2021, §4).
    pub fn bounds(
        &self,
        xs: ArrayView2<'_, f32>,
        k: usize,
        n_samples: usize,
    ) -> Result<(Array1<f64>, Array1<f64>)> {
        check_batch(&xs, self.n_features)?;
        check_range(
            "k",
            k as f64,
            k >= 1 && k < self.n_stages(),
            "in [1, n_stages)",
        )?;
        check_range("n_samples", n_samples as f64, n_samples >= 1, "≥ 1")?;
        let b = xs.nrows();
        let x = to_tensor(xs, &self.device)?;
        let eps = self.noise_for(&x, n_samples)?;
        let xr = x.repeat((n_samples, 1))?;
        let (elbo, upper) = self.bounds_once(&xr, &eps, k)?;
        let lme = |t: Tensor| -> Result<Array1<f64>> {
            let t = t.reshape((n_samples, b))?.to_dtype(DType::F64)?;
            let v = (t.log_sum_exp(0)? - (n_samples as f64).ln())?;
            Ok(Array1::from(v.to_vec1::<f64>()?))
        };
        Ok((lme(elbo)?, lme(upper)?))
    }

    /// `LLR^{>k}_S = L_S − L^{>k}_S` per row (larger ⇒ more OOD).
    pub fn llr(&self, xs: ArrayView2<'_, f32>, k: usize, n_samples: usize) -> Result<Array1<f64>> {
        let (a, b) = self.bounds(xs, k, n_samples)?;
        Ok(a - b)
    }
}

impl CandleDensity for Hvae {
    fn n_features(&self) -> usize {
        self.n_features
    }
    /// Single-sample ELBO with per-example deterministic noise.
    fn log_prob_tensor(&self, xs: &Tensor) -> Result<Tensor> {
        let eps = self.noise_for(xs, 1)?;
        let (recon, kl) = self.elbo_terms(xs, &eps)?;
        Ok((recon - kl)?)
    }
    fn score_vars(&self) -> Vec<Var> {
        self.vars.clone()
    }
    fn device(&self) -> &Device {
        &self.device
    }
}

/// Batched per-example gradients: one forward and one backward pass per batch instead of one
/// per example; equal to `Autograd<Hvae>` (checked in the tests) and much faster.
impl DensityModel for Hvae {
    fn n_features(&self) -> usize {
        self.n_features
    }
    fn n_params(&self) -> usize {
        self.vars.iter().map(|v| v.elem_count()).sum()
    }
    fn log_prob(&self, xs: ArrayView2<'_, f32>) -> Result<Array1<f64>> {
        check_batch(&xs, self.n_features)?;
        let x = to_tensor(xs, &self.device)?;
        let lp = self
            .log_prob_tensor(&x)?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?;
        Ok(Array1::from(lp))
    }
    fn log_prob_and_grad(&self, xs: ArrayView2<'_, f32>) -> Result<(Array1<f64>, Array2<f32>)> {
        self.batched_grads(xs)
    }
}

/// FNV-1a over the f32 bit patterns, mixed with the model seed.
fn row_seed(row: &[f32], seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for v in row {
        for byte in v.to_bits().to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn std_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Autograd, DensityModel};

    fn toy_data(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        // two prototypes with bit flips: a learnable binary distribution
        Array2::from_shape_fn((n, d), |(i, j)| {
            let proto = if i % 2 == 0 { j % 2 == 0 } else { j < d / 2 };
            let flip = rng.random::<f64>() < 0.05;
            f32::from(u8::from(proto ^ flip))
        })
    }

    #[test]
    fn training_improves_elbo_and_bounds_are_consistent() {
        let d = 16;
        let x = toy_data(256, d, 1);
        let mut losses = Vec::new();
        let m = HvaeParams::default()
            .latent(vec![4, 2])
            .hidden(32)
            .epochs(40)
            .batch_size(32)
            .lr(3e-3)
            .fit_with(x.view(), &Device::Cpu, |_, l| {
                losses.push(l);
                true
            })
            .unwrap();
        let first = losses[0];
        let last = losses[losses.len() - 1];
        assert!(last < first - 2.0, "neg-ELBO {first} -> {last}");
        // deterministic per example
        let ag = Autograd::new(m);
        let a = ag.log_prob(x.slice(ndarray::s![0..4, ..])).unwrap();
        let b = ag.log_prob(x.slice(ndarray::s![0..4, ..])).unwrap();
        assert_eq!(a, b);
        // bounds: log-mean-exp over S samples ≥ mean of the single-sample bounds (Jensen)
        let m = ag.inner();
        let (l1, _) = m.bounds(x.slice(ndarray::s![0..4, ..]), 1, 1).unwrap();
        let (l16, _) = m.bounds(x.slice(ndarray::s![0..4, ..]), 1, 16).unwrap();
        assert!(l16.sum() >= l1.sum() - 1.0);
        let llr = m.llr(x.slice(ndarray::s![0..4, ..]), 1, 8).unwrap();
        assert!(llr.iter().all(|v| v.is_finite()));
        assert!(matches!(m.bounds(x.view(), 2, 1), Err(Error::Param(_))));
        let (lp_a, g) = ag
            .log_prob_and_grad(x.slice(ndarray::s![0..5, ..]))
            .unwrap();
        assert_eq!(g.ncols(), ag.n_params());
        assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|v| *v != 0.0));
        // The batched outer-product path equals per-example autograd. Both are f32; the
        // backward sums differ only in order, so 1e-4 relative (+1e-6 absolute) is ample while a
        // missing term or transposed outer product would be O(1).
        let (lp_b, gb) =
            DensityModel::log_prob_and_grad(m, x.slice(ndarray::s![0..5, ..])).unwrap();
        assert_eq!(gb.dim(), g.dim());
        for (a, b) in lp_a.iter().zip(&lp_b) {
            assert!((a - b).abs() < 1e-4 * a.abs().max(1.0));
        }
        for (i, (a, b)) in g.iter().zip(&gb).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 + 1e-4 * a.abs().max(b.abs()),
                "param {i}: {a} vs {b}"
            );
        }
    }
}
