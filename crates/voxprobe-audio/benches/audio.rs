//! Micro-benchmarks: decode, downmix + resample, and streaming, on synthetic and fixture data.
//! The side-by-side comparison with sox on 10 minutes of FLAC is `scripts/bench_audio.sh`.
// criterion_group!/criterion_main! generate undocumented pub fns.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use voxprobe_audio::{
    decode_bytes, downmix, resample, write_wav_to, AudioStream, DecodeOptions, Downmix,
    ResampleQuality, StreamOptions, WavFormat,
};

/// Deterministic stereo test signal: two chirps, no RNG needed.
fn stereo(rate: u32, seconds: usize) -> Vec<f32> {
    let n = rate as usize * seconds;
    (0..n)
        .flat_map(|i| {
            let t = i as f32 / rate as f32;
            let l = 0.4 * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin();
            let r = 0.3 * (2.0 * std::f32::consts::PI * (90.0 + 500.0 * t) * t).sin();
            [l, r]
        })
        .collect()
}

fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    write_wav_to(&mut buf, samples, rate, 2, WavFormat::Pcm16).unwrap_or_default();
    buf.into_inner()
}

fn benches(c: &mut Criterion) {
    let seconds = 10;
    let mut g = c.benchmark_group("audio");
    g.sample_size(10);
    for rate in [44_100u32, 48_000] {
        let x = stereo(rate, seconds);
        let mono = downmix(&x, 2, Downmix::Mean).unwrap_or_default();
        g.throughput(Throughput::Elements((rate as usize * seconds) as u64));
        g.bench_with_input(
            BenchmarkId::new("cpu_resample_to_16k", rate),
            &mono,
            |b, m| b.iter(|| resample(m, rate, 16_000, ResampleQuality::High)),
        );
        let bytes = wav_bytes(&x, rate);
        g.bench_with_input(
            BenchmarkId::new("cpu_decode_wav_s16", rate),
            &bytes,
            |b, w| b.iter(|| decode_bytes(w, "bench.wav", &DecodeOptions::new())),
        );
        g.bench_with_input(
            BenchmarkId::new("cpu_stream_wav_to_16k", rate),
            &bytes,
            |b, w| {
                b.iter(|| -> usize {
                    AudioStream::from_bytes(w.clone(), "bench.wav", &StreamOptions::new())
                        .map(|s| s.map(|c| c.map_or(0, |c| c.len())).sum())
                        .unwrap_or(0)
                })
            },
        );
    }
    let flac = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/u001_espeak-en-us.flac"
    ))
    .unwrap_or_default();
    g.throughput(Throughput::Elements(54_594));
    g.bench_function("cpu_decode_flac_fixture", |b| {
        b.iter(|| decode_bytes(&flac, "bench.flac", &DecodeOptions::new()))
    });
    g.finish();
}

criterion_group!(audio, benches);
criterion_main!(audio);
