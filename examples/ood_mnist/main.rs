//! Model-agnostic OOD tests (Bergamin et al., AISTATS 2022) on MNIST-5k with offline OOD sets,
//! for a diagonal GMM, PPCA, a VAE and a small hierarchical VAE (with the LLR^{>k} score of
//! Havtorn et al., ICML 2021). Bands over seeds; paper values (other datasets) side by side.
//!
//! `cargo run --release --example ood_mnist --no-default-features --features ood`

mod plot;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe::ood::metrics::{auprc, auroc, fpr_at_tpr, roc_curve};
use voxprobe::ood::stats::{benjamini_hochberg, chi2_sf_even, ks_test, ks_two_sample, pearson};
use voxprobe::ood::{
    CalibrationParams, DensityModel, GmmParams, HvaeParams, LkBound, PpcaParams, TestStatistics,
};

#[derive(Parser)]
struct Args {
    /// Output folder (results.json, metrics.csv, SVG plots).
    #[arg(long, default_value = "target/ood_mnist")]
    out: std::path::PathBuf,
    /// Number of seeds (split, dequantisation noise, model init).
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// GMM components.
    #[arg(long, default_value_t = 20)]
    gmm_k: usize,
    /// PPCA latent dimension.
    #[arg(long, default_value_t = 50)]
    ppca_q: usize,
    /// VAE / HVAE training epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Importance samples of the LLR^{>1}_S score.
    #[arg(long, default_value_t = 16)]
    llr_samples: usize,
    /// Also run the two-stage hierarchical VAE with LLR^{>1} (adds about a minute per seed on
    /// 2 cores).
    #[arg(long)]
    hvae: bool,
    /// Models to run, comma-separated, from GMM, PPCA, VAE, HVAE (`--hvae` adds HVAE).
    #[arg(long, default_value = "GMM,PPCA,VAE", value_delimiter = ',')]
    models: Vec<String>,
    /// Data folder holding mnist5k/ and digits8x8/.
    #[arg(long, default_value = "examples/data")]
    data: std::path::PathBuf,
}

fn read_csv_gz(path: &std::path::Path, n_cols: usize) -> Result<(Array2<f32>, Vec<u8>)> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let (mut data, mut labels) = (Vec::new(), Vec::new());
    for line in r.lines() {
        let line = line?;
        let vals: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<Result<_, _>>()?;
        anyhow::ensure!(
            vals.len() == n_cols + 1,
            "expected {} columns, got {}",
            n_cols + 1,
            vals.len()
        );
        labels.push(vals[n_cols] as u8);
        data.extend_from_slice(&vals[..n_cols]);
    }
    Ok((
        Array2::from_shape_vec((labels.len(), n_cols), data)?,
        labels,
    ))
}

/// 8×8 (0–16) → 20×20 bilinear, centred in 28×28 like MNIST's 20×20 box, rescaled to 0–255.
fn upsample_digits(d8: &Array2<f32>) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((d8.nrows(), 784));
    for (i, row) in d8.rows().into_iter().enumerate() {
        for y in 0..20 {
            for x in 0..20 {
                let sy = y as f32 * 7.0 / 19.0;
                let sx = x as f32 * 7.0 / 19.0;
                let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
                let (y1, x1) = ((y0 + 1).min(7), (x0 + 1).min(7));
                let (fy, fx) = (sy - y0 as f32, sx - x0 as f32);
                let v = row[y0 * 8 + x0] * (1.0 - fy) * (1.0 - fx)
                    + row[y0 * 8 + x1] * (1.0 - fy) * fx
                    + row[y1 * 8 + x0] * fy * (1.0 - fx)
                    + row[y1 * 8 + x1] * fy * fx;
                out[[i, (y + 4) * 28 + x + 4]] = (v * 255.0 / 16.0).round();
            }
        }
    }
    out
}

/// Separable Gaussian blur, σ = 1 px, zero padding.
fn blur(x: &Array2<f32>) -> Array2<f32> {
    let k: Vec<f32> = (-3i32..=3).map(|t| (-(t * t) as f32 / 2.0).exp()).collect();
    let s: f32 = k.iter().sum();
    let k: Vec<f32> = k.iter().map(|v| v / s).collect();
    let mut out = x.clone();
    for (mut o, r) in out.rows_mut().into_iter().zip(x.rows()) {
        let mut tmp = [0f32; 784];
        for y in 0..28i32 {
            for xx in 0..28i32 {
                let mut acc = 0.0;
                for (t, w) in (-3i32..=3).zip(&k) {
                    let c = xx + t;
                    if (0..28).contains(&c) {
                        acc += w * r[(y * 28 + c) as usize];
                    }
                }
                tmp[(y * 28 + xx) as usize] = acc;
            }
        }
        for y in 0..28i32 {
            for xx in 0..28i32 {
                let mut acc = 0.0;
                for (t, w) in (-3i32..=3).zip(&k) {
                    let c = y + t;
                    if (0..28).contains(&c) {
                        acc += w * tmp[(c * 28 + xx) as usize];
                    }
                }
                o[(y * 28 + xx) as usize] = acc.round();
            }
        }
    }
    out
}

fn dequantise(x: &Array2<f32>, rng: &mut impl Rng) -> Array2<f32> {
    x.mapv(|v| (v + rng.random::<f32>()) / 256.0)
}

fn binarise(x: &Array2<f32>, rng: &mut impl Rng) -> Array2<f32> {
    x.mapv(|v| f32::from(u8::from(rng.random::<f32>() < v / 255.0)))
}

/// Extracts one OOD score from a test's statistics.
type StatFn = fn(&TestStatistics) -> f64;

/// OOD scores: larger ⇒ more OOD (p-values and log p negated, as the paper's AUROCs).
const STATS: [(&str, StatFn); 7] = [
    ("log p", |s| -s.log_prob),
    ("grad norm", |s| s.grad_norm),
    ("typicality", |s| -s.p_typicality),
    ("score", |s| -s.p_score),
    ("Fisher", |s| s.fisher),
    ("harmonic", |s| -s.p_harmonic),
    ("MMD diag", |s| s.mmd_diag),
];

/// Paper reference (FashionMNIST→MNIST; different data, so a qualitative anchor only):
/// log p, grad norm, typicality, score, Fisher, harmonic.
fn paper_row(model: &str) -> Option<[f64; 6]> {
    match model {
        // GMM K = 50 appendix row (harmonic not reported: NaN)
        "GMM" => Some([0.6627, 0.5514, 0.5196, 0.8777, 0.7689, f64::NAN]),
        "PPCA" => Some([0.9727, 0.9637, 0.9587, 0.9505, 0.9635, f64::NAN]),
        // HVAE five-seed means (grad norm, harmonic from the appendix HVAE)
        "VAE" | "HVAE" => Some([0.2487, 0.8714, 0.5064, 0.9532, 0.9220, 0.9569]),
        _ => None,
    }
}

type Metrics = BTreeMap<String, [f64; 3]>;

fn metrics(id: &[f64], ood: &[f64]) -> Result<[f64; 3]> {
    Ok([auroc(id, ood)?, auprc(id, ood)?, fpr_at_tpr(id, ood, 0.8)?])
}

struct ModelRun {
    /// per OOD set: statistic → (AUROC, AUPRC, FPR80)
    per_set: BTreeMap<String, Metrics>,
    /// in-distribution checks
    checks: BTreeMap<String, f64>,
    /// per OOD set: α → (FDR, TPR)
    bh: BTreeMap<String, Vec<(f64, f64, f64)>>,
    seconds: f64,
}

fn evaluate(
    model: &dyn DensityModel,
    train: &Array2<f32>,
    val: &Array2<f32>,
    test: &Array2<f32>,
    oods: &[(String, Array2<f32>)],
    extra: impl Fn(&Array2<f32>) -> Result<Vec<(String, Vec<f64>)>>,
    plots: Option<(&std::path::Path, &str)>,
) -> Result<ModelRun> {
    let t0 = Instant::now();
    let cal = CalibrationParams::default()
        .batch_size(64)
        .fit(model, train.view(), val.view())?;
    let id = cal.statistics(model, test.view())?;
    let id_extra = extra(test)?;
    let mut checks = BTreeMap::new();
    let col =
        |s: &[TestStatistics], f: fn(&TestStatistics) -> f64| s.iter().map(f).collect::<Vec<_>>();
    // p-values of test data are uniform iff test statistics follow the validation null: a
    // two-sample KS against the null sample (a one-sample KS of the p-values would ignore the
    // null's own sampling error).
    checks.insert(
        "ks_p_typicality_uniform".into(),
        ks_two_sample(&col(&id, |s| s.typicality), cal.null_typicality())?.p_value,
    );
    checks.insert(
        "ks_p_score_uniform".into(),
        ks_two_sample(&col(&id, |s| s.score), cal.null_score())?.p_value,
    );
    checks.insert(
        "ks_fisher_chi2_4".into(),
        ks_test(&col(&id, |s| s.fisher), |x| {
            1.0 - chi2_sf_even(x, 2).unwrap_or(0.0)
        })?
        .p_value,
    );
    checks.insert(
        "corr_typ_score".into(),
        pearson(&col(&id, |s| s.typicality), &col(&id, |s| s.score))?,
    );
    let mut per_set = BTreeMap::new();
    let mut bh = BTreeMap::new();
    for (name, ood_x) in oods {
        let ood = cal.statistics(model, ood_x.view())?;
        let mut m = Metrics::new();
        let mut curves = Vec::new();
        for (sname, f) in STATS {
            let (a, b) = (col(&id, f), col(&ood, f));
            m.insert(sname.to_string(), metrics(&a, &b)?);
            if matches!(
                sname,
                "log p" | "grad norm" | "typicality" | "score" | "Fisher"
            ) {
                curves.push((sname.to_string(), roc_curve(&a, &b)?));
            }
        }
        for ((ename, a), (_, b)) in id_extra.iter().zip(extra(ood_x)?) {
            m.insert(ename.clone(), metrics(a, &b)?);
            curves.push((ename.clone(), roc_curve(a, &b)?));
        }
        if let Some((dir, tag)) = plots {
            plot::roc_curves(
                &dir.join(format!("roc_{tag}_{name}.svg")),
                &format!("{tag}: MNIST vs {name}"),
                &curves,
            )?;
        }
        // BH on the pooled in-distribution test + OOD set, with Fisher's combined p-value.
        let mut pooled: Vec<f64> = col(&id, |s| s.p_fisher);
        pooled.extend(col(&ood, |s| s.p_fisher));
        let mut rows = Vec::new();
        for alpha in [0.05, 0.1] {
            let rej = benjamini_hochberg(&pooled, alpha)?;
            let fp = rej[..id.len()].iter().filter(|r| **r).count() as f64;
            let tp = rej[id.len()..].iter().filter(|r| **r).count() as f64;
            let fdr = if fp + tp > 0.0 { fp / (fp + tp) } else { 0.0 };
            rows.push((alpha, fdr, tp / ood.len() as f64));
        }
        bh.insert(name.clone(), rows);
        per_set.insert(name.clone(), m);
    }
    if let Some((dir, tag)) = plots {
        plot::p_value_histograms(
            &dir.join(format!("p_values_{tag}.svg")),
            &format!("{tag}: p-values on held-out in-distribution test data"),
            &[
                ("typicality", col(&id, |s| s.p_typicality)),
                ("score", col(&id, |s| s.p_score)),
                ("Fisher", col(&id, |s| s.p_fisher)),
            ],
            20,
        )?;
    }
    Ok(ModelRun {
        per_set,
        checks,
        bh,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

fn band(v: &[f64]) -> (f64, f64, f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (m, sd, lo, hi)
}

fn main() -> Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.out)?;
    let t_all = Instant::now();
    let (mnist, labels) = read_csv_gz(&a.data.join("mnist5k/mnist_5k.csv.gz"), 784)?;
    let (d8, _) = read_csv_gz(&a.data.join("digits8x8/digits.csv.gz"), 64)?;
    let digits_up = upsample_digits(&d8);
    let device = Device::Cpu;
    let mut models: Vec<&str> = Vec::new();
    for m in &a.models {
        match m.as_str() {
            "GMM" | "PPCA" | "VAE" | "HVAE" => models.push(m.as_str()),
            other => anyhow::bail!("unknown model {other} (GMM, PPCA, VAE, HVAE)"),
        }
    }
    if a.hvae && !models.contains(&"HVAE") {
        models.push("HVAE");
    }
    let experiments = ["all digits", "digits 0-4"];
    let pb = ProgressBar::new(a.seeds * (models.len() * experiments.len()) as u64);
    pb.set_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} {msg} [{elapsed}]",
    )?);
    // results[experiment][model] = runs over seeds
    let mut results: BTreeMap<String, BTreeMap<String, Vec<ModelRun>>> = BTreeMap::new();
    for seed in 0..a.seeds {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1000 + seed);
        // stratified 350 / 75 / 75 per class (rows are sorted by label)
        let (mut tr, mut va, mut te) = (Vec::new(), Vec::new(), Vec::new());
        for c in 0..10u8 {
            let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
            idx.shuffle(&mut rng);
            tr.extend_from_slice(&idx[..350]);
            va.extend_from_slice(&idx[350..425]);
            te.extend_from_slice(&idx[425..500]);
        }
        for v in [&mut tr, &mut va, &mut te] {
            v.shuffle(&mut rng);
        }
        for exp in experiments {
            let keep = |v: &Vec<usize>, lo: bool| -> Vec<usize> {
                v.iter()
                    .copied()
                    .filter(|&i| exp == "all digits" || (labels[i] < 5) == lo)
                    .collect()
            };
            let train = mnist.select(Axis(0), &keep(&tr, true));
            let val = mnist.select(Axis(0), &keep(&va, true));
            let test = mnist.select(Axis(0), &keep(&te, true));
            let n_ood = test.nrows();
            let mut oods: Vec<(String, Array2<f32>)> = Vec::new();
            if exp == "all digits" {
                let mut di: Vec<usize> = (0..digits_up.nrows()).collect();
                di.shuffle(&mut rng);
                di.truncate(n_ood);
                oods.push(("digits8x8-up".into(), digits_up.select(Axis(0), &di)));
                oods.push(("blurred".into(), blur(&test)));
                oods.push(("inverted".into(), test.mapv(|v| 255.0 - v)));
                oods.push((
                    "noise".into(),
                    Array2::from_shape_fn((n_ood, 784), |_| rng.random_range(0..256) as f32),
                ));
            } else {
                oods.push((
                    "digits 5-9".into(),
                    mnist.select(Axis(0), &keep(&te, false)),
                ));
            }
            for &mname in &models {
                pb.set_message(format!("seed {seed} {exp} {mname}"));
                let plots = (seed == 0 && exp == "all digits").then_some((a.out.as_path(), mname));
                let mut mrng = Xoshiro256PlusPlus::seed_from_u64(7 + seed);
                let no_extra = |_: &Array2<f32>| Ok(Vec::new());
                let run = match mname {
                    "GMM" | "PPCA" => {
                        let mut dq = |x: &Array2<f32>| dequantise(x, &mut mrng);
                        let (trq, vaq, teq) = (dq(&train), dq(&val), dq(&test));
                        let oq: Vec<_> = oods.iter().map(|(n, x)| (n.clone(), dq(x))).collect();
                        if mname == "GMM" {
                            let g = GmmParams::new(a.gmm_k).seed(seed + 1).fit(trq.view())?;
                            evaluate(&g, &trq, &vaq, &teq, &oq, no_extra, plots)?
                        } else {
                            let p = PpcaParams::new(a.ppca_q).seed(seed + 1).fit(trq.view())?;
                            evaluate(&p, &trq, &vaq, &teq, &oq, no_extra, plots)?
                        }
                    }
                    _ => {
                        let mut bz = |x: &Array2<f32>| binarise(x, &mut mrng);
                        let (trb, vab, teb) = (bz(&train), bz(&val), bz(&test));
                        let ob: Vec<_> = oods.iter().map(|(n, x)| (n.clone(), bz(x))).collect();
                        let latent = if mname == "VAE" {
                            vec![16]
                        } else {
                            vec![16, 8]
                        };
                        let m = HvaeParams::default()
                            .latent(latent)
                            .hidden(256)
                            .epochs(a.epochs)
                            .seed(seed + 1)
                            .fit(trb.view(), &device)?;
                        // Hvae's own DensityModel impl: batched per-example gradients (checked
                        // against Autograd<Hvae> in the crate tests).
                        let ag = &m;
                        let s = a.llr_samples;
                        let hv = &m;
                        let llr_extra = |x: &Array2<f32>| -> Result<Vec<(String, Vec<f64>)>> {
                            let code = LkBound::ReleasedCode;
                            let (l0, l1) = hv.bounds(x.view(), 1, 1)?;
                            let (ls, l1s) = hv.bounds(x.view(), 1, s)?;
                            let (_, c1) = hv.bounds_variant(x.view(), 1, 1, code)?;
                            let (cs0, c1s) = hv.bounds_variant(x.view(), 1, s, code)?;
                            let kl = hv.kl_per_stage(x.view())?;
                            Ok(vec![
                                ("L>0 (ELBO)".into(), l0.iter().map(|v| -v).collect()),
                                ("L>1".into(), l1.iter().map(|v| -v).collect()),
                                ("LLR>1".into(), (&l0 - &l1).to_vec()),
                                (format!("LLR>1 S={s}"), (&ls - &l1s).to_vec()),
                                ("LLR>1 code".into(), (&l0 - &c1).to_vec()),
                                (format!("LLR>1 code S={s}"), (&cs0 - &c1s).to_vec()),
                                // diagnostics: is OOD data's KL per stage larger? (≈ 0.5 for a
                                // collapsed stage)
                                ("KL z1".into(), kl.column(0).to_vec()),
                                ("KL z2".into(), kl.column(1).to_vec()),
                            ])
                        };
                        if mname == "HVAE" {
                            evaluate(ag, &trb, &vab, &teb, &ob, llr_extra, plots)?
                        } else {
                            evaluate(ag, &trb, &vab, &teb, &ob, no_extra, plots)?
                        }
                    }
                };
                results
                    .entry(exp.to_string())
                    .or_default()
                    .entry(mname.to_string())
                    .or_default()
                    .push(run);
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();

    // ---- report ----
    let mut csv = String::from("experiment,model,ood_set,statistic,seed,auroc,auprc,fpr80\n");
    let mut summary = serde_json::Map::new();
    let names = [
        "log p",
        "grad norm",
        "typicality",
        "score",
        "Fisher",
        "harmonic",
    ];
    for (exp, per_model) in &results {
        println!(
            "\n=== in-distribution: MNIST-5k {exp} — AUROC mean ± sd over {} seeds [min, max]",
            a.seeds
        );
        for (mname, runs) in per_model {
            let secs: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
            println!(
                "\n-- {mname} (fit+calibrate+score {:.1} s per seed)",
                band(&secs).0
            );
            if let Some(p) = paper_row(mname) {
                let fmt: Vec<String> = p
                    .iter()
                    .zip(names)
                    .map(|(v, n)| {
                        format!(
                            "{n} {}",
                            if v.is_nan() {
                                "—".into()
                            } else {
                                format!("{v:.3}")
                            }
                        )
                    })
                    .collect();
                println!(
                    "   paper (FashionMNIST→MNIST, not our data): {}",
                    fmt.join(", ")
                );
            }
            if mname == "HVAE" {
                println!(
                    "   paper LLR (Havtorn et al. 2021, FashionMNIST→MNIST, AUROC): L>0 0.268, L>1 0.593, LLR>1 0.964, LLR>1 S=250 0.984"
                );
            }
            let mut msum = serde_json::Map::new();
            for set in runs[0].per_set.keys() {
                println!("   OOD = {set}");
                let mut ssum = serde_json::Map::new();
                for stat in runs[0].per_set[set].keys() {
                    let vals: Vec<[f64; 3]> = runs.iter().map(|r| r.per_set[set][stat]).collect();
                    for (si, v) in vals.iter().enumerate() {
                        csv.push_str(&format!(
                            "{exp},{mname},{set},{stat},{si},{},{},{}\n",
                            v[0], v[1], v[2]
                        ));
                    }
                    let au = band(&vals.iter().map(|v| v[0]).collect::<Vec<_>>());
                    let pr = band(&vals.iter().map(|v| v[1]).collect::<Vec<_>>());
                    let fp = band(&vals.iter().map(|v| v[2]).collect::<Vec<_>>());
                    println!(
                        "     {stat:<14} AUROC {:.3} ± {:.3} [{:.3}, {:.3}]  AUPRC {:.3} ± {:.3}  FPR80 {:.3} ± {:.3}",
                        au.0, au.1, au.2, au.3, pr.0, pr.1, fp.0, fp.1
                    );
                    ssum.insert(stat.clone(), serde_json::json!({"auroc": [au.0, au.1], "auprc": [pr.0, pr.1], "fpr80": [fp.0, fp.1]}));
                }
                let bh: Vec<_> = runs.iter().map(|r| r.bh[set].clone()).collect();
                for (ai, alpha) in [0.05, 0.1].iter().enumerate() {
                    let fdr = band(&bh.iter().map(|b| b[ai].1).collect::<Vec<_>>());
                    let tpr = band(&bh.iter().map(|b| b[ai].2).collect::<Vec<_>>());
                    println!("     BH(Fisher p) α = {alpha}: empirical FDR {:.3} ± {:.3}, TPR {:.3} ± {:.3}", fdr.0, fdr.1, tpr.0, tpr.1);
                    ssum.insert(
                        format!("bh_alpha_{alpha}"),
                        serde_json::json!({"fdr": fdr.0, "tpr": tpr.0}),
                    );
                }
                msum.insert(set.clone(), serde_json::Value::Object(ssum));
            }
            let mut csum = serde_json::Map::new();
            for key in runs[0].checks.keys() {
                let b = band(&runs.iter().map(|r| r.checks[key]).collect::<Vec<_>>());
                csum.insert(key.clone(), serde_json::json!([b.0, b.2, b.3]));
            }
            println!(
                "   in-dist checks (mean [min,max]): KS uniform p_typ {:.3} [{:.3},{:.3}], p_score {:.3} [{:.3},{:.3}]; KS X²~χ²₄ p {:.3} [{:.3},{:.3}]; corr(T_typ,T_score) {:.3} [{:.3},{:.3}] (paper −0.014)",
                csum["ks_p_typicality_uniform"][0].as_f64().unwrap_or(f64::NAN), csum["ks_p_typicality_uniform"][1].as_f64().unwrap_or(f64::NAN), csum["ks_p_typicality_uniform"][2].as_f64().unwrap_or(f64::NAN),
                csum["ks_p_score_uniform"][0].as_f64().unwrap_or(f64::NAN), csum["ks_p_score_uniform"][1].as_f64().unwrap_or(f64::NAN), csum["ks_p_score_uniform"][2].as_f64().unwrap_or(f64::NAN),
                csum["ks_fisher_chi2_4"][0].as_f64().unwrap_or(f64::NAN), csum["ks_fisher_chi2_4"][1].as_f64().unwrap_or(f64::NAN), csum["ks_fisher_chi2_4"][2].as_f64().unwrap_or(f64::NAN),
                csum["corr_typ_score"][0].as_f64().unwrap_or(f64::NAN), csum["corr_typ_score"][1].as_f64().unwrap_or(f64::NAN), csum["corr_typ_score"][2].as_f64().unwrap_or(f64::NAN),
            );
            msum.insert("checks".into(), serde_json::Value::Object(csum));
            msum.insert("seconds_per_seed".into(), band(&secs).0.into());
            summary
                .entry(exp.clone())
                .or_insert_with(|| serde_json::json!({}))
                .as_object_mut()
                .map(|o| o.insert(mname.clone(), serde_json::Value::Object(msum)));
        }
    }
    std::fs::write(a.out.join("metrics.csv"), csv)?;
    summary.insert("total_seconds".into(), t_all.elapsed().as_secs_f64().into());
    let line = serde_json::Value::Object(summary).to_string();
    std::fs::write(a.out.join("results.json"), &line)?;
    println!(
        "\nwrote {}/{{results.json,metrics.csv,*.svg}} in {:.1} s",
        a.out.display(),
        t_all.elapsed().as_secs_f64()
    );
    println!("{line}");
    Ok(())
}
