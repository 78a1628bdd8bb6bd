//! `voxprobe probe`: a cross-validated linear probe (voxprobe-probe) on utterance features.
//!
//! Inputs: one or more `--features` files — a CSV (`id,<feature columns…>`, e.g. eGeMAPS
//! `functionals.csv`) or an `embeddings.json` from `voxprobe embed`/`features` (frames are
//! mean-pooled per utterance) — and `--labels` (`id<TAB>label`). Folds: leave-one-group-out
//! over `--cv-groups` (`id<TAB>group`, e.g. speaker), else stratified k-fold (`--folds`).
//! Several `--features` (one per SSL layer) are probed in one run, with a UAR-by-layer plot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ndarray::Array2;
use serde_json::json;
use voxprobe::probe::{
    cross_validate, leave_one_group_out, parse_features_csv, parse_id_map, stratified_k_fold,
    uar_by_layer_svg, Dataset, LogisticRegressionParams, MissingClassPolicy, ProbeParams,
};

use crate::matrix::MatrixStore;

/// `probe` arguments.
#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// Features: a CSV (`id,f1,f2,…` with a header) or an `embeddings.json` (mean-pooled).
    /// Repeat for several layers / feature sets: each is probed with the same folds.
    #[arg(long, required = true)]
    features: Vec<PathBuf>,
    /// Labels: `id<TAB>label`. Feature rows without a label are left out and counted.
    #[arg(long)]
    labels: PathBuf,
    /// Groups for leave-one-group-out (`id<TAB>group`, e.g. speaker); without it, stratified
    /// k-fold.
    #[arg(long)]
    cv_groups: Option<PathBuf>,
    /// Folds of stratified k-fold (ignored with --cv-groups).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Inverse L2 strength of the logistic regression (scikit-learn's C).
    #[arg(long, default_value_t = 1.0)]
    c: f64,
    /// Fit folds whose training set lacks a class on the classes present (scikit-learn's
    /// behaviour) instead of stopping with an error.
    #[arg(long)]
    allow_missing_classes: bool,
    /// Output directory (probe.json, predictions.tsv, uar_by_layer.svg with several inputs).
    #[arg(long)]
    out: PathBuf,
}

fn read_text(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
}

/// Reads one feature set: ids and an `[n, d]` matrix.
fn read_features(p: &Path) -> Result<(Vec<String>, Array2<f64>)> {
    let is_csv = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let t = parse_features_csv(&read_text(p)?)
            .with_context(|| format!("parsing {}", p.display()))?;
        return Ok((t.ids, t.values));
    }
    let mut store = MatrixStore::read(p)?;
    let n = store.utterances.len();
    let d = store.dim();
    let mut flat = Vec::with_capacity(n * d);
    for k in 0..n {
        flat.extend(store.pooled(k)?);
    }
    let ids = store.utterances.iter().map(|u| u.id.clone()).collect();
    Ok((ids, Array2::from_shape_vec((n, d), flat)?))
}

/// Display name of a feature set: the file stem, or the parent directory for
/// `embeddings.json` (`out/emb-L3/embeddings.json` → `emb-L3`).
fn set_name(p: &Path) -> String {
    let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
    match stem.as_deref() {
        Some("embeddings" | "features" | "functionals") | None => {
            p.parent().and_then(|d| d.file_name()).map_or_else(
                || p.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        }
        Some(s) => s.to_string(),
    }
}

/// Runs `probe`.
pub fn run(a: &ProbeArgs) -> Result<serde_json::Value> {
    let labels = parse_id_map(&read_text(&a.labels)?, "labels")
        .with_context(|| format!("parsing {}", a.labels.display()))?;
    let groups = match &a.cv_groups {
        Some(p) => Some(
            parse_id_map(&read_text(p)?, "cv groups")
                .with_context(|| format!("parsing {}", p.display()))?,
        ),
        None => None,
    };
    let params = ProbeParams::new()
        .logistic(LogisticRegressionParams::new().c(a.c))
        .missing_class(if a.allow_missing_classes {
            MissingClassPolicy::FitPresent
        } else {
            MissingClassPolicy::Error
        });
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut sets = Vec::new();
    let mut layer_uar = Vec::new();
    let mut first_classes = 0;
    for (si, path) in a.features.iter().enumerate() {
        let (ids, x) = read_features(path)?;
        let ds = Dataset::join(&ids, x.view(), &labels, groups.as_deref())
            .with_context(|| format!("joining {} with {}", path.display(), a.labels.display()))?;
        let folds = match &ds.groups {
            Some(g) => leave_one_group_out(g)?,
            None => stratified_k_fold(&ds.y, a.folds)?,
        };
        let cv = cross_validate(ds.x.view(), &ds.y, &ds.classes, &folds, &params)
            .with_context(|| format!("probing {}", path.display()))?;
        let name = set_name(path);
        let mut tsv = String::from("id\tlabel\tpredicted\tfold\n");
        for (i, id) in ds.ids.iter().enumerate() {
            let pred = ds.classes.get(cv.predicted[i]).map_or("", String::as_str);
            let fold = folds.get(cv.fold_of[i]).map_or("", |f| f.name.as_str());
            writeln!(tsv, "{id}\t{}\t{pred}\t{fold}", ds.classes[ds.y[i]])?;
        }
        let file = if si == 0 {
            "predictions.tsv".to_string()
        } else {
            format!("predictions.{si}.tsv")
        };
        std::fs::write(a.out.join(&file), tsv)?;
        layer_uar.push((name.clone(), cv.pooled.uar));
        first_classes = first_classes.max(ds.classes.len());
        sets.push(json!({
            "name": name,
            "features": path.display().to_string(),
            "predictions": file,
            "n": ds.ids.len(),
            "dim": ds.x.ncols(),
            "unlabelled": ds.unlabelled,
            "classes": ds.classes,
            "cv": if ds.groups.is_some() { "leave-one-group-out".to_string() } else { format!("stratified-{}-fold", a.folds) },
            "uar": cv.pooled.uar,
            "accuracy": cv.pooled.accuracy,
            "macro_f1": cv.pooled.macro_f1,
            "mean_fold_uar": cv.mean_fold_uar,
            "confusion": cv.pooled.confusion,
            "folds": cv.folds,
        }));
    }
    let mut plot = None;
    if layer_uar.len() > 1 {
        #[allow(clippy::cast_precision_loss)]
        let chance = 1.0 / first_classes.max(1) as f64;
        let svg = uar_by_layer_svg(&layer_uar, chance, "probe UAR by feature set");
        std::fs::write(a.out.join("uar_by_layer.svg"), svg)?;
        plot = Some("uar_by_layer.svg");
    }
    let report = json!({
        "probe": "logistic regression (sklearn LogisticRegression() objective), standardised per training fold",
        "c": a.c,
        "sets": sets,
        "plot": plot,
    });
    std::fs::write(
        a.out.join("probe.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    let best = layer_uar
        .iter()
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(n, u)| json!({"name": n, "uar": u}));
    Ok(json!({
        "command": "probe",
        "out": a.out.display().to_string(),
        "sets": layer_uar.len(),
        "uar": layer_uar.iter().map(|(n, u)| json!({"name": n, "uar": u})).collect::<Vec<_>>(),
        "best": best,
    }))
}
