//! Shared loaders for the integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use flate2::read::GzDecoder;
use ndarray::Array2;
use std::io::Read;

pub fn data_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Digits as (pixels / 16, labels).
pub fn digits() -> (Array2<f64>, Vec<usize>) {
    let f = std::fs::File::open(data_path("digits.csv.gz")).unwrap();
    let mut s = String::new();
    GzDecoder::new(f).read_to_string(&mut s).unwrap();
    let mut px = Vec::new();
    let mut y = Vec::new();
    for line in s.lines().filter(|l| !l.is_empty()) {
        let v: Vec<f64> = line.split(',').map(|t| t.trim().parse().unwrap()).collect();
        px.extend(v[..64].iter().map(|p| p / 16.0));
        y.push(v[64] as usize);
    }
    (Array2::from_shape_vec((y.len(), 64), px).unwrap(), y)
}

pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data_path(name)).unwrap()).unwrap()
}

pub fn matrix(v: &serde_json::Value) -> Array2<f64> {
    let rows = v.as_array().unwrap();
    let d = rows[0].as_array().unwrap().len();
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    Array2::from_shape_vec((rows.len(), d), flat).unwrap()
}

pub fn vec_f64(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

pub fn vec_usize(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}
