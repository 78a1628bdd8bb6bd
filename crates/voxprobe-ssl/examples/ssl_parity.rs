//! Parity of any build (CPU, or CUDA with `--features cuda`) against the committed
//! transformers fixtures: loads every `models/tiny-*` checkpoint that has a reference in
//! `crates/voxprobe-ssl/tests/data/` on the chosen device and dtype, runs the four fixture
//! cases, and compares every intermediate, hidden state, output and CTC logits with the
//! integration tests' allclose condition |a − b| ≤ ATOL + RTOL·|b|. Prints one line per model
//! and exits non-zero on any failure. `scripts/bench_ssl_gpu.sh` runs it on a GPU machine.
//!
//! ```text
//! ssl_parity [--device cpu|cuda] [--dtype f32|bf16|f16] [--engine auto|candle|cpu] [REPO_ROOT]
//! ```
//! f32 uses the tests' tolerance (1e-4); bf16/f16 use 5e-2 (half-precision rounding), reported
//! as a smoke check, not parity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use voxprobe_ssl::candle_core::{DType, Device, Tensor};
use voxprobe_ssl::{EngineKind, ForwardOptions, LayerSelection, LoadOptions, Pretrained};

/// The integration tests' f32 tolerance (`tests/suite/common.rs`).
const ATOL_F32: f32 = 1e-4;
/// Half precision: about 2⁻⁸ relative rounding per op, accumulated over a few layers.
const ATOL_HALF: f32 = 5e-2;

fn max_violation(a: &Tensor, e: &Tensor, tol: f32) -> anyhow::Result<(f32, bool)> {
    anyhow::ensure!(
        a.dims() == e.dims(),
        "shape {:?} vs {:?}",
        a.dims(),
        e.dims()
    );
    let a = a.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let e = e.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut max = 0f32;
    let mut ok = true;
    for (x, y) in a.iter().zip(&e) {
        let d = (x - y).abs();
        ok &= d <= tol + tol * y.abs();
        max = max.max(d);
    }
    Ok((max, ok))
}

fn main() -> anyhow::Result<()> {
    let mut device = Device::Cpu;
    let mut dtype = DType::F32;
    let mut engine = EngineKind::Auto;
    let mut root = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--device" => {
                device = match args.next().as_deref() {
                    Some("cuda") => Device::new_cuda(0)?,
                    _ => Device::Cpu,
                }
            }
            "--dtype" => {
                dtype = match args.next().as_deref() {
                    Some("bf16") => DType::BF16,
                    Some("f16") => DType::F16,
                    _ => DType::F32,
                }
            }
            "--engine" => {
                engine = match args.next().as_deref() {
                    Some("candle") => EngineKind::Candle,
                    Some("cpu") => EngineKind::Cpu,
                    _ => EngineKind::Auto,
                }
            }
            other => root = PathBuf::from(other),
        }
    }
    let tol = if dtype == DType::F32 {
        ATOL_F32
    } else {
        ATOL_HALF
    };
    let data = root.join("crates/voxprobe-ssl/tests/data");
    let fe = voxprobe_ssl::candle_core::safetensors::load(
        data.join("feature_extractor.safetensors"),
        &Device::Cpu,
    )?;
    let mut failed = 0;
    let mut names: Vec<String> = std::fs::read_dir(&data)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".reference.safetensors")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    for name in names {
        let r: HashMap<String, Tensor> = voxprobe_ssl::candle_core::safetensors::load(
            data.join(format!("{name}.reference.safetensors")),
            &Device::Cpu,
        )?;
        let opts = LoadOptions::default()
            .device(device.clone())
            .dtype(dtype)
            .engine(engine);
        let p = Pretrained::from_dir(root.join(format!("models/tiny-{name}")), &opts)?;
        let mut worst = 0f32;
        let mut ok = true;
        for case in ["single", "single_b", "batch_masked", "batch_unmasked"] {
            let (x, mask) = match case {
                "single" => (fe["single.input_values"].clone(), None),
                "single_b" => (fe["single_b.input_values"].clone(), None),
                "batch_masked" => (
                    fe["batch.input_values"].clone(),
                    Some(fe["batch.attention_mask"].to_device(&device)?),
                ),
                _ => (fe["batch.input_values"].clone(), None),
            };
            let fwd = ForwardOptions::default()
                .hidden_states(LayerSelection::All)
                .intermediates(true);
            let out = p
                .model
                .forward(&x.to_device(&device)?, mask.as_ref(), &fwd)?;
            let mut got: Vec<(String, Tensor)> = vec![
                ("last_hidden_state".into(), out.last_hidden_state.clone()),
                (
                    "conv_features".into(),
                    out.conv_features.clone().expect("intermediates"),
                ),
                (
                    "projected_features".into(),
                    out.projected_features.clone().expect("intermediates"),
                ),
            ];
            for (i, h) in &out.hidden_states {
                got.push((format!("hidden_states.{i}"), h.clone()));
            }
            if let Some(l) = &out.logits {
                got.push(("logits".into(), l.clone()));
            }
            for (what, t) in got {
                let key = format!("{case}.{what}");
                let e = r
                    .get(&key)
                    .ok_or_else(|| anyhow::anyhow!("{name}: no {key}"))?;
                let (m, good) = max_violation(&t.to_device(&Device::Cpu)?, e, tol)?;
                worst = worst.max(m);
                if !good {
                    ok = false;
                    println!("  {name} {key}: max |diff| {m:.2e} beyond tolerance");
                }
            }
        }
        println!(
            "{name:24} {:?} {:?} engine {:?}: max |diff| {worst:.2e} {}",
            device.location(),
            dtype,
            p.model.engine(),
            if ok { "ok" } else { "FAIL" }
        );
        failed += usize::from(!ok);
    }
    anyhow::ensure!(failed == 0, "{failed} model(s) beyond tolerance");
    Ok(())
}
