//! Pipeline bench: bundled FLAC bytes → `voxprobe-audio` decode (mono, 16 kHz, resampled where
//! the source is not) → `voxprobe-features` Kaldi fbank (80 mel bins). The parameter is the
//! number of files processed per iteration, cycling over the four bundled FLACs (three eSpeak NG
//! utterances at 16 kHz mono and one 44.1 kHz stereo 24-bit file); throughput is in input
//! samples at 16 kHz. `cargo bench --bench decode_fbank`.
// criterion_group!/criterion_main! generate undocumented pub fns.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use voxprobe::audio::{load_bytes, LoadOptions};
use voxprobe::features::{Fbank, FbankOptions};

/// The bundled FLACs (crates/voxprobe-audio/tests/data, see its PROVENANCE.md).
const FLACS: [&str; 4] = [
    "u001_espeak-en-us.flac",
    "u001_espeak-en-gb-scotland.flac",
    "u002_espeak-en-029.flac",
    "flac_s24_stereo_44k.flac",
];

fn flacs() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/voxprobe-audio/tests/data"
    );
    FLACS
        .iter()
        .map(|f| {
            let p = format!("{dir}/{f}");
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
            ((*f).to_string(), bytes)
        })
        .collect()
}

/// Decode + fbank of one file: returns the number of feature values (kept by criterion).
fn run(name: &str, bytes: &[u8], fbank: &Fbank, opts: &LoadOptions) -> usize {
    let wav = load_bytes(bytes, name, opts).unwrap();
    fbank.compute(&wav.samples, wav.sample_rate).unwrap().len()
}

fn bench(c: &mut Criterion) {
    let files = flacs();
    let opts = LoadOptions::default();
    let fbank = Fbank::new(FbankOptions::new().num_mel_bins(80)).unwrap();
    let mut g = c.benchmark_group("pipeline_decode_fbank");
    g.sample_size(20);
    for n in [1usize, 4, 16] {
        let batch: Vec<&(String, Vec<u8>)> = files.iter().cycle().take(n).collect();
        let samples: usize = batch
            .iter()
            .map(|(f, b)| load_bytes(b, f, &opts).unwrap().samples.len())
            .sum();
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_with_input(
            BenchmarkId::new("cpu_decode_fbank80", n),
            &batch,
            |b, batch| {
                b.iter(|| {
                    batch
                        .iter()
                        .map(|(f, bytes)| run(f, bytes, &fbank, &opts))
                        .sum::<usize>()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
