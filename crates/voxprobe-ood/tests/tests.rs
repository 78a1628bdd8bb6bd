//! Integration tests of voxprobe-ood: exact Gaussian toy model (Bergamin et al. §4.3) and
//! analytic gradients checked against candle autograd, and the HVAE against PyTorch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod autograd;
mod llr_toy;
mod parity_torch;
mod toy;

use ndarray::Array2;
use rand::Rng;

/// Box–Muller standard normal (keeps rand_distr out of the dependency tree).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n × d` matrix of N(0, 1) draws (half-normal when `half`).
pub fn gaussian_rows(rng: &mut impl Rng, n: usize, d: usize, half: bool) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |_| {
        let v = normal(rng);
        (if half { v.abs() } else { v }) as f32
    })
}
