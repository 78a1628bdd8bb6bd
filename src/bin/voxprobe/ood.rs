//! `voxprobe ood`: a diagonal GMM on in-distribution embeddings, Bergamin et al.'s typicality
//! and score tests with Fisher's combination, Benjamini–Hochberg over the test set.

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use ndarray::Array2;
use serde_json::json;
use voxprobe::ood::{stats::benjamini_hochberg, CalibrationParams, GmmParams};

use crate::matrix::MatrixStore;

/// `ood` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// In-distribution embeddings (manifest) to fit the density model on.
    #[arg(long)]
    train: PathBuf,
    /// Held-out in-distribution embeddings for the null distribution; default: every second
    /// utterance of --train (the others fit the model).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Embeddings to test.
    #[arg(long)]
    test: PathBuf,
    /// GMM components.
    #[arg(long, default_value_t = 1)]
    components: usize,
    /// Benjamini–Hochberg FDR level over the test utterances' Fisher p-values.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Seed (GMM initialisation).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (ood.json, ood.jsonl).
    #[arg(long)]
    out: PathBuf,
}

fn pooled_f32(store: &mut MatrixStore, which: impl Fn(usize) -> bool) -> Result<Array2<f32>> {
    let mut rows = Vec::new();
    for k in 0..store.utterances.len() {
        if which(k) {
            #[allow(clippy::cast_possible_truncation)]
            rows.extend(store.pooled(k)?.into_iter().map(|v| v as f32));
        }
    }
    let d = store.dim();
    Ok(Array2::from_shape_vec((rows.len() / d.max(1), d), rows)?)
}

/// Runs `ood`: diagonal GMM on mean-pooled in-distribution embeddings, Bergamin et al.'s
/// typicality and score tests with Fisher's combination, BH over the test set.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let mut train_store = MatrixStore::read(&a.train)?;
    let mut test_store = MatrixStore::read(&a.test)?;
    ensure!(
        train_store.dim() == test_store.dim(),
        "--train has dim {}, --test has dim {}",
        train_store.dim(),
        test_store.dim()
    );
    let (train, val) = match &a.val {
        Some(v) => {
            let mut vs = MatrixStore::read(v)?;
            ensure!(
                vs.dim() == train_store.dim(),
                "--val dim differs from --train"
            );
            (
                pooled_f32(&mut train_store, |_| true)?,
                pooled_f32(&mut vs, |_| true)?,
            )
        }
        None => (
            pooled_f32(&mut train_store, |k| k % 2 == 0)?,
            pooled_f32(&mut train_store, |k| k % 2 == 1)?,
        ),
    };
    ensure!(
        train.nrows() >= a.components && val.nrows() >= 1,
        "need at least --components ({}) fitting utterances and one validation utterance \
         (have {} and {})",
        a.components,
        train.nrows(),
        val.nrows()
    );
    let test = pooled_f32(&mut test_store, |_| true)?;
    let gmm = GmmParams::new(a.components)
        .seed(a.seed)
        .fit(train.view())?;
    let cal = CalibrationParams::default().fit(&gmm, train.view(), val.view())?;
    let stats = cal.statistics(&gmm, test.view())?;
    let p: Vec<f64> = stats.iter().map(|s| s.p_fisher).collect();
    let flags = benjamini_hochberg(&p, a.alpha)?;
    let mut lines = String::new();
    for ((u, s), f) in test_store.utterances.iter().zip(&stats).zip(&flags) {
        lines.push_str(&serde_json::to_string(&json!({
            "id": u.id,
            "log_prob": s.log_prob,
            "typicality": s.typicality,
            "score": s.score,
            "p_typicality": s.p_typicality,
            "p_score": s.p_score,
            "fisher": s.fisher,
            "p_fisher": s.p_fisher,
            "ood": f,
        }))?);
        lines.push('\n');
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("ood.jsonl"), lines.as_bytes())?;
    let flagged = flags.iter().filter(|&&f| f).count();
    let summary = json!({
        "command": "ood",
        "fit_utterances": train.nrows(),
        "val_utterances": val.nrows(),
        "test_utterances": test.nrows(),
        "components": a.components,
        "alpha": a.alpha,
        "flagged": flagged,
        "out": a.out.display().to_string(),
    });
    let mut s = serde_json::to_string_pretty(&summary)?;
    s.push('\n');
    std::fs::write(a.out.join("ood.json"), s.as_bytes())?;
    Ok(summary)
}
