//! Criterion benches of k-means fits (fixed seeds, fixed initial centres and iteration count so
//! every sample does the same work).
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::{Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe_kmex::{Init, KMeansParams};

fn data(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| rng.random::<f64>())
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_kmeans_lloyd_10iter");
    g.sample_size(10);
    for &(n, d, k) in &[(20_000usize, 64usize, 50usize), (100_000, 16, 256)] {
        let x = data(n, d, 0);
        let init = x.select(Axis(0), &(0..k).map(|i| i * (n / k)).collect::<Vec<_>>());
        let p = KMeansParams::new(k)
            .init(Init::Centres(init))
            .max_iter(10)
            .tol(0.0);
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}x{d}_k{k}")),
            &x,
            |b, x| b.iter(|| p.fit(x.view()).map(|m| m.inertia())),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
