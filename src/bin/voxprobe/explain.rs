//! `voxprobe explain`: a KMEx head on utterance embeddings, decisions and per-frame evidence.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use ndarray::Array2;
use serde_json::json;
use voxprobe::kmex::{evidence_map, FeatureMap, KmexHeadParams};

use crate::matrix::MatrixStore;

/// Reads `id<TAB>label` lines (blank lines skipped).
fn read_labels(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((id, label)) = line.split_once(|c: char| c.is_whitespace()) else {
            bail!("{}:{}: expected `<id> <label>`", path.display(), i + 1);
        };
        let label = label.trim();
        ensure!(
            !label.is_empty(),
            "{}:{}: empty label",
            path.display(),
            i + 1
        );
        if out.insert(id.to_string(), label.to_string()).is_some() {
            bail!("{}:{}: duplicate id {id:?}", path.display(), i + 1);
        }
    }
    ensure!(!out.is_empty(), "{}: no labels", path.display());
    Ok(out)
}

fn matrix(rows: &[Vec<f64>]) -> Result<Array2<f64>> {
    let d = rows.first().map_or(0, Vec::len);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Ok(Array2::from_shape_vec((rows.len(), d), flat)?)
}

/// `explain` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Embeddings manifest (`embeddings.json` from `voxprobe embed`, merged).
    #[arg(long)]
    embeddings: PathBuf,
    /// Labels: `id<TAB>label` (utterances without a label are left out and counted).
    #[arg(long)]
    labels: PathBuf,
    /// Prototypes per class.
    #[arg(long, default_value_t = 2)]
    prototypes: usize,
    /// Hold out every k-th labelled utterance (manifest order) for a test accuracy; 0 = none.
    #[arg(long, default_value_t = 0)]
    holdout_every: usize,
    /// k-means seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory (explain.json, evidence.jsonl).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `explain`: a KMEx head on mean-pooled utterance embeddings, and per-frame evidence maps
/// (frame t's share of the margin between the winning and the best rival prototype).
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let mut store = MatrixStore::read(&a.embeddings)?;
    let labels = read_labels(&a.labels)?;
    let classes: Vec<String> = {
        let mut c: Vec<String> = labels.values().cloned().collect();
        c.sort();
        c.dedup();
        c
    };
    let class_of: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut items = Vec::new();
    let mut unlabelled = 0;
    for (k, u) in store.utterances.iter().enumerate() {
        match labels.get(&u.id) {
            Some(l) => items.push((k, class_of[l.as_str()])),
            None => unlabelled += 1,
        }
    }
    ensure!(
        !items.is_empty(),
        "no utterance of {} has a label in {}",
        a.embeddings.display(),
        a.labels.display()
    );
    let is_test = |j: usize| a.holdout_every > 0 && j % a.holdout_every == a.holdout_every - 1;
    let pooled: Vec<Vec<f64>> = items
        .iter()
        .map(|&(k, _)| store.pooled(k))
        .collect::<Result<_>>()?;
    let train: Vec<usize> = (0..items.len()).filter(|&j| !is_test(j)).collect();
    let z = matrix(&train.iter().map(|&j| pooled[j].clone()).collect::<Vec<_>>())?;
    let y: Vec<usize> = train.iter().map(|&j| items[j].1).collect();
    let head = KmexHeadParams::new()
        .n_prototypes(a.prototypes)
        .seed(a.seed)
        .fit(z.view(), &y)
        .context("fitting the KMEx head (each class needs at least --prototypes utterances)")?;
    let mut lines = String::new();
    let (mut correct, mut n) = ([0usize; 2], [0usize; 2]);
    let d = store.dim();
    for (j, &(k, class)) in items.iter().enumerate() {
        let rows = store.rows(k)?;
        let u = &store.utterances[k];
        let frames = rows.len() / d.max(1);
        let phi = FeatureMap::new(
            Array2::from_shape_vec((frames, d), rows.iter().map(|&v| f64::from(v)).collect())?,
            1,
            frames,
        )?;
        let ev = evidence_map(&head, &phi)?;
        let split = usize::from(is_test(j));
        n[split] += 1;
        correct[split] += usize::from(ev.decision.class == class);
        lines.push_str(&serde_json::to_string(&json!({
            "id": u.id,
            "split": if split == 1 { "test" } else { "train" },
            "label": classes[class],
            "predicted": classes[ev.decision.class],
            "margin": ev.decision.margin,
            "winner_prototype": ev.decision.winner,
            "rival_prototype": ev.decision.rival,
            "evidence": ev.map,
        }))?);
        lines.push('\n');
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("evidence.jsonl"), lines.as_bytes())?;
    #[allow(clippy::cast_precision_loss)]
    let acc = |s: usize| (n[s] > 0).then(|| correct[s] as f64 / n[s] as f64);
    let protos: Vec<serde_json::Value> = head
        .prototypes()
        .rows()
        .into_iter()
        .enumerate()
        .map(|(p, row)| {
            let nearest = head.nearest_training_examples()[p];
            json!({
                "class": classes[head.prototype_classes()[p]],
                "usage": head.usage()[p],
                "nearest_utterance": store.utterances[items[train[nearest]].0].id,
                "vector": row.to_vec(),
            })
        })
        .collect();
    let report = json!({
        "classes": classes,
        "prototypes_per_class": a.prototypes,
        "train_utterances": n[0],
        "test_utterances": n[1],
        "unlabelled_utterances": unlabelled,
        "train_accuracy": acc(0),
        "test_accuracy": acc(1),
        "diversity": head.diversity(),
        "prototypes": protos,
    });
    let mut s = serde_json::to_string_pretty(&report)?;
    s.push('\n');
    std::fs::write(a.out.join("explain.json"), s.as_bytes())?;
    Ok(json!({
        "command": "explain",
        "classes": classes.len(),
        "train_utterances": n[0],
        "test_utterances": n[1],
        "train_accuracy": acc(0),
        "test_accuracy": acc(1),
        "out": a.out.display().to_string(),
    }))
}
