//! The paper's exact Gaussian toy model `N(θ, I_D)`, θ0 = 0 (§8 of the spec).

use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe_ood::metrics::auroc;
use voxprobe_ood::stats::{chi2_sf, chi2_sf_even, fisher_method, ks_test};
use voxprobe_ood::{CalibrationParams, Calibrator, DiagGaussian, PValueConvention};

use crate::gaussian_rows;

const N_TRAIN: usize = 4000;
const N_VAL: usize = 4000;
const N_TEST: usize = 2000;
/// AUROC of two equal laws with 1000 vs 1000 groups has sd ≈ √(1/12·(1/1000+1/1000)) ≈ 0.013;
/// 0.04 is three sd.
const AUROC_NULL_TOL: f64 = 0.04;
/// Kolmogorov–Smirnov (DKW) bound for an ECDF of 4000 validation points at δ = 1e-3 is
/// √(ln(2/δ)/(2·4000)) ≈ 0.031; the estimated Fisher diagonal (4000 training rows, relative error
/// ≈ √(2/4000) per coordinate, averaged over D) adds well under 0.01.
const ECDF_VS_CHI2_TOL: f64 = 0.04;

fn setup(d: usize, n: usize, seed: u64) -> (DiagGaussian, Calibrator, Xoshiro256PlusPlus) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let model = DiagGaussian::standard(d).unwrap();
    let train = gaussian_rows(&mut rng, N_TRAIN, d, false);
    let val = gaussian_rows(&mut rng, N_VAL, d, false);
    let cal = CalibrationParams::default()
        .group_size(n)
        .batch_size(64)
        .seed(seed)
        .fit(&model, train.view(), val.view())
        .unwrap();
    (model, cal, rng)
}

fn aurocs(d: usize, n: usize, ood: &Array2<f32>, id: &Array2<f32>, seed: u64) -> (f64, f64) {
    let (model, cal, _) = setup(d, n, seed);
    let si = cal.statistics(&model, id.view()).unwrap();
    let so = cal.statistics(&model, ood.view()).unwrap();
    let typ = auroc(
        &si.iter().map(|s| -s.p_typicality).collect::<Vec<_>>(),
        &so.iter().map(|s| -s.p_typicality).collect::<Vec<_>>(),
    )
    .unwrap();
    let score = auroc(
        &si.iter().map(|s| s.score).collect::<Vec<_>>(),
        &so.iter().map(|s| s.score).collect::<Vec<_>>(),
    )
    .unwrap();
    (typ, score)
}

#[test]
fn half_normal_fools_typicality_but_not_the_two_sample_score_test() {
    let mut last_score = 0.0;
    for (i, d) in [10usize, 100].into_iter().enumerate() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(100 + i as u64);
        let id = gaussian_rows(&mut rng, N_TEST, d, false);
        let ood = gaussian_rows(&mut rng, N_TEST, d, true);
        let (typ, score) = aurocs(d, 2, &ood, &id, 7);
        // ‖x‖² has the same χ²_D law under both ⇒ typicality is blind.
        assert!(
            (typ - 0.5).abs() < AUROC_NULL_TOL,
            "D={d}: typicality AUROC {typ}"
        );
        assert!(
            score > last_score,
            "score AUROC must grow with D: {score} <= {last_score}"
        );
        last_score = score;
    }
    assert!(last_score > 0.99, "D=100 score AUROC {last_score}");
}

#[test]
fn with_single_examples_both_tests_fail_on_half_normal() {
    let d = 20;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let id = gaussian_rows(&mut rng, N_TEST, d, false);
    let ood = gaussian_rows(&mut rng, N_TEST, d, true);
    let (typ, score) = aurocs(d, 1, &ood, &id, 8);
    assert!((typ - 0.5).abs() < AUROC_NULL_TOL);
    // n = 1: the score statistic is ‖x‖²/Î, whose law is also unchanged.
    assert!((score - 0.5).abs() < AUROC_NULL_TOL, "{score}");
}

#[test]
fn point_mass_fools_score_but_not_typicality() {
    let d = 50;
    let (model, cal, _) = setup(d, 1, 3);
    let zeros = Array2::<f32>::zeros((10, d));
    for s in cal.statistics(&model, zeros.view()).unwrap() {
        assert_eq!(s.score, 0.0);
        assert_eq!(s.p_score, 1.0);
        // typicality ≈ D/2 = 25 is beyond every validation value (sd of |χ²_50/2 − 25| is 5).
        assert_eq!(s.p_typicality, 0.0);
        assert!((s.typicality - d as f64 / 2.0).abs() < 0.5);
    }
}

#[test]
fn ecdf_score_p_values_match_chi2() {
    let d = 10;
    let (model, cal, mut rng) = setup(d, 1, 5);
    let test = gaussian_rows(&mut rng, 500, d, false);
    let stats = cal.statistics(&model, test.view()).unwrap();
    let mut worst: f64 = 0.0;
    for (row, s) in test.rows().into_iter().zip(&stats) {
        let norm2: f64 = row.iter().map(|&v| f64::from(v).powi(2)).sum();
        // exact Fisher is I, so ‖x‖² ~ χ²_D under H0
        let p_exact = chi2_sf(norm2, d as f64).unwrap();
        worst = worst.max((p_exact - s.p_score).abs());
    }
    assert!(worst < ECDF_VS_CHI2_TOL, "max |p_ecdf − p_χ²| = {worst}");
}

#[test]
fn typicality_is_exact_for_the_toy_model() {
    let d = 8;
    let (model, cal, mut rng) = setup(d, 1, 9);
    // L̄ → −H = −(D/2) ln(2πe); relative sampling error of the mean over 4000 rows ≈ 1 %.
    let h = d as f64 / 2.0 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln();
    assert!(
        (cal.mean_train_log_prob() + h).abs() < 0.15,
        "{}",
        cal.mean_train_log_prob()
    );
    let x = gaussian_rows(&mut rng, 4, d, false);
    for (row, s) in x
        .rows()
        .into_iter()
        .zip(cal.statistics(&model, x.view()).unwrap())
    {
        let norm2: f64 = row.iter().map(|&v| f64::from(v).powi(2)).sum();
        let lp = -(d as f64) / 2.0 * (2.0 * std::f64::consts::PI).ln() - norm2 / 2.0;
        assert!((s.log_prob - lp).abs() < 1e-5);
        assert!((s.typicality - (lp - cal.mean_train_log_prob()).abs()).abs() < 1e-9);
    }
}

#[test]
fn fisher_statistic_of_independent_p_values_is_chi2_4() {
    // Under H0 with independent tests the two p-values are independent uniforms, so X² must be
    // χ²₄ (CDF 1 − e^{−x/2}(1 + x/2)). Independence is arranged by taking the typicality p-value
    // of one in-distribution example and the score p-value of another (in the toy model both
    // statistics of the same example are functions of ‖x‖² and hence dependent). Conformal
    // p-values avoid the atom at 0.
    let d = 6;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
    let model = DiagGaussian::standard(d).unwrap();
    let cal = CalibrationParams::default()
        .p_value(PValueConvention::Conformal)
        .fit(
            &model,
            gaussian_rows(&mut rng, N_TRAIN, d, false).view(),
            gaussian_rows(&mut rng, N_VAL, d, false).view(),
        )
        .unwrap();
    let sa = cal
        .statistics(&model, gaussian_rows(&mut rng, 3000, d, false).view())
        .unwrap();
    let sb = cal
        .statistics(&model, gaussian_rows(&mut rng, 3000, d, false).view())
        .unwrap();
    let x2: Vec<f64> = sa
        .iter()
        .zip(&sb)
        .map(|(a, b)| {
            fisher_method(&[a.p_typicality, b.p_score])
                .unwrap()
                .statistic
        })
        .collect();
    let ks = ks_test(&x2, |x| 1.0 - chi2_sf_even(x, 2).unwrap()).unwrap();
    assert!(
        ks.p_value > 0.001,
        "KS vs χ²₄: D = {}, p = {}",
        ks.statistic,
        ks.p_value
    );
    // and the same-example X² is visibly not χ²₄ here, which the test must be able to detect
    let same: Vec<f64> = sa.iter().map(|s| s.fisher).collect();
    let ks_same = ks_test(&same, |x| 1.0 - chi2_sf_even(x, 2).unwrap()).unwrap();
    assert!(
        ks_same.p_value < 1e-6,
        "dependent statistics: p = {}",
        ks_same.p_value
    );
}
