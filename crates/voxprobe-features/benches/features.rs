//! Criterion benches: Kaldi fbank and MFCC on 10 s of real speech at 16 kHz (a LibriVox clip
//! tiled), single-threaded and with the default rayon pool. `scripts/bench_features.sh` times
//! torchaudio on the same input in the same run and prints the ratios.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use voxprobe_features::{Fbank, FbankOptions, Mfcc, MfccOptions};

fn speech(seconds: usize) -> Vec<f32> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/librivox_0930.wav");
    let clip: Vec<f32> = hound::WavReader::open(path)
        .unwrap()
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()))
        .collect();
    clip.iter()
        .copied()
        .cycle()
        .take(seconds * 16_000)
        .collect()
}

/// One feature extractor under test: returns the number of output values.
type Extractor<'a> = dyn Fn(&[f32]) -> usize + Sync + 'a;

fn bench(c: &mut Criterion) {
    let x = speech(10);
    let fbank = Fbank::new(FbankOptions::new()).unwrap();
    let fbank80 = Fbank::new(FbankOptions::new().num_mel_bins(80)).unwrap();
    let mfcc = Mfcc::new(MfccOptions::new()).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("kaldi_10s");
    g.throughput(Throughput::Elements(x.len() as u64));
    let cases: Vec<(&str, Box<Extractor<'_>>)> = vec![
        (
            "fbank23",
            Box::new(|x| fbank.compute(x, 16_000).unwrap().len()),
        ),
        (
            "fbank80",
            Box::new(|x| fbank80.compute(x, 16_000).unwrap().len()),
        ),
        (
            "mfcc13",
            Box::new(|x| mfcc.compute(x, 16_000).unwrap().len()),
        ),
    ];
    for (name, f) in &cases {
        g.bench_with_input(
            BenchmarkId::new(format!("cpu_{name}"), "1thread"),
            &x,
            |b, x| b.iter(|| one.install(|| f(x))),
        );
        g.bench_with_input(
            BenchmarkId::new(format!("cpu_{name}"), "pool"),
            &x,
            |b, x| b.iter(|| f(x)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
