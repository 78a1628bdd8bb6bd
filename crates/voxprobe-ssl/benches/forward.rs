//! Forward pass of each family at its base geometry (transformers' default configs: 12 × 768,
//! 512-channel conv stack; random weights), plus the large stable-layer-norm wav2vec2 geometry
//! (24 × 1024), batch 1, CPU (and CUDA with the `cuda` feature). On CPU the f32 fast path is
//! timed, and for wav2vec2-base also the candle graph engine
//! (`EngineKind::Candle`) for comparison.
//! Side-by-side timings against PyTorch: `scripts/bench_ssl_vs_torch.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use voxprobe_ssl::{Config, EngineKind, ForwardOptions, SslModel};

/// Serves random weights for any requested key (timings do not depend on values).
struct RandomWeights;

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        s: Shape,
        _: &str,
        _: candle_nn::Init,
        dt: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        Tensor::randn(0f32, 0.05, s, dev)?.to_dtype(dt)
    }
    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("unchecked access to {name}")
    }
    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

/// (bench name, config.json, input seconds)
const MODELS: &[(&str, &str, &[usize])] = &[
    ("wav2vec2_base", r#"{"model_type": "wav2vec2"}"#, &[1, 10]),
    ("hubert_base", r#"{"model_type": "hubert"}"#, &[1]),
    ("wavlm_base", r#"{"model_type": "wavlm"}"#, &[1]),
    (
        "data2vec_audio_base",
        r#"{"model_type": "data2vec-audio"}"#,
        &[1],
    ),
    (
        "wav2vec2_large_stable",
        r#"{"model_type": "wav2vec2", "hidden_size": 1024, "num_hidden_layers": 24,
            "num_attention_heads": 16, "intermediate_size": 4096, "do_stable_layer_norm": true,
            "feat_extract_norm": "layer", "conv_bias": true}"#,
        &[1],
    ),
];

fn model(json: &str, dev: &Device, engine: EngineKind) -> SslModel {
    let cfg = Config::from_json_str(json).unwrap();
    let vb = VarBuilder::from_backend(Box::new(RandomWeights), DType::F32, dev.clone());
    SslModel::load_with(vb, &cfg, engine).unwrap()
}

fn run(model: &SslModel, x: &Tensor) -> f32 {
    let out = model.forward(x, None, &ForwardOptions::default()).unwrap();
    // sync before the clock stops
    out.last_hidden_state
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut devices = vec![("cpu", Device::Cpu)];
    if let Ok(d) = Device::new_cuda(0) {
        devices.push(("cuda", d));
    }
    for (tag, dev) in devices {
        for (name, json, secs) in MODELS {
            let m = model(json, &dev, EngineKind::Auto);
            let mut g = c.benchmark_group(format!("{tag}_{name}_forward"));
            g.sample_size(10);
            for &s in *secs {
                let x = Tensor::randn(0f32, 1.0, (1, 16_000 * s), &dev).unwrap();
                g.bench_with_input(BenchmarkId::from_parameter(format!("{s}s")), &x, |b, x| {
                    b.iter(|| run(&m, x))
                });
                if tag == "cpu" && *name == "wav2vec2_base" && s == 1 {
                    // the candle graph engine, for comparison with the CPU engine
                    let mc = model(json, &dev, EngineKind::Candle);
                    g.bench_with_input(
                        BenchmarkId::new("candle_path", format!("{s}s")),
                        &x,
                        |b, x| b.iter(|| run(&mc, x)),
                    );
                }
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
