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

mod analytic;

use std::collections::HashMap;

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
    w: Var,
    b: Var,
}

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
        vars.push(w.clone());
        vars.push(b.clone());
        Ok(Self { w, b })
    }
    /// A layer from named tensors `{name}.weight` `[n_out, n_in]` and `{name}.bias` `[n_out]`.
    fn load(
        tensors: &HashMap<String, Tensor>,
        name: &str,
        n_in: usize,
        n_out: usize,
        dev: &Device,
        vars: &mut Vec<Var>,
    ) -> Result<Self> {
        let get = |suffix: &str, shape: &[usize]| -> Result<Var> {
            let key = format!("{name}.{suffix}");
            let t = tensors
                .get(&key)
                .ok_or_else(|| Error::MissingKey { name: key.clone() })?;
            if t.dims() != shape {
                return Err(Error::ShapeMismatch {
                    what: "layer parameter elements",
                    expected: shape.iter().product(),
                    actual: t.elem_count(),
                });
            }
            Ok(Var::from_tensor(&t.to_dtype(DType::F32)?.to_device(dev)?)?)
        };
        let w = get("weight", &[n_out, n_in])?;
        let b = get("bias", &[n_out])?;
        vars.push(w.clone());
        vars.push(b.clone());
        Ok(Self { w, b })
    }
    fn fwd(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.w.as_tensor().t()?)?
            .broadcast_add(self.b.as_tensor())?)
    }
}

/// Gaussian parameters from a linear head: (mean, clamped log-variance).
fn gauss_head(head: &Lin, h: &Tensor, z: usize) -> Result<(Tensor, Tensor)> {
    let out = head.fwd(h)?;
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

/// Which `L^{>k}` bound [`Hvae::bounds_variant`] computes. Both decode `x` from the mode of the
/// conditional prior `p(z_{≤k} | z_{>k})` instead of a posterior sample for the lowest k stages.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LkBound {
    /// As the paper writes it (Havtorn et al. 2021, §4; spec §9):
    /// `L^{>k} = E[log p(x|z̃) + log p(z_{>k}) − log q(z_{>k}|x)]`, so the lowest k KL terms are
    /// dropped and `LLR^{>k} = log p(x|z) − log p(x|z̃) − KL_{≤k}`. Default.
    #[default]
    Paper,
    /// As the released code computes it (`JakobHavtorn/hvae-oodd: scripts/ood-llr.py`, which
    /// subtracts the regular pass's KL terms from both bounds): every KL term is kept at the
    /// posterior sample, so with one sample `LLR^{>k} = log p(x|z) − log p(x|z̃)`, a pure
    /// reconstruction ratio.
    ReleasedCode,
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
        Self::build(params, n_features, device, |_, n_in, n_out, vars| {
            Lin::new(n_in, n_out, &mut rng, device, vars)
        })
    }

    /// Builds the layers in [`var_names`](Self::var_names) order (which is also the order the
    /// random init consumes the generator).
    fn build(
        params: HvaeParams,
        n_features: usize,
        device: &Device,
        mut make: impl FnMut(&str, usize, usize, &mut Vec<Var>) -> Result<Lin>,
    ) -> Result<Self> {
        let mut vars = Vec::new();
        let h = params.hidden;
        let l = params.latent.len();
        let mut enc = Vec::with_capacity(l);
        let mut q_heads = Vec::with_capacity(l);
        for (i, &z) in params.latent.iter().enumerate() {
            let n_in = if i == 0 { n_features } else { h };
            enc.push(make(&format!("enc.{i}"), n_in, h, &mut vars)?);
            q_heads.push(make(&format!("q_heads.{i}"), h, 2 * z, &mut vars)?);
        }
        let mut p_hidden = Vec::new();
        let mut p_heads = Vec::new();
        for i in 0..l.saturating_sub(1) {
            let (z, z_above) = (params.latent[i], params.latent[i + 1]);
            p_hidden.push(make(&format!("p_hidden.{i}"), z_above, h, &mut vars)?);
            p_heads.push(make(&format!("p_heads.{i}"), h, 2 * z, &mut vars)?);
        }
        let dec_hidden = make("dec_hidden", params.latent[0], h, &mut vars)?;
        let dec_out = make("dec_out", h, n_features, &mut vars)?;
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
        })
    }

    /// A model with the architecture of `params` (`latent`, `hidden`) and weights from named
    /// tensors, keyed like the PyTorch reference's `state_dict` (`enc.{i}.weight`,
    /// `q_heads.{i}.bias`, `p_hidden.{i}`, `p_heads.{i}`, `dec_hidden`, `dec_out`; weights are
    /// `[out, in]`), e.g. from [`candle_core::safetensors::load`]. Extra keys are ignored.
    ///
    /// # Errors
    /// [`Error::MissingKey`] or [`Error::ShapeMismatch`] when a layer is absent or has the wrong
    /// shape for `params`; [`Error::Param`] for invalid settings.
    pub fn from_tensors(
        params: &HvaeParams,
        n_features: usize,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        params.check(n_features)?;
        Self::build(
            params.clone(),
            n_features,
            device,
            |name, n_in, n_out, vars| Lin::load(tensors, name, n_in, n_out, device, vars),
        )
    }

    /// Named copies of all parameters (keys as in [`from_tensors`](Self::from_tensors)), e.g.
    /// for [`candle_core::safetensors::save`].
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.var_names()
            .into_iter()
            .zip(&self.vars)
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect()
    }

    /// Parameter names in gradient-flattening order (the order of [`vars`](Self::vars)).
    pub fn var_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.vars.len());
        let mut lin = |n: String| {
            names.push(format!("{n}.weight"));
            names.push(format!("{n}.bias"));
        };
        for i in 0..self.n_stages() {
            lin(format!("enc.{i}"));
            lin(format!("q_heads.{i}"));
        }
        for i in 0..self.p_hidden.len() {
            lin(format!("p_hidden.{i}"));
            lin(format!("p_heads.{i}"));
        }
        lin("dec_hidden".into());
        lin("dec_out".into());
        names
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

    /// Per-example noise, one `[n_samples · B, z_i]` block per stage (sample-major), each
    /// example's generator seeded by its bytes and the model seed.
    fn noise_blocks(&self, xs: ArrayView2<'_, f32>, n_samples: usize) -> Vec<Array2<f32>> {
        let b = xs.nrows();
        let mut per_layer: Vec<Array2<f32>> = self
            .params
            .latent
            .iter()
            .map(|&z| Array2::zeros((n_samples * b, z)))
            .collect();
        for (r, row) in xs.rows().into_iter().enumerate() {
            let seed = match row.as_slice() {
                Some(sl) => row_seed(sl, self.params.seed),
                None => row_seed(&row.to_vec(), self.params.seed),
            };
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            for s in 0..n_samples {
                for layer in per_layer.iter_mut() {
                    for v in layer.row_mut(s * b + r) {
                        *v = std_normal(&mut rng) as f32;
                    }
                }
            }
        }
        per_layer
    }

    /// The reparameterisation noise `ε_i ~ N(0, I)` (one `[B, z_i]` array per stage) that
    /// [`log_prob`](DensityModel::log_prob) uses for `xs`: a deterministic function of each
    /// example's bytes and the model seed.
    pub fn noise(&self, xs: ArrayView2<'_, f32>) -> Result<Vec<Array2<f32>>> {
        check_batch(&xs, self.n_features)?;
        Ok(self.noise_blocks(xs, 1))
    }

    fn noise_for(&self, xs: &Tensor, n_samples: usize) -> Result<Vec<Tensor>> {
        let rows = xs.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let d = rows.first().map_or(0, Vec::len);
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        let arr =
            ArrayView2::from_shape((flat.len() / d.max(1), d), &flat).map_err(|_| Error::Fit {
                reason: "ragged input rows".into(),
            })?;
        self.noise_blocks(arr, n_samples)
            .iter()
            .map(|a| to_tensor(a.view(), &self.device))
            .collect()
    }

    /// Single-sample ELBO per row of `xs` (`[B, D]`) with explicit noise `eps[i]` (`[B, z_i]`),
    /// as a differentiable candle tensor `[B]`: the function the PyTorch reference
    /// (`scripts/gen_ood_hvae_grads.py`) computes.
    pub fn elbo_tensor(&self, xs: &Tensor, eps: &[Tensor]) -> Result<Tensor> {
        if eps.len() != self.n_stages() {
            return Err(Error::ShapeMismatch {
                what: "noise stages",
                expected: self.n_stages(),
                actual: eps.len(),
            });
        }
        let (recon, kl) = self.elbo_terms(xs, eps)?;
        Ok((recon - kl)?)
    }

    /// Per-example single-sample ELBO and its gradient w.r.t. every parameter (rows in
    /// [`var_names`](Self::var_names) order), for explicit noise `eps[i]` (`[B, z_i]`), by the
    /// analytic batched backward pass (GEMMs over the batch, per-example outer products).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] / [`Error::NonFinite`] for inputs or noise of the wrong shape or
    /// with NaN/∞.
    pub fn elbo_and_grad_with_noise(
        &self,
        xs: ArrayView2<'_, f32>,
        eps: &[Array2<f32>],
    ) -> Result<(Array1<f64>, Array2<f32>)> {
        check_batch(&xs, self.n_features)?;
        if eps.len() != self.n_stages() {
            return Err(Error::ShapeMismatch {
                what: "noise stages",
                expected: self.n_stages(),
                actual: eps.len(),
            });
        }
        for (e, &z) in eps.iter().zip(&self.params.latent) {
            if e.dim() != (xs.nrows(), z) {
                return Err(Error::ShapeMismatch {
                    what: "noise elements",
                    expected: xs.nrows() * z,
                    actual: e.len(),
                });
            }
            if e.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite { what: "noise" });
            }
        }
        analytic::Mlp::from_model(self)?.elbo_and_grad(xs, eps)
    }

    /// Bottom-up pass: posterior (μ, log σ²) per stage.
    fn infer(&self, xs: &Tensor) -> Result<Vec<(Tensor, Tensor)>> {
        let mut d = xs.clone();
        let mut out = Vec::with_capacity(self.n_stages());
        for ((enc, head), &z) in self.enc.iter().zip(&self.q_heads).zip(&self.params.latent) {
            d = enc.fwd(&d)?.relu()?;
            out.push(gauss_head(head, &d, z)?);
        }
        Ok(out)
    }

    /// Conditional prior (μ, log σ²) of stage i (0-based, i < L−1) given z_{i+1}.
    fn prior(&self, i: usize, z_above: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.p_hidden[i].fwd(z_above)?.relu()?;
        gauss_head(&self.p_heads[i], &h, self.params.latent[i])
    }

    fn decode(&self, z1: &Tensor) -> Result<Tensor> {
        let h = self.dec_hidden.fwd(z1)?.relu()?;
        self.dec_out.fwd(&h)
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
    /// decode from the mode of the conditional prior (`use_mode` in `JakobHavtorn/hvae-oodd`);
    /// their KL terms are dropped ([`LkBound::Paper`]) or kept at the posterior sample
    /// ([`LkBound::ReleasedCode`]).
    fn bounds_once(
        &self,
        xs: &Tensor,
        eps: &[Tensor],
        k: usize,
        variant: LkBound,
    ) -> Result<(Tensor, Tensor)> {
        let q = self.infer(xs)?;
        let l = self.n_stages();
        let zs: Vec<Tensor> = q
            .iter()
            .zip(eps)
            .map(|((mu, lv), e)| Ok((mu + ((lv * 0.5)?.exp()? * e)?)?))
            .collect::<Result<_>>()?;
        let keep_low_kl = variant == LkBound::ReleasedCode;
        // full ELBO
        let mut elbo = log_std_normal(&zs[l - 1])?;
        let mut upper = elbo.clone();
        let mut z_mode = zs[l - 1].clone();
        for i in (0..l).rev() {
            let lq = log_normal(&zs[i], &q[i].0, &q[i].1)?;
            elbo = (elbo - &lq)?;
            if i >= k || keep_low_kl {
                upper = (upper - &lq)?;
            }
            if i + 1 < l {
                let (pm, plv) = self.prior(i, &zs[i + 1])?;
                let lp = log_normal(&zs[i], &pm, &plv)?;
                elbo = (elbo + &lp)?;
                if i >= k || keep_low_kl {
                    upper = (upper + lp)?;
                }
                z_mode = if i >= k {
                    zs[i].clone()
                } else {
                    // mode of p(z_i | z_{i+1}) with z_{i+1} from the chain above
                    self.prior(i, &z_mode)?.0
                };
            }
        }
        let elbo = (elbo + bernoulli_log_lik(xs, &self.decode(&zs[0])?)?)?;
        let upper = (upper + bernoulli_log_lik(xs, &self.decode(&z_mode)?)?)?;
        Ok((elbo, upper))
    }

    /// Single-sample `(L, L^{>k})` per row for explicit noise `eps[i]` (`[B, z_i]`), the
    /// building block of [`bounds`](Self::bounds); checked against the PyTorch reference.
    ///
    /// # Errors
    /// [`Error::Param`] unless `1 ≤ k < n_stages`; [`Error::ShapeMismatch`] for wrong shapes.
    pub fn bounds_with_noise(
        &self,
        xs: ArrayView2<'_, f32>,
        eps: &[Array2<f32>],
        k: usize,
        variant: LkBound,
    ) -> Result<(Array1<f64>, Array1<f64>)> {
        check_batch(&xs, self.n_features)?;
        check_range(
            "k",
            k as f64,
            k >= 1 && k < self.n_stages(),
            "in [1, n_stages)",
        )?;
        if eps.len() != self.n_stages() {
            return Err(Error::ShapeMismatch {
                what: "noise stages",
                expected: self.n_stages(),
                actual: eps.len(),
            });
        }
        let x = to_tensor(xs, &self.device)?;
        let eps = eps
            .iter()
            .map(|e| to_tensor(e.view(), &self.device))
            .collect::<Result<Vec<_>>>()?;
        let (l, u) = self.bounds_once(&x, &eps, k, variant)?;
        let v = |t: Tensor| -> Result<Array1<f64>> {
            Ok(Array1::from(t.to_dtype(DType::F64)?.to_vec1::<f64>()?))
        };
        Ok((v(l)?, v(u)?))
    }

    /// Importance-weighted bounds `(L_S, L^{>k}_S)` per row: log-mean-exp over `n_samples`
    /// posterior samples of each single-sample bound (Havtorn et al. 2021, §4), with the
    /// paper's `L^{>k}` ([`LkBound::Paper`]).
    pub fn bounds(
        &self,
        xs: ArrayView2<'_, f32>,
        k: usize,
        n_samples: usize,
    ) -> Result<(Array1<f64>, Array1<f64>)> {
        self.bounds_variant(xs, k, n_samples, LkBound::Paper)
    }

    /// As [`bounds`](Self::bounds) with a chosen `L^{>k}` definition.
    ///
    /// # Errors
    /// [`Error::Param`] unless `1 ≤ k < n_stages` and `n_samples ≥ 1`.
    pub fn bounds_variant(
        &self,
        xs: ArrayView2<'_, f32>,
        k: usize,
        n_samples: usize,
        variant: LkBound,
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
        let (elbo, upper) = self.bounds_once(&xr, &eps, k, variant)?;
        let lme = |t: Tensor| -> Result<Array1<f64>> {
            let t = t.reshape((n_samples, b))?.to_dtype(DType::F64)?;
            let v = (t.log_sum_exp(0)? - (n_samples as f64).ln())?;
            Ok(Array1::from(v.to_vec1::<f64>()?))
        };
        Ok((lme(elbo)?, lme(upper)?))
    }

    /// Single-sample KL estimate per stage and row, `log q(z_i|x) − log p(z_i|z_{i+1})` (top:
    /// `− log N(z_L; 0, I)`), at the model's per-example noise: `[B, n_stages]`. A stage whose
    /// mean KL is near 0 has collapsed onto its prior and carries no information about `x`
    /// (then `LLR^{>k}` cannot see semantics through it).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] / [`Error::NonFinite`] for bad inputs.
    pub fn kl_per_stage(&self, xs: ArrayView2<'_, f32>) -> Result<Array2<f64>> {
        check_batch(&xs, self.n_features)?;
        let x = to_tensor(xs, &self.device)?;
        let eps = self.noise_for(&x, 1)?;
        let q = self.infer(&x)?;
        let l = self.n_stages();
        let zs: Vec<Tensor> = q
            .iter()
            .zip(&eps)
            .map(|((mu, lv), e)| Ok((mu + ((lv * 0.5)?.exp()? * e)?)?))
            .collect::<Result<_>>()?;
        let mut out = Array2::<f64>::zeros((xs.nrows(), l));
        for i in 0..l {
            let lp = if i + 1 < l {
                let (pm, plv) = self.prior(i, &zs[i + 1])?;
                log_normal(&zs[i], &pm, &plv)?
            } else {
                log_std_normal(&zs[i])?
            };
            let kl = (log_normal(&zs[i], &q[i].0, &q[i].1)? - lp)?
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?;
            out.column_mut(i).assign(&Array1::from(kl));
        }
        Ok(out)
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

/// Analytic batched per-example gradients (GEMMs over the batch, outer products per example); equal to `Autograd<Hvae>` (checked in
/// the tests) and much faster. `Autograd::new(hvae)` still gives the generic autograd path.
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
        check_batch(&xs, self.n_features)?;
        let eps = self.noise_blocks(xs, 1);
        analytic::Mlp::from_model(self)?.elbo_and_grad(xs, &eps)
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
        // The analytic batched path equals per-example autograd. Both are f32; the
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
