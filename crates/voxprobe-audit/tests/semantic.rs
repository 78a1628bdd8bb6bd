//! SemDist encoder parity against sentence-transformers 6.2.0 (torch 2.15.0, transformers 5.23.0)
//! on the tiny random checkpoints made by `scripts/gen_semantic_fixtures.py`.
#![cfg(feature = "encoder")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;
use voxprobe_audit::semantic::{
    cosine, semdist_raw, BertSentenceEncoder, EncoderOptions, SemDistOptions, SentenceEncoder,
};
use voxprobe_audit::Error;

/// Max abs difference allowed per embedding component: f32 matmuls in a different order
/// (candle vs torch) over 2 layers of width 32 stay ~1e-7; 1e-5 is the bound.
const EMBEDDING_TOL: f32 = 1e-5;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/semantic_reference.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn check(model: &str, batch: usize) {
    let r = reference();
    let sentences: Vec<&str> = r["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let want: Vec<Vec<f32>> = r["models"][model]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let dir = root().join("models").join(model);
    let enc = BertSentenceEncoder::load(dir.to_str().unwrap(), &EncoderOptions::default()).unwrap();
    let mut got = Vec::new();
    for chunk in sentences.chunks(batch) {
        got.extend(enc.encode(chunk).unwrap());
    }
    assert_eq!(got.len(), want.len());
    let mut max = 0f32;
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), w.len(), "{model} sentence {k}: dimension");
        for (a, b) in g.iter().zip(w) {
            max = max.max((a - b).abs());
        }
    }
    assert!(
        max <= EMBEDDING_TOL,
        "{model} batch {batch}: max abs diff {max}"
    );
    println!("{model} batch {batch}: max abs diff {max:e}");
}

#[test]
fn tiny_bert_matches_sentence_transformers() {
    // One batch of all 20 (as the reference was made) and batches of 3 (other padding).
    check("tiny-bert-sentence", 20);
    check("tiny-bert-sentence", 3);
}

#[test]
fn tiny_roberta_matches_sentence_transformers() {
    check("tiny-roberta-sentence", 20);
    check("tiny-roberta-sentence", 1);
}

#[test]
fn semdist_uses_the_encoder() {
    let dir = root().join("models/tiny-bert-sentence");
    let enc = BertSentenceEncoder::load(dir.to_str().unwrap(), &EncoderOptions::default()).unwrap();
    let d = semdist_raw(
        &enc,
        &["the cat sat on the mat", "hello world"],
        &["the cat sat on the mat", "the dog sat"],
        &SemDistOptions::default(),
    )
    .unwrap();
    assert!(d[0].abs() < 1e-6);
    let e = enc.encode(&["hello world", "the dog sat"]).unwrap();
    assert!((d[1] - (1.0 - cosine(&e[0], &e[1]))).abs() < 1e-12);
    assert!(enc.describe().contains("L2-normalised"));
}

#[test]
fn load_errors_name_the_problem() {
    let e = BertSentenceEncoder::load(
        "no-such-org/no-such-model",
        &EncoderOptions::default()
            .offline(true)
            .cache_dir(std::env::temp_dir().join("voxprobe-empty-hub-cache")),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::Encoder { .. }), "{e}");
    assert!(e.to_string().contains("offline"));
    let e = BertSentenceEncoder::load("not a path or id", &EncoderOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, Error::Encoder { .. }));
    // A directory without config.json.
    let d = root().join("crates/voxprobe-audit/tests/data");
    let e = BertSentenceEncoder::load(d.to_str().unwrap(), &EncoderOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("config.json"), "{e}");
}
