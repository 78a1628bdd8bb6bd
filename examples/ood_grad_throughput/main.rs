//! Per-example gradient throughput of the VAE ELBO (voxprobe-ood `Hvae`, one stage, latent 16,
//! hidden 256, 784 Bernoulli inputs): the batched outer-product path and the generic per-example
//! candle autograd path. Prints one JSON line; `scripts/bench_ood_grad_vs_torch.sh` runs it next
//! to the PyTorch `torch.func` reference.
//!
//! `cargo run --release --example ood_grad_throughput --no-default-features --features ood`

use std::time::Instant;

use anyhow::Result;
use candle_core::Device;
use clap::Parser;
use ndarray::{s, Array2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe::ood::{Autograd, DensityModel, HvaeParams};

#[derive(Parser)]
struct Args {
    /// Examples for the batched path.
    #[arg(long, default_value_t = 2048)]
    n: usize,
    /// Examples for the one-backward-per-example autograd path (slow).
    #[arg(long, default_value_t = 256)]
    n_autograd: usize,
    /// Rows per batched call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let model = HvaeParams::default()
        .latent(vec![16])
        .hidden(256)
        .init(784, &Device::Cpu)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let x = Array2::from_shape_fn((a.n.max(a.n_autograd), 784), |_| {
        f32::from(u8::from(rng.random::<f32>() < 0.3))
    });
    // warm-up
    model.log_prob_and_grad(x.slice(s![0..a.batch, ..]))?;
    let t0 = Instant::now();
    let mut checksum = 0.0f64;
    let mut start = 0;
    while start < a.n {
        let end = (start + a.batch).min(a.n);
        let (_, g) = model.log_prob_and_grad(x.slice(s![start..end, ..]))?;
        checksum += g.iter().map(|&v| f64::from(v)).sum::<f64>();
        start = end;
    }
    let batched = a.n as f64 / t0.elapsed().as_secs_f64();
    let ag = Autograd::new(model);
    let t0 = Instant::now();
    ag.log_prob_and_grad(x.slice(s![0..a.n_autograd, ..]))?;
    let autograd = a.n_autograd as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"impl": "voxprobe-ood Hvae (candle 0.11.1, CPU)", "n": a.n, "batch": a.batch,
            "n_params": ag.n_params(), "batched_examples_per_s": batched,
            "autograd_examples_per_s": autograd, "checksum": checksum})
    );
    Ok(())
}
