//! Criterion bench: per-example gradients of the VAE ELBO (analytic batched path vs the
//! generic autograd loop) and of the analytic diagonal GMM.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use candle_core::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe_ood::{Autograd, DensityModel, GmmParams, HvaeParams};

fn bench(c: &mut Criterion) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let x = Array2::from_shape_fn((64, 784), |_| {
        f32::from(u8::from(rng.random::<f32>() < 0.3))
    });
    let vae = HvaeParams::default()
        .latent(vec![16])
        .init(784, &Device::Cpu)
        .unwrap();
    let mut g = c.benchmark_group("cpu_vae_per_example_grad");
    g.sample_size(10);
    for b in [16usize, 64] {
        g.throughput(Throughput::Elements(b as u64));
        g.bench_with_input(BenchmarkId::new("analytic", b), &b, |bn, &b| {
            bn.iter(|| {
                vae.log_prob_and_grad(x.slice(ndarray::s![0..b, ..]))
                    .unwrap()
            })
        });
    }
    let ag = Autograd::new(vae);
    g.throughput(Throughput::Elements(16));
    g.bench_function(BenchmarkId::new("autograd_loop", 16), |bn| {
        bn.iter(|| {
            ag.log_prob_and_grad(x.slice(ndarray::s![0..16, ..]))
                .unwrap()
        })
    });
    g.finish();
    let xg = x.mapv(|v| v * 0.9 + 0.05);
    let gmm = GmmParams::new(10).max_iter(5).fit(xg.view()).unwrap();
    let mut g = c.benchmark_group("cpu_gmm_per_example_grad");
    g.throughput(Throughput::Elements(64));
    g.bench_function(BenchmarkId::new("analytic_k10", 64), |bn| {
        bn.iter(|| gmm.log_prob_and_grad(xg.view()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
