//! Speech-emotion probing with the EmoTale protocol: a linear probe (scikit-learn's
//! `LogisticRegression()` after per-fold standardisation, voxprobe-probe) on utterance features —
//! MFCC statistics, the eGeMAPS functionals implemented so far, and every hidden layer of an SSL
//! encoder, mean-pooled — scored by
//! leave-one-speaker-out unweighted average recall (UAR).
//!
//! ```text
//! cargo run --release --example ser_probe --no-default-features --features audio,features,ssl,probe
//! cargo run --release --example ser_probe --no-default-features --features audio,features,ssl,probe -- \
//!     --manifest /data/ravdess/manifest.tsv --model /models/wav2vec2-base
//! ```
//! Without `--manifest` it runs the two bundled, offline corpora: `enacted-synthetic`
//! (eSpeak NG prosody presets as "emotions", voices as speakers; SYNTHETIC) and
//! `accent-voices` (which of 7 synthetic voices speaks, leave-one-sentence-out). Writes
//! `summary.json` and `<corpus>_uar_by_layer.svg` under `--out` and prints one JSON line.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use ndarray::Array2;
use serde_json::json;
use voxprobe::features::{Egemaps, Mfcc, MfccOptions};
use voxprobe::probe::{
    cross_validate, leave_one_group_out, uar_by_layer_svg, Dataset, MissingClassPolicy, ProbeParams,
};
use voxprobe::ssl::{ChunkOptions, ForwardOptions, LayerSelection, LoadOptions, Pretrained};

/// Published leave-one-speaker-out UARs quoted for reference (not recomputed here).
const PAPER_REFERENCE: &[(&str, f64)] = &[(
    "EmoTale (Hjuler et al. 2025), best model, leave-one-speaker-out UAR",
    0.641,
)];

#[derive(Parser, Debug)]
#[command(about = "Leave-one-speaker-out emotion probes: MFCC statistics vs every SSL layer")]
struct Args {
    /// Manifest: TSV with a header naming columns `path`, `speaker`, `emotion` (paths relative
    /// to the manifest's folder). Without it, the bundled corpora run.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// SSL model directory (or hub id with feature `hub`).
    #[arg(long, default_value = "models/tiny-wav2vec2-base")]
    model: String,
    /// Bundled data root.
    #[arg(long, default_value = "examples/data")]
    data: PathBuf,
    /// Use at most this many sentences of the accent-voices corpus (0 = all 30).
    #[arg(long, default_value_t = 0)]
    max_sentences: usize,
    /// Output directory.
    #[arg(long, default_value = "target/ser_probe")]
    out: PathBuf,
}

/// One utterance: audio, class, and cross-validation group.
struct Item {
    id: String,
    path: PathBuf,
    label: String,
    group: String,
}

/// Reads a `path speaker emotion` manifest (header required; tab-separated; extra columns
/// ignored).
fn read_manifest(path: &Path) -> anyhow::Result<Vec<Item>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("empty manifest")?
        .split('\t')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| format!("{}: no `{name}` column in the header", path.display()))
    };
    let (cp, cs, ce) = (col("path")?, col("speaker")?, col("emotion")?);
    let root = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| {
            f.get(c)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
                .with_context(|| format!("{} line {}: missing column {c}", path.display(), i + 2))
        };
        let p = PathBuf::from(get(cp)?);
        let id = p
            .file_stem()
            .map_or_else(|| format!("utt{i}"), |s| s.to_string_lossy().into_owned());
        out.push(Item {
            id,
            path: if p.is_absolute() { p } else { root.join(p) },
            label: get(ce)?.to_string(),
            group: get(cs)?.to_string(),
        });
    }
    if out.is_empty() {
        bail!("{}: no utterances", path.display());
    }
    Ok(out)
}

/// The accent-audit voices: label = voice (id suffix), group = sentence (`u001`).
fn accent_voices(root: &Path, max_sentences: usize) -> anyhow::Result<Vec<Item>> {
    let refs = root.join("refs.tsv");
    let text =
        std::fs::read_to_string(&refs).with_context(|| format!("reading {}", refs.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let id = line.split('\t').next().unwrap_or_default();
        let (sentence, voice) = id
            .split_once('_')
            .with_context(|| format!("{}: id {id:?} is not u<NNN>_<voice>", refs.display()))?;
        let no: usize = sentence.trim_start_matches('u').parse().unwrap_or(0);
        if max_sentences > 0 && no > max_sentences {
            continue;
        }
        out.push(Item {
            id: id.to_string(),
            path: root.join("audio").join(format!("{id}.ogg")),
            label: voice.to_string(),
            group: sentence.to_string(),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Per-utterance feature sets: `mfcc-stats`, `egemaps-partial` (the eGeMAPS v02 functionals
/// implemented so far, 16 of 88), then `L0..=Ln` (mean-pooled hidden states).
struct Features {
    names: Vec<String>,
    /// `sets[s]` is `[n_utts, dim_s]`.
    sets: Vec<Array2<f64>>,
}

fn mean_std(x: &Array2<f32>) -> Vec<f64> {
    let n = x.nrows().max(1) as f64;
    let mut m = Vec::with_capacity(2 * x.ncols());
    let mut s = Vec::with_capacity(x.ncols());
    for c in x.columns() {
        let mu = c.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = c.iter().map(|&v| (f64::from(v) - mu).powi(2)).sum::<f64>() / n;
        m.push(mu);
        s.push(var.sqrt());
    }
    m.extend(s);
    m
}

fn extract(items: &[Item], model: &Pretrained) -> anyhow::Result<Features> {
    let mfcc = Mfcc::new(MfccOptions::default())?;
    let fwd = ForwardOptions::default().hidden_states(LayerSelection::All);
    let n_layers = model.model.num_layers() + 1;
    let egemaps = Egemaps::new(16_000)?;
    let mut rows: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(items.len()); n_layers + 2];
    for it in items {
        let audio = voxprobe::audio::load(&it.path, &voxprobe::audio::LoadOptions::default())
            .with_context(|| format!("decoding {}", it.path.display()))?;
        let scaled: Vec<f32> = audio.samples.iter().map(|v| v * 32_768.0).collect();
        rows[0].push(mean_std(&mfcc.compute(&scaled, 16_000)?));
        rows[1].push(
            egemaps
                .functionals(&audio.samples)?
                .into_iter()
                .flatten()
                .collect(),
        );
        let out = model
            .embed_long(&audio.samples, &ChunkOptions::default(), &fwd)
            .with_context(|| format!("embedding {}", it.id))?;
        for (l, h) in &out.hidden_states {
            let h = h
                .squeeze(0)?
                .to_dtype(voxprobe::ssl::candle_core::DType::F32)?;
            let pooled: Vec<f32> = h.mean(0)?.to_vec1()?;
            if let Some(r) = rows.get_mut(l + 2) {
                r.push(pooled.into_iter().map(f64::from).collect());
            }
        }
    }
    let mut names = vec!["mfcc-stats".to_string(), "egemaps-partial".to_string()];
    names.extend((0..n_layers).map(|l| format!("L{l}")));
    let sets = rows
        .into_iter()
        .map(|r| {
            let d = r.first().map_or(0, Vec::len);
            let n = r.len();
            Array2::from_shape_vec((n, d), r.into_iter().flatten().collect())
                .context("feature rows of unequal length")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Features { names, sets })
}

/// Probes every feature set with leave-one-group-out; returns the corpus's JSON record.
fn probe_corpus(
    name: &str,
    protocol: &str,
    items: &[Item],
    model: &Pretrained,
    out: &Path,
) -> anyhow::Result<serde_json::Value> {
    let feats = extract(items, model)?;
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let labels: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.id.clone(), i.label.clone()))
        .collect();
    let groups: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.id.clone(), i.group.clone()))
        .collect();
    let params = ProbeParams::new().missing_class(MissingClassPolicy::FitPresent);
    let mut results = Vec::new();
    let mut points = Vec::new();
    let mut n_classes = 0;
    let mut n_folds = 0;
    for (set, x) in feats.names.iter().zip(&feats.sets) {
        let ds = Dataset::join(&ids, x.view(), &labels, Some(&groups))?;
        let folds = leave_one_group_out(ds.groups.as_deref().unwrap_or_default())?;
        let cv = cross_validate(ds.x.view(), &ds.y, &ds.classes, &folds, &params)?;
        n_classes = ds.classes.len();
        n_folds = folds.len();
        points.push((set.clone(), cv.pooled.uar));
        results.push(json!({
            "features": set,
            "dim": x.ncols(),
            "uar": cv.pooled.uar,
            "accuracy": cv.pooled.accuracy,
            "macro_f1": cv.pooled.macro_f1,
            "mean_fold_uar": cv.mean_fold_uar,
            "confusion": cv.pooled.confusion,
        }));
    }
    let chance = 1.0 / n_classes.max(1) as f64;
    let svg = uar_by_layer_svg(&points, chance, &format!("{name}: {protocol} UAR"));
    let plot = out.join(format!("{name}_uar_by_layer.svg"));
    std::fs::write(&plot, svg)?;
    let best = points
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, u)| json!({"features": n, "uar": u}));
    Ok(json!({
        "corpus": name,
        "protocol": protocol,
        "n": items.len(),
        "classes": n_classes,
        "folds": n_folds,
        "chance_uar": chance,
        "best": best,
        "results": results,
        "plot": plot.display().to_string(),
    }))
}

/// Runs the whole example and returns the summary (also written to `out/summary.json`).
fn run(a: &Args) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let model = Pretrained::load(&a.model, &LoadOptions::default())
        .with_context(|| format!("loading the SSL model {}", a.model))?;
    let mut corpora = Vec::new();
    if let Some(m) = &a.manifest {
        let items = read_manifest(m)?;
        corpora.push(probe_corpus(
            "manifest",
            "leave-one-speaker-out",
            &items,
            &model,
            &a.out,
        )?);
    } else {
        let items = read_manifest(&a.data.join("ser-demo").join("manifest.tsv"))?;
        corpora.push(probe_corpus(
            "enacted-synthetic",
            "leave-one-speaker-out",
            &items,
            &model,
            &a.out,
        )?);
        let items = accent_voices(&a.data.join("accent-audit"), a.max_sentences)?;
        corpora.push(probe_corpus(
            "accent-voices",
            "leave-one-sentence-out",
            &items,
            &model,
            &a.out,
        )?);
    }
    let reference: Vec<_> = PAPER_REFERENCE
        .iter()
        .map(|(k, v)| json!({"what": k, "uar": v}))
        .collect();
    let summary = json!({
        "example": "ser_probe",
        "model": a.model,
        "model_layers": model.model.num_layers() + 1,
        "probe": "LogisticRegression() objective (C=1), StandardScaler per training fold",
        "corpora": corpora,
        "paper_reference": reference,
        "note": "bundled corpora are synthetic; the default model is a tiny random checkpoint, so its layer UARs are meaningless",
    });
    std::fs::write(
        a.out.join("summary.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;
    Ok(summary)
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let s = run(&a)?;
    for c in s["corpora"].as_array().into_iter().flatten() {
        eprintln!(
            "{} ({}, {} utterances, {} classes, chance {:.1} %):",
            c["corpus"].as_str().unwrap_or_default(),
            c["protocol"].as_str().unwrap_or_default(),
            c["n"],
            c["classes"],
            100.0 * c["chance_uar"].as_f64().unwrap_or(0.0)
        );
        for r in c["results"].as_array().into_iter().flatten() {
            eprintln!(
                "  {:>15}  UAR {:5.1} %",
                r["features"].as_str().unwrap_or_default(),
                100.0 * r["uar"].as_f64().unwrap_or(0.0)
            );
        }
    }
    for (k, v) in PAPER_REFERENCE {
        eprintln!("reference: {k}: {:.1} %", 100.0 * v);
    }
    // One JSON summary line: per corpus the best feature set.
    let line = json!({
        "example": "ser_probe",
        "out": a.out.display().to_string(),
        "corpora": s["corpora"].as_array().into_iter().flatten().map(|c| json!({
            "corpus": c["corpus"], "n": c["n"], "best": c["best"],
            "uar": c["results"].as_array().into_iter().flatten().map(|r| json!([r["features"], r["uar"]])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "paper_reference_uar": PAPER_REFERENCE.first().map(|r| r.1),
    });
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled pipeline end to end, offline, with the tiny model and 3 accent sentences.
    #[test]
    fn bundled_corpora_run_offline() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::env::temp_dir().join(format!("ser_probe_test_{}", std::process::id()));
        let a = Args {
            manifest: None,
            model: root.join("models/tiny-wav2vec2-base").display().to_string(),
            data: root.join("examples/data"),
            max_sentences: 3,
            out: out.clone(),
        };
        let s = run(&a).unwrap();
        let corpora = s["corpora"].as_array().unwrap();
        assert_eq!(corpora.len(), 2);
        let layers = s["model_layers"].as_u64().unwrap() as usize;
        let enacted = &corpora[0];
        assert_eq!(enacted["n"], 72);
        assert_eq!(enacted["folds"], 6);
        assert_eq!(enacted["results"].as_array().unwrap().len(), layers + 2);
        assert_eq!(enacted["results"][1]["dim"], 16);
        // Prosody presets differ in pitch, rate and loudness: MFCC statistics must beat chance
        // by a wide margin under leave-one-speaker-out.
        let mfcc = enacted["results"][0]["uar"].as_f64().unwrap();
        assert!(mfcc > 0.55, "mfcc-stats UAR {mfcc}");
        let accent = &corpora[1];
        assert_eq!(accent["n"], 21);
        assert_eq!(accent["folds"], 3);
        assert!(out.join("enacted-synthetic_uar_by_layer.svg").exists());
        std::fs::remove_dir_all(&out).ok();
    }
}
