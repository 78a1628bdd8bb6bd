//! Forward pass of a wav2vec2-base-geometry encoder (12 × 768, 512-channel conv stack, random
//! weights) on 1 s of audio, batch 1, CPU (and CUDA with the `cuda` feature).
//! Reference timings for PyTorch: `scripts/bench_ssl_reference.py` (same geometry, same input).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use voxprobe_ssl::{Config, ForwardOptions, SslModel};

/// Serves seeded random weights for any requested key (timings do not depend on values).
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

fn base_model(dev: &Device) -> SslModel {
    // CPU randn cannot be seeded in candle; timings do not depend on the values.
    let _ = dev.set_seed(0);
    let cfg =
        Config::from_json_str(r#"{"model_type": "wav2vec2", "architectures": ["Wav2Vec2Model"]}"#)
            .unwrap();
    let vb = VarBuilder::from_backend(Box::new(RandomWeights), DType::F32, dev.clone());
    SslModel::load(vb, &cfg).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut devices = vec![("cpu", Device::Cpu)];
    if let Ok(d) = Device::new_cuda(0) {
        devices.push(("cuda", d));
    }
    for (tag, dev) in devices {
        let model = base_model(&dev);
        let mut g = c.benchmark_group(format!("{tag}_wav2vec2_base_forward"));
        g.sample_size(10);
        let secs = 1usize;
        let x = Tensor::randn(0f32, 1.0, (1, 16_000 * secs), &dev).unwrap();
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{secs}s")),
            &x,
            |b, x| {
                b.iter(|| {
                    let out = model.forward(x, None, &ForwardOptions::default()).unwrap();
                    // sync before the clock stops
                    out.last_hidden_state
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
            },
        );
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
