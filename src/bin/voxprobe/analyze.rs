//! Corpus-level commands: `audit`, `explain`, `ood`, `merge`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use ndarray::Array2;
use serde_json::json;
use voxprobe::audit::audit::{audit as run_audit, read_kaldi, AuditOptions};
use voxprobe::audit::Normalizer;
use voxprobe::kmex::{evidence_map, FeatureMap, KmexHeadParams};
use voxprobe::ood::{stats::benjamini_hochberg, CalibrationParams, GmmParams};

use crate::store::{merge_dir, write_atomic, MatrixStore};

/// `audit` arguments.
#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// References: `id<TAB>text` or `id<TAB>group<TAB>text`.
    #[arg(long)]
    refs: PathBuf,
    /// Hypotheses: `id<TAB>text` (e.g. `transcripts.tsv` from `voxprobe transcribe`).
    #[arg(long)]
    hyps: PathBuf,
    /// Output directory (report.json, utterances.jsonl, report.html).
    #[arg(long)]
    out: PathBuf,
    /// Normalisation: none, standard, or a comma list of lowercase, contractions,
    /// abbreviations, strip-punctuation, collapse-whitespace.
    #[arg(long, default_value = "none")]
    normalize: String,
    /// Score references without hypothesis as empty hypotheses instead of failing.
    #[arg(long)]
    allow_missing: bool,
    /// Bootstrap resamples per group.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs `audit`.
pub fn audit(a: &AuditArgs) -> Result<serde_json::Value> {
    let (utts, issues) = read_kaldi(&a.refs, &a.hyps, a.allow_missing)?;
    let opts = AuditOptions::default()
        .normalizer(Normalizer::parse(&a.normalize)?)
        .bootstrap_samples(a.bootstrap)
        .seed(a.seed);
    let pb = crate::run::progress(utts.len(), "audit");
    let result = run_audit(&utts, issues, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    result.write_dir(&a.out)?;
    let r = &result.report;
    Ok(json!({
        "command": "audit",
        "utterances": r.corpus.utterances,
        "wer": r.corpus.measures.wer,
        "cer": r.corpus.cer,
        "groups": r.groups.iter().map(|g| json!({"group": g.group, "wer": g.measures.wer})).collect::<Vec<_>>(),
        "out": a.out.display().to_string(),
    }))
}

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
pub struct ExplainArgs {
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
pub fn explain(a: &ExplainArgs) -> Result<serde_json::Value> {
    let store = MatrixStore::read(&a.embeddings)?;
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
    for (k, u) in store.manifest.utterances.iter().enumerate() {
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
        let u = &store.manifest.utterances[k];
        let rows = store.rows(k)?;
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
    write_atomic(&a.out.join("evidence.jsonl"), lines.as_bytes())?;
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
                "nearest_utterance": store.manifest.utterances[items[train[nearest]].0].id,
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
    write_atomic(&a.out.join("explain.json"), s.as_bytes())?;
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

/// `ood` arguments.
#[derive(clap::Args, Debug)]
pub struct OodArgs {
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

fn pooled_f32(store: &MatrixStore, which: impl Fn(usize) -> bool) -> Result<Array2<f32>> {
    let mut rows = Vec::new();
    for k in 0..store.manifest.utterances.len() {
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
pub fn ood(a: &OodArgs) -> Result<serde_json::Value> {
    let train_store = MatrixStore::read(&a.train)?;
    let test_store = MatrixStore::read(&a.test)?;
    ensure!(
        train_store.dim() == test_store.dim(),
        "--train has dim {}, --test has dim {}",
        train_store.dim(),
        test_store.dim()
    );
    let (train, val) = match &a.val {
        Some(v) => {
            let vs = MatrixStore::read(v)?;
            ensure!(
                vs.dim() == train_store.dim(),
                "--val dim differs from --train"
            );
            (
                pooled_f32(&train_store, |_| true)?,
                pooled_f32(&vs, |_| true)?,
            )
        }
        None => (
            pooled_f32(&train_store, |k| k % 2 == 0)?,
            pooled_f32(&train_store, |k| k % 2 == 1)?,
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
    let test = pooled_f32(&test_store, |_| true)?;
    let gmm = GmmParams::new(a.components)
        .seed(a.seed)
        .fit(train.view())?;
    let cal = CalibrationParams::default().fit(&gmm, train.view(), val.view())?;
    let stats = cal.statistics(&gmm, test.view())?;
    let p: Vec<f64> = stats.iter().map(|s| s.p_fisher).collect();
    let flags = benjamini_hochberg(&p, a.alpha)?;
    let mut lines = String::new();
    for ((u, s), f) in test_store
        .manifest
        .utterances
        .iter()
        .zip(&stats)
        .zip(&flags)
    {
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
    write_atomic(&a.out.join("ood.jsonl"), lines.as_bytes())?;
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
    write_atomic(&a.out.join("ood.json"), s.as_bytes())?;
    Ok(summary)
}

/// `merge` arguments.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// Directory holding `<stem>.shard-I-of-N.json` manifests and their data.
    dir: PathBuf,
}

/// Runs `merge`.
pub fn merge(a: &MergeArgs) -> Result<serde_json::Value> {
    let merged = merge_dir(&a.dir)?;
    Ok(json!({
        "command": "merge",
        "merged": merged.iter().map(|(s, n)| json!({"stem": s, "shards": n})).collect::<Vec<_>>(),
        "dir": a.dir.display().to_string(),
    }))
}
