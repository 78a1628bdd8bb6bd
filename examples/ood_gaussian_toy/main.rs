//! Bergamin et al. (AISTATS 2022) §4.3: the exact Gaussian model `N(θ, I_D)`, θ0 = 0.
//!
//! * half-normal OOD data: typicality AUROC is exactly 0.5 (‖x‖² keeps its χ²_D law) while the
//!   two-sample (n = 2) score test succeeds, more so as D grows;
//! * a point mass at 0: the score test fails (p = 1), typicality succeeds (p ≈ 0);
//! * ECDF score p-values agree with the exact χ²_D p-values;
//! * Fisher's X² on in-distribution data against χ²₄ (KS test).
//!
//! `cargo run --release --example ood_gaussian_toy --no-default-features --features ood`

#[path = "../ood_mnist/plot.rs"]
mod plot;

use anyhow::Result;
use clap::Parser;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe::ood::metrics::{auroc, roc_curve};
use voxprobe::ood::stats::{chi2_sf, chi2_sf_even, ks_test, pearson};
use voxprobe::ood::{CalibrationParams, DiagGaussian, TestStatistics};

#[derive(Parser)]
struct Args {
    /// Output folder for JSON and SVG plots.
    #[arg(long, default_value = "target/ood_gaussian_toy")]
    out: std::path::PathBuf,
    /// Seed of all draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Training rows (Fisher diagonal, mean log-likelihood).
    #[arg(long, default_value_t = 4000)]
    n_train: usize,
    /// Validation rows (null distribution).
    #[arg(long, default_value_t = 4000)]
    n_val: usize,
    /// Test groups per class.
    #[arg(long, default_value_t = 2000)]
    n_test: usize,
}

fn normal(rng: &mut impl Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn rows(rng: &mut impl Rng, n: usize, d: usize, half: bool) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |_| {
        let v = normal(rng);
        (if half { v.abs() } else { v }) as f32
    })
}

fn col(s: &[TestStatistics], f: impl Fn(&TestStatistics) -> f64) -> Vec<f64> {
    s.iter().map(f).collect()
}

fn main() -> Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.out)?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(a.seed);
    let mut json = serde_json::Map::new();

    println!(
        "== half-normal OOD, n = 2 (paper: typicality AUROC = 0.5 exactly; score → 1 as D grows)"
    );
    println!(
        "{:>6} | {:>12} {:>12} | {:>12} {:>12}",
        "D", "typ paper", "typ ours", "score paper", "score ours"
    );
    let mut half = Vec::new();
    for d in [10usize, 100, 1000] {
        let model = DiagGaussian::standard(d)?;
        let cal = CalibrationParams::default()
            .group_size(2)
            .batch_size(128)
            .seed(a.seed)
            .fit(
                &model,
                rows(&mut rng, a.n_train, d, false).view(),
                rows(&mut rng, a.n_val, d, false).view(),
            )?;
        let id = cal.statistics(&model, rows(&mut rng, 2 * a.n_test, d, false).view())?;
        let ood = cal.statistics(&model, rows(&mut rng, 2 * a.n_test, d, true).view())?;
        let typ = auroc(
            &col(&id, |s| -s.p_typicality),
            &col(&ood, |s| -s.p_typicality),
        )?;
        let score = auroc(&col(&id, |s| s.score), &col(&ood, |s| s.score))?;
        let fisher = auroc(&col(&id, |s| s.fisher), &col(&ood, |s| s.fisher))?;
        println!(
            "{d:>6} | {:>12} {typ:>12.4} | {:>12} {score:>12.4}",
            "0.5", "→ 1"
        );
        if d == 100 {
            let curves = vec![
                (
                    "typicality".to_string(),
                    roc_curve(
                        &col(&id, |s| -s.p_typicality),
                        &col(&ood, |s| -s.p_typicality),
                    )?,
                ),
                (
                    "score".to_string(),
                    roc_curve(&col(&id, |s| s.score), &col(&ood, |s| s.score))?,
                ),
                (
                    "Fisher".to_string(),
                    roc_curve(&col(&id, |s| s.fisher), &col(&ood, |s| s.fisher))?,
                ),
            ];
            plot::roc_curves(
                &a.out.join("roc_half_normal_d100.svg"),
                "N(0,I) vs half-normal, D=100, n=2",
                &curves,
            )?;
        }
        half.push(serde_json::json!({"d": d, "typicality_auroc": typ, "score_auroc": score, "fisher_auroc": fisher}));
    }
    json.insert("half_normal_n2".into(), half.into());

    println!("\n== point mass at 0 (paper: score fails, typicality succeeds), D = 50, n = 1");
    let d = 50;
    let model = DiagGaussian::standard(d)?;
    let cal = CalibrationParams::default().batch_size(128).fit(
        &model,
        rows(&mut rng, a.n_train, d, false).view(),
        rows(&mut rng, a.n_val, d, false).view(),
    )?;
    let dirac = cal.statistics(&model, Array2::<f32>::zeros((1, d)).view())?;
    println!(
        "p_score: paper 1 | ours {:.4};   p_typicality: paper ≈ 0 | ours {:.4}",
        dirac[0].p_score, dirac[0].p_typicality
    );
    json.insert(
        "point_mass".into(),
        serde_json::json!({"p_score": dirac[0].p_score, "p_typicality": dirac[0].p_typicality}),
    );

    println!("\n== ECDF score p-value vs exact χ²_D p-value (in-distribution test data, n = 1)");
    let mut ecdf_rows = Vec::new();
    for d in [10usize, 100, 1000] {
        let model = DiagGaussian::standard(d)?;
        let cal = CalibrationParams::default().batch_size(128).fit(
            &model,
            rows(&mut rng, a.n_train, d, false).view(),
            rows(&mut rng, a.n_val, d, false).view(),
        )?;
        let test = rows(&mut rng, a.n_test, d, false);
        let st = cal.statistics(&model, test.view())?;
        let mut worst: f64 = 0.0;
        let mut mean_abs = 0.0;
        for (r, s) in test.rows().into_iter().zip(&st) {
            let norm2: f64 = r.iter().map(|&v| f64::from(v).powi(2)).sum();
            let diff = (chi2_sf(norm2, d as f64)? - s.p_score).abs();
            worst = worst.max(diff);
            mean_abs += diff / st.len() as f64;
        }
        // DKW 99.9 % band for an ECDF of n_val points
        let dkw = ((2.0f64 / 1e-3).ln() / (2.0 * a.n_val as f64)).sqrt();
        println!("D = {d:>4}: max |p_ecdf − p_χ²| = {worst:.4} (DKW 99.9% band {dkw:.4}), mean {mean_abs:.4}");
        ecdf_rows.push(serde_json::json!({"d": d, "max_abs_diff": worst, "mean_abs_diff": mean_abs, "dkw_band": dkw}));
        if d == 10 {
            // Fisher X² on held-out in-distribution data vs χ²₄. In this model both statistics
            // are functions of ‖x‖², so they are dependent and X² need not be χ²₄.
            let x2 = col(&st, |s| s.fisher);
            let ks = ks_test(&x2, |x| 1.0 - chi2_sf_even(x, 2).unwrap_or(0.0))?;
            let r = pearson(&col(&st, |s| s.typicality), &col(&st, |s| s.score))?;
            // Independent p-value pairs (typicality of one example, score of another): the
            // paper's premise; X² must then be χ²₄.
            let half_n = st.len() / 2;
            let x2_ind: Vec<f64> = (0..half_n)
                .map(|i| {
                    voxprobe::ood::stats::fisher_method(&[
                        st[i].p_typicality,
                        st[half_n + i].p_score,
                    ])
                    .map(|f| f.statistic)
                })
                .collect::<Result<_, _>>()?;
            let ks_ind = ks_test(&x2_ind, |x| 1.0 - chi2_sf_even(x, 2).unwrap_or(0.0))?;
            let ks_typ = ks_test(&col(&st, |s| s.p_typicality), |x| x.clamp(0.0, 1.0))?;
            let ks_score = ks_test(&col(&st, |s| s.p_score), |x| x.clamp(0.0, 1.0))?;
            println!("\n== Fisher X² on in-distribution data, D = 10 (paper: ~χ²₄ when the tests are independent)");
            println!("corr(T_typ, T_score) = {r:.3} (paper, PixelCNN++: −0.014)");
            println!(
                "KS p-value uniformity: typicality p = {:.3}, score p = {:.3}",
                ks_typ.p_value, ks_score.p_value
            );
            println!(
                "KS X² vs χ²₄, same example  : D = {:.4}, p = {:.3e}",
                ks.statistic, ks.p_value
            );
            println!(
                "KS X² vs χ²₄, independent   : D = {:.4}, p = {:.3}",
                ks_ind.statistic, ks_ind.p_value
            );
            plot::p_value_histograms(
                &a.out.join("p_values_in_distribution_d10.svg"),
                "In-distribution p-values, Gaussian toy D=10",
                &[
                    ("typicality", col(&st, |s| s.p_typicality)),
                    ("score", col(&st, |s| s.p_score)),
                    ("Fisher", col(&st, |s| s.p_fisher)),
                ],
                20,
            )?;
            json.insert("fisher_in_distribution".into(), serde_json::json!({
                "corr_typ_score": r, "ks_uniform_p_typ": ks_typ.p_value, "ks_uniform_p_score": ks_score.p_value,
                "ks_chi2_4_same_example_p": ks.p_value, "ks_chi2_4_independent_p": ks_ind.p_value}));
        }
    }
    json.insert("ecdf_vs_chi2".into(), ecdf_rows.into());
    let line = serde_json::Value::Object(json).to_string();
    std::fs::write(a.out.join("results.json"), &line)?;
    println!("\nplots and results.json in {}", a.out.display());
    println!("{line}");
    Ok(())
}
