//! `LLR^{>k}` on a hand-built two-stage HVAE whose bounds have a closed form: catches a wrong
//! sign, decoding from a posterior sample instead of the conditional-prior mode, or a KL term
//! kept/dropped in the wrong variant.
//!
//! Model (D = 2 binary pixels, hidden 2, latents [1, 1]): the posterior means of both stages are
//! `x₀ − x₁` with log-variance −9; the conditional prior of z₁ has mode `relu(z₂)` and unit
//! variance; the decoder gives logits `(4 relu(z₁) − 2, 4 relu(−z₁) − 2)`. So `x = (1, 0)` is
//! "in distribution" (its prior mode equals its posterior mean, LLR ≈ 0) while for `x = (0, 1)`
//! the prior mode is 0 and decoding from it loses the image (LLR ≈ 2 nats).

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use ndarray::{array, Array2};
use voxprobe_ood::{Hvae, HvaeParams, LkBound};

/// The bounds are sums of a few f32 terms of size ≤ 10.
const TOL: f64 = 1e-4;
const LN_2PI: f64 = 1.837_877_066_409_345_3;

fn lin(t: &mut HashMap<String, Tensor>, name: &str, w: &[f32], (o, i): (usize, usize), b: &[f32]) {
    let dev = Device::Cpu;
    t.insert(
        format!("{name}.weight"),
        Tensor::from_vec(w.to_vec(), (o, i), &dev).unwrap(),
    );
    t.insert(
        format!("{name}.bias"),
        Tensor::from_vec(b.to_vec(), o, &dev).unwrap(),
    );
}

fn toy() -> Hvae {
    let mut t = HashMap::new();
    lin(&mut t, "enc.0", &[1., 0., 0., 1.], (2, 2), &[0., 0.]);
    lin(&mut t, "q_heads.0", &[1., -1., 0., 0.], (2, 2), &[0., -9.]);
    lin(&mut t, "enc.1", &[1., 0., 0., 1.], (2, 2), &[0., 0.]);
    lin(&mut t, "q_heads.1", &[1., -1., 0., 0.], (2, 2), &[0., -9.]);
    lin(&mut t, "p_hidden.0", &[1., -1.], (2, 1), &[0., 0.]);
    lin(&mut t, "p_heads.0", &[1., 0., 0., 0.], (2, 2), &[0., 0.]);
    lin(&mut t, "dec_hidden", &[1., -1.], (2, 1), &[0., 0.]);
    lin(&mut t, "dec_out", &[4., 0., 0., 4.], (2, 2), &[-2., -2.]);
    let p = HvaeParams::default().latent(vec![1, 1]).hidden(2);
    Hvae::from_tensors(&p, 2, &t, &Device::Cpu).unwrap()
}

fn softplus(v: f64) -> f64 {
    v.max(0.0) + (-v.abs()).exp().ln_1p()
}

/// log p(x | z₁) of the toy decoder.
fn recon(x: [f64; 2], z1: f64) -> f64 {
    let l = [4.0 * z1.max(0.0) - 2.0, 4.0 * (-z1).max(0.0) - 2.0];
    (0..2).map(|j| x[j] * l[j] - softplus(l[j])).sum()
}

#[test]
fn llr_matches_closed_form_and_ranks_the_mismatched_input_higher() {
    let m = toy();
    let xs: Array2<f32> = array![[1., 0.], [0., 1.]];
    // ε = 0: every latent sits at its posterior mean z₁ = z₂ = x₀ − x₁.
    let eps = vec![Array2::zeros((2, 1)), Array2::zeros((2, 1))];
    let (l, u_paper) = m
        .bounds_with_noise(xs.view(), &eps, 1, LkBound::Paper)
        .unwrap();
    let (l2, u_code) = m
        .bounds_with_noise(xs.view(), &eps, 1, LkBound::ReleasedCode)
        .unwrap();
    let mut llr_paper = Vec::new();
    let mut llr_code = Vec::new();
    for (r, x) in [[1.0, 0.0], [0.0, 1.0]].into_iter().enumerate() {
        let z: f64 = x[0] - x[1];
        let mode = z.max(0.0);
        // log q at its own mean with log-variance −9; conditional prior N(mode, 1).
        let log_q = -0.5 * (LN_2PI - 9.0);
        let kl1 = log_q + 0.5 * (LN_2PI + (z - mode).powi(2));
        let kl2 = log_q + 0.5 * (LN_2PI + z * z);
        let elbo = recon(x, z) - kl1 - kl2;
        assert!((l[r] - elbo).abs() < TOL, "L: {} vs {elbo}", l[r]);
        assert!((l2[r] - elbo).abs() < TOL);
        // L^{>1}: decode from the prior mode; the paper drops KL₁, the released code keeps it.
        let want_paper = recon(x, mode) - kl2;
        let want_code = recon(x, mode) - kl1 - kl2;
        assert!(
            (u_paper[r] - want_paper).abs() < TOL,
            "{} vs {want_paper}",
            u_paper[r]
        );
        assert!(
            (u_code[r] - want_code).abs() < TOL,
            "{} vs {want_code}",
            u_code[r]
        );
        llr_paper.push(l[r] - u_paper[r]);
        llr_code.push(l2[r] - u_code[r]);
    }
    // The released-code LLR is the pure reconstruction ratio: 0 for the matched input, 2 nats
    // (= recon with z₁ = −1 minus recon with z₁ = 0) for the mismatched one.
    assert!(llr_code[0].abs() < TOL);
    assert!((llr_code[1] - (recon([0., 1.], -1.0) - recon([0., 1.], 0.0))).abs() < TOL);
    // Larger LLR ⇒ more OOD, in both variants.
    assert!(llr_code[1] > llr_code[0] + 1.0);
    assert!(llr_paper[1] > llr_paper[0]);
}

#[test]
fn kl_per_stage_is_positive_for_a_sharp_posterior() {
    let m = toy();
    let xs: Array2<f32> = array![[1., 0.], [0., 1.]];
    let kl = m.kl_per_stage(xs.view()).unwrap();
    assert_eq!(kl.dim(), (2, 2));
    // log-variance −9 against unit-variance priors: ≈ 4.5 − ½ε² + ½(z − m)² nats per stage.
    assert!(kl.iter().all(|v| *v > 0.0 && v.is_finite()), "{kl:?}");
}
