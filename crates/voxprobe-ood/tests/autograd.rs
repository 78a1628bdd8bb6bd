//! Analytic gradients of the GMM and the diagonal Gaussian against candle autograd.

use candle_core::{Device, Tensor, Var, D};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe_ood::{Autograd, CandleDensity, DensityModel, Gmm, Result};

use crate::gaussian_rows;

/// candle computes in f32 (≈ 6e-8 relative per op over ~D terms); the analytic path in f64. A
/// relative error of 1e-4 (plus 1e-5 absolute for near-zero entries) is far above f32 rounding
/// and far below any formula error (a wrong factor of ½ or a missing r_k is O(1)).
const REL_TOL: f32 = 1e-4;
const ABS_TOL: f32 = 1e-5;

struct CandleGmm {
    logits: Var,
    means: Var,
    log_var: Var,
    device: Device,
}

impl CandleDensity for CandleGmm {
    fn n_features(&self) -> usize {
        self.means.dims()[1]
    }
    fn log_prob_tensor(&self, xs: &Tensor) -> Result<Tensor> {
        let diff = xs.unsqueeze(1)?.broadcast_sub(&self.means.unsqueeze(0)?)?;
        let prec = self.log_var.neg()?.exp()?.unsqueeze(0)?;
        let quad = diff.sqr()?.broadcast_mul(&prec)?;
        let ln2pi = (2.0 * std::f64::consts::PI).ln();
        let per = (quad.broadcast_add(&self.log_var.unsqueeze(0)?)? + ln2pi)?.sum(D::Minus1)?;
        let log_n = (per * -0.5)?;
        let log_w = candle_nn::ops::log_softmax(self.logits.as_tensor(), 0)?;
        Ok(log_n.broadcast_add(&log_w.unsqueeze(0)?)?.log_sum_exp(1)?)
    }
    fn score_vars(&self) -> Vec<Var> {
        vec![
            self.logits.clone(),
            self.means.clone(),
            self.log_var.clone(),
        ]
    }
    fn device(&self) -> &Device {
        &self.device
    }
}

fn var(a: &Array2<f64>) -> Var {
    let v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    Var::from_tensor(&Tensor::from_vec(v, a.dim(), &Device::Cpu).unwrap()).unwrap()
}

fn assert_close(analytic: &Array2<f32>, auto: &Array2<f32>) {
    assert_eq!(analytic.dim(), auto.dim());
    for (i, (a, b)) in analytic.iter().zip(auto).enumerate() {
        assert!(
            (a - b).abs() <= ABS_TOL + REL_TOL * a.abs().max(b.abs()),
            "param {i}: analytic {a} vs autograd {b}"
        );
    }
}

#[test]
fn gmm_analytic_gradients_match_autograd() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let (k, d) = (4, 5);
    let logits = Array1::from_shape_fn(k, |_| rng.random::<f64>() - 0.5);
    let means = Array2::from_shape_fn((k, d), |_| rng.random::<f64>() * 2.0 - 1.0);
    let log_var = Array2::from_shape_fn((k, d), |_| rng.random::<f64>() - 0.5);
    // Round parameters to f32 first so both paths see the same model.
    let r = |a: &Array2<f64>| a.mapv(|v| f64::from(v as f32));
    let logits = logits.mapv(|v| f64::from(v as f32));
    let (means, log_var) = (r(&means), r(&log_var));
    let gmm = Gmm::new(logits.clone(), means.clone(), log_var.clone()).unwrap();
    let cg = Autograd::new(CandleGmm {
        logits: Var::from_tensor(
            &Tensor::from_vec(
                logits.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                k,
                &Device::Cpu,
            )
            .unwrap(),
        )
        .unwrap(),
        means: var(&means),
        log_var: var(&log_var),
        device: Device::Cpu,
    });
    // Points near the components and far away (responsibilities saturate there).
    let mut x = gaussian_rows(&mut rng, 12, d, false);
    x.row_mut(11).fill(4.0);
    let (lp_a, g_a) = gmm.log_prob_and_grad(x.view()).unwrap();
    let (lp_c, g_c) = cg.log_prob_and_grad(x.view()).unwrap();
    for (a, c) in lp_a.iter().zip(&lp_c) {
        assert!((a - c).abs() < 1e-4 * a.abs().max(1.0), "log p {a} vs {c}");
    }
    assert_close(&g_a, &g_c);
    assert_eq!(cg.n_params(), gmm.n_params());
    // The candle model's own batched log p agrees with the per-example path.
    let lp_batch = cg.log_prob(x.view()).unwrap();
    for (a, b) in lp_batch.iter().zip(&lp_c) {
        assert!((a - b).abs() < 1e-4);
    }
}
