//! Times a k-means fit on raw little-endian f64 files, for `scripts/bench_kmeans_vs_sklearn.py`.
//!
//! `kmeans_timing X.bin INIT.bin N D K MAX_ITER REPEATS` prints one JSON line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ndarray::Array2;
use std::time::Instant;
use voxprobe_kmex::{Init, KMeansParams};

fn read(path: &str, rows: usize, cols: usize) -> Array2<f64> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(b.len(), rows * cols * 8, "{path}: wrong size");
    let v: Vec<f64> = b
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Array2::from_shape_vec((rows, cols), v).unwrap()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let num = |i: usize| a[i].parse::<usize>().unwrap();
    let (n, d, k, iters, reps) = (num(3), num(4), num(5), num(6), num(7));
    let x = read(&a[1], n, d);
    let init = read(&a[2], k, d);
    let p = KMeansParams::new(k)
        .init(Init::Centres(init))
        .max_iter(iters)
        .tol(0.0);
    let mut best = f64::INFINITY;
    let mut m = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = p.fit(x.view()).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        m = Some(r);
    }
    let m = m.unwrap();
    println!(
        "{{\"seconds\": {best}, \"inertia\": {}, \"n_iter\": {}, \"threads\": {}}}",
        m.inertia(),
        m.n_iter(),
        rayon::current_num_threads()
    );
}
