//! Per-example gradient throughput of the VAE ELBO (voxprobe-ood `Hvae`, one stage, latent 16,
//! hidden 256, 784 Bernoulli inputs): the analytic batched path (`Hvae`'s own
//! `DensityModel` impl) and the generic per-example candle autograd loop (what `Autograd<Hvae>`
//! does). Prints one JSON line; `scripts/bench_ood_grad_vs_torch.sh` runs it next to the PyTorch
//! `torch.func` reference on the same weights, inputs and noise (`--data`, a safetensors file
//! written by `scripts/bench_ood_grad_vs_torch.py --export`).
//!
//! `cargo run --release --example ood_grad_throughput --no-default-features --features ood -- --data FILE`
//! (without `--data`: our own init, random inputs and the model's per-example noise).

use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::Parser;
use ndarray::{s, Array2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe::ood::{DensityModel, Hvae, HvaeParams};

#[derive(Parser)]
struct Args {
    /// Shared inputs (weights, `x`, `eps.0`) from `bench_ood_grad_vs_torch.py --export`.
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Examples for the analytic batched path.
    #[arg(long, default_value_t = 2048)]
    n: usize,
    /// Examples for the one-backward-per-example autograd loop (slow).
    #[arg(long, default_value_t = 256)]
    n_autograd: usize,
    /// Rows per batched call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

fn arr2(t: &Tensor) -> Result<Array2<f32>> {
    let (r, c) = t.dims2()?;
    let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Array2::from_shape_vec((r, c), v)?)
}

fn main() -> Result<()> {
    let a = Args::parse();
    let params = HvaeParams::default().latent(vec![16]).hidden(256);
    let (model, x, eps) = match &a.data {
        Some(path) => {
            let t = candle_core::safetensors::load(path, &Device::Cpu)
                .with_context(|| format!("reading {}", path.display()))?;
            let x = arr2(t.get("x").context("no x")?)?;
            let eps = arr2(t.get("eps.0").context("no eps.0")?)?;
            (Hvae::from_tensors(&params, 784, &t, &Device::Cpu)?, x, eps)
        }
        None => {
            let m = params.init(784, &Device::Cpu)?;
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
            let x = Array2::from_shape_fn((a.n.max(a.n_autograd), 784), |_| {
                f32::from(u8::from(rng.random::<f32>() < 0.3))
            });
            let eps = m.noise(x.view())?.remove(0);
            (m, x, eps)
        }
    };
    let n = a.n.min(x.nrows());
    let n_ag = a.n_autograd.min(n);
    let grads = |lo: usize, hi: usize| {
        model.elbo_and_grad_with_noise(
            x.slice(s![lo..hi, ..]),
            &[eps.slice(s![lo..hi, ..]).to_owned()],
        )
    };
    grads(0, a.batch.min(n))?; // warm-up
                               // Only the gradient computation is timed (the f64 checksums are not), on both sides.
    let mut elapsed = 0.0f64;
    let (mut checksum, mut checksum_head) = (0.0f64, 0.0f64);
    let mut start = 0;
    while start < n {
        let end = (start + a.batch).min(n);
        let t0 = Instant::now();
        let (_, g) = grads(start, end)?;
        elapsed += t0.elapsed().as_secs_f64();
        checksum += g.iter().map(|&v| f64::from(v)).sum::<f64>();
        for (i, row) in g.rows().into_iter().enumerate() {
            if start + i < n_ag {
                checksum_head += row.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
        }
        start = end;
    }
    let analytic = n as f64 / elapsed;
    // Generic path: one forward + backward per example through candle autograd.
    let mut elapsed = 0.0f64;
    let mut checksum_ag = 0.0f64;
    for i in 0..n_ag {
        let t0 = Instant::now();
        let xi = Tensor::from_vec(x.row(i).to_vec(), (1, 784), &Device::Cpu)?;
        let ei = Tensor::from_vec(eps.row(i).to_vec(), (1, eps.ncols()), &Device::Cpu)?;
        let g = model.elbo_tensor(&xi, &[ei])?.sum_all()?.backward()?;
        elapsed += t0.elapsed().as_secs_f64();
        for v in model.vars() {
            if let Some(gv) = g.get(v.as_tensor()) {
                checksum_ag += gv.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
            }
        }
    }
    let autograd = n_ag as f64 / elapsed;
    println!(
        "{}",
        serde_json::json!({"impl": "voxprobe-ood Hvae (candle 0.11.1, CPU)", "n": n, "batch": a.batch,
            "n_autograd": n_ag, "n_params": model.n_params(),
            "analytic_examples_per_s": analytic, "autograd_examples_per_s": autograd,
            "checksum": checksum, "checksum_head": checksum_head, "checksum_autograd": checksum_ag})
    );
    Ok(())
}
