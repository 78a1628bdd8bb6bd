//! Pipeline bench: bundled FLAC bytes → `voxprobe-audio` decode (mono, 16 kHz) →
//! `voxprobe-ssl` encoder forward with every hidden state, on the tiny generated checkpoint
//! `models/tiny-wav2vec2-base` (random weights: this times the pipeline, not a real model's
//! arithmetic; the real-size comparison with transformers is `scripts/bench_ssl_vs_torch.sh`).
//! The parameter is the batch size (utterances per forward, right-padded). CPU only; the
//! forward returns host-readable tensors, so the clock stops after the device work.
//! `cargo bench --bench decode_embed`.
// criterion_group!/criterion_main! generate undocumented pub fns.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use voxprobe::audio::{load_bytes, LoadOptions};
use voxprobe::ssl::{
    BatchOptions, ForwardOptions, LayerSelection, LoadOptions as ModelOptions, Pretrained,
};

/// The bundled 16 kHz speech FLACs (crates/voxprobe-audio/tests/data, see its PROVENANCE.md).
const FLACS: [&str; 3] = [
    "u001_espeak-en-us.flac",
    "u001_espeak-en-gb-scotland.flac",
    "u002_espeak-en-029.flac",
];

fn bench(c: &mut Criterion) {
    let root = env!("CARGO_MANIFEST_DIR");
    let files: Vec<(String, Vec<u8>)> = FLACS
        .iter()
        .map(|f| {
            let p = format!("{root}/crates/voxprobe-audio/tests/data/{f}");
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
            ((*f).to_string(), bytes)
        })
        .collect();
    let model = Pretrained::from_dir(
        format!("{root}/models/tiny-wav2vec2-base"),
        &ModelOptions::default(),
    )
    .unwrap();
    let audio_opts = LoadOptions::default();
    let batch_opts = BatchOptions::default();
    let fwd = ForwardOptions::default().hidden_states(LayerSelection::All);
    let mut g = c.benchmark_group("pipeline_decode_embed");
    g.sample_size(20);
    for n in [1usize, 3] {
        let batch = &files[..n];
        let samples: usize = batch
            .iter()
            .map(|(f, b)| load_bytes(b, f, &audio_opts).unwrap().samples.len())
            .sum();
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_with_input(
            BenchmarkId::new("cpu_decode_embed_tiny_wav2vec2", n),
            batch,
            |b, batch| {
                b.iter(|| {
                    let waves: Vec<Vec<f32>> = batch
                        .iter()
                        .map(|(f, bytes)| load_bytes(bytes, f, &audio_opts).unwrap().samples)
                        .collect();
                    let refs: Vec<&[f32]> = waves.iter().map(Vec::as_slice).collect();
                    let out = model.embed(&refs, &batch_opts, &fwd).unwrap();
                    // Reading a value back waits for the device, so the clock covers the forward.
                    out.last_hidden_state
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
