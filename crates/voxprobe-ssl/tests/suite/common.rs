//! Shared helpers: fixture paths and tensor comparison.

use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;

/// Parity tolerance against the f32 transformers references (spec §16: atol = rtol = 1e-4;
/// a correct port reaches ~1e-5, so this leaves room for summation-order differences only).
pub const ATOL: f32 = 1e-4;
/// Relative part of the same tolerance.
pub const RTOL: f32 = 1e-4;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn model_dir(name: &str) -> PathBuf {
    repo_root().join("models").join(format!("tiny-{name}"))
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn load_st(path: PathBuf) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn reference(name: &str) -> HashMap<String, Tensor> {
    load_st(data_dir().join(format!("{name}.reference.safetensors")))
}

pub fn feature_extractor() -> HashMap<String, Tensor> {
    load_st(data_dir().join("feature_extractor.safetensors"))
}

/// Max |a − b|, after asserting shapes and the allclose condition |a − b| ≤ ATOL + RTOL·|b|.
pub fn assert_close(what: &str, actual: &Tensor, expected: &Tensor) -> f32 {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shape");
    let a = actual
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let e = expected
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let mut max = 0f32;
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let d = (x - y).abs();
        assert!(
            d <= ATOL + RTOL * y.abs(),
            "{what}: element {i}: {x} vs {y} (diff {d})"
        );
        max = max.max(d);
    }
    max
}

/// A fresh, empty directory under the system temp dir, unique per test and process.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("voxprobe-ssl-{tag}-{}", std::process::id()));
    if d.exists() {
        std::fs::remove_dir_all(&d).unwrap();
    }
    std::fs::create_dir_all(&d).unwrap();
    d
}
