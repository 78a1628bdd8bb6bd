//! Distribution functions and p-value combinations: χ² survival functions, Fisher's method,
//! the harmonic-mean p-value, Benjamini–Hochberg and a one-sample Kolmogorov–Smirnov test.

use crate::error::{check_range, Error, Result};

/// Offset added to every p-value before a logarithm or a division, as in the released code of
/// Bergamin et al. (`federicobergamin/model-agnostic-ood`): ECDF p-values can be exactly 0, and
/// `ln 0` would make Fisher's statistic infinite. It caps each term of X² at `−2 ln 1e-8 ≈ 36.8`.
pub const P_OFFSET: f64 = 1e-8;

/// Natural log of the gamma function for `x > 0` (Lanczos, g = 7, n = 9; relative error ~1e-15).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma function `Q(a, x) = Γ(a, x) / Γ(a)` for `a > 0, x ≥ 0`.
///
/// Series for `x < a + 1`, Lentz continued fraction otherwise (Numerical Recipes §6.2); both
/// converge to ~1e-15 relative error.
pub fn gamma_q(a: f64, x: f64) -> Result<f64> {
    check_range("a", a, a > 0.0 && a.is_finite(), "a finite value > 0")?;
    if x.is_nan() {
        return Err(Error::NonFinite { what: "gamma_q x" });
    }
    if x <= 0.0 {
        return Ok(1.0);
    }
    if x == f64::INFINITY {
        return Ok(0.0);
    }
    let ln_pre = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let mut ap = a;
        let mut sum = 1.0 / a;
        let mut del = sum;
        for _ in 0..100_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        Ok((1.0 - sum * ln_pre.exp()).clamp(0.0, 1.0))
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..100_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        Ok((ln_pre.exp() * h).clamp(0.0, 1.0))
    }
}

/// Survival function `P(χ²_dof > x)` for any positive number of degrees of freedom.
pub fn chi2_sf(x: f64, dof: f64) -> Result<f64> {
    check_range(
        "dof",
        dof,
        dof > 0.0 && dof.is_finite(),
        "a finite value > 0",
    )?;
    gamma_q(dof / 2.0, x / 2.0)
}

/// Exact survival function of χ² with an even number `2k` of degrees of freedom:
/// `P(χ²_{2k} > x) = e^{−x/2} Σ_{j<k} (x/2)^j / j!`. For `k = 2` (Fisher's method with two
/// p-values) this is `e^{−x/2}(1 + x/2)`.
pub fn chi2_sf_even(x: f64, k: usize) -> Result<f64> {
    check_range("k", k as f64, k > 0, "at least 1")?;
    if x.is_nan() {
        return Err(Error::NonFinite {
            what: "chi2 statistic",
        });
    }
    if x <= 0.0 {
        return Ok(1.0);
    }
    let h = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for j in 1..k {
        term *= h / j as f64;
        sum += term;
    }
    Ok(((-h).exp() * sum).clamp(0.0, 1.0))
}

fn check_p(p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::InvalidPValue { value: p })
    }
}

/// Result of combining independent p-values with Fisher's method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FisherCombination {
    /// `X² = −2 Σ ln(p_j + 1e-8)`; the paper's OOD score (larger ⇒ more OOD).
    pub statistic: f64,
    /// `P(χ²_{2k} > X²)`, exact closed form; the combined p-value used for FDR control.
    pub p_value: f64,
}

/// Fisher's method: `X² = −2 Σ_j ln(p_j + 1e-8)` ~ χ²_{2k} under H0 for k independent
/// continuous p-values; the p-value uses the exact even-dof closed form ([`chi2_sf_even`]).
pub fn fisher_method(ps: &[f64]) -> Result<FisherCombination> {
    if ps.is_empty() {
        return Err(Error::Empty { what: "p-values" });
    }
    let mut statistic = 0.0;
    for &p in ps {
        check_p(p)?;
        statistic -= 2.0 * (p + P_OFFSET).ln();
    }
    let p_value = chi2_sf_even(statistic, ps.len())?;
    Ok(FisherCombination { statistic, p_value })
}

/// Equal-weight harmonic-mean p-value (Wilson 2019), `k / Σ_j 1/p_j`. For k = 2 it is computed
/// as in the released code, `2 p1 p2 / (p1 + p2 + 1e-8)`; for other k as
/// `k / Σ_j 1/(p_j + 1e-8)`. Smaller ⇒ more OOD.
pub fn harmonic_mean_p(ps: &[f64]) -> Result<f64> {
    if ps.is_empty() {
        return Err(Error::Empty { what: "p-values" });
    }
    for &p in ps {
        check_p(p)?;
    }
    if let [p1, p2] = ps {
        return Ok(2.0 * p1 * p2 / (p1 + p2 + P_OFFSET));
    }
    let denom: f64 = ps.iter().map(|p| 1.0 / (p + P_OFFSET)).sum();
    Ok(ps.len() as f64 / denom)
}

/// Benjamini–Hochberg step-up procedure at FDR level `alpha`: sort ascending, find the largest
/// rank r with `p_(r) ≤ r α / m`, reject ranks 1..=r. Returns one flag per input (true = rejected,
/// i.e. declared OOD), in input order.
pub fn benjamini_hochberg(ps: &[f64], alpha: f64) -> Result<Vec<bool>> {
    check_range("alpha", alpha, alpha > 0.0 && alpha < 1.0, "in (0, 1)")?;
    if ps.is_empty() {
        return Err(Error::Empty { what: "p-values" });
    }
    for &p in ps {
        check_p(p)?;
    }
    let m = ps.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
    let mut r = 0;
    for (rank0, &i) in order.iter().enumerate() {
        if ps[i] <= (rank0 + 1) as f64 * alpha / m as f64 {
            r = rank0 + 1;
        }
    }
    let mut out = vec![false; m];
    for &i in order.iter().take(r) {
        out[i] = true;
    }
    Ok(out)
}

/// Outcome of a one-sample Kolmogorov–Smirnov test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsTest {
    /// `D = sup_x |F_n(x) − F(x)|`.
    pub statistic: f64,
    /// Asymptotic p-value from the Kolmogorov distribution with Stephens' small-sample
    /// correction `λ = (√n + 0.12 + 0.11/√n) D`.
    pub p_value: f64,
}

/// One-sample KS test of `samples` against a continuous CDF.
pub fn ks_test(samples: &[f64], cdf: impl Fn(f64) -> f64) -> Result<KsTest> {
    if samples.is_empty() {
        return Err(Error::Empty { what: "samples" });
    }
    if samples.iter().any(|v| v.is_nan()) {
        return Err(Error::NonFinite { what: "samples" });
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in s.iter().enumerate() {
        let f = cdf(x);
        d = d.max(f - i as f64 / n).max((i + 1) as f64 / n - f);
    }
    let sn = n.sqrt();
    let lambda = (sn + 0.12 + 0.11 / sn) * d;
    Ok(KsTest {
        statistic: d,
        p_value: kolmogorov_sf(lambda),
    })
}

/// Two-sample KS test (asymptotic, effective size `n m / (n + m)`). Testing that ECDF p-values of
/// test data are uniform is this test between the test statistics and the validation null.
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> Result<KsTest> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::Empty { what: "samples" });
    }
    if a.iter().chain(b).any(|v| v.is_nan()) {
        return Err(Error::NonFinite { what: "samples" });
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let t = a[i].min(b[j]);
        while i < a.len() && a[i] <= t {
            i += 1;
        }
        while j < b.len() && b[j] <= t {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let ne = (n * m / (n + m)).sqrt();
    Ok(KsTest {
        statistic: d,
        p_value: kolmogorov_sf((ne + 0.12 + 0.11 / ne) * d),
    })
}

/// `P(K > λ)` for the Kolmogorov distribution: `2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}`.
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda < 0.2 {
        // The alternating series converges slowly here and the value is 1 to double precision.
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for j in 1..200 {
        let jf = j as f64;
        let term = sign * (-2.0 * jf * jf * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-17 {
            break;
        }
        sign = -sign;
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Pearson correlation of two equal-length samples.
pub fn pearson(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() {
        return Err(Error::ShapeMismatch {
            what: "pearson inputs",
            expected: a.len(),
            actual: b.len(),
        });
    }
    if a.len() < 2 {
        return Err(Error::Empty {
            what: "pearson inputs (need 2)",
        });
    }
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    Ok(sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's test vectors are given to 6–7 significant digits; the 1e-8 offset moves X² by
    /// < 1e-6, so 1e-5 absolute separates a correct formula from any wrong one.
    const SPEC_TOL: f64 = 1e-5;
    /// Tabulated χ² quantiles are printed to 6 decimals; their tail probability is then exact to
    /// about 1e-6.
    const TABLE_TOL: f64 = 2e-6;

    #[test]
    fn fisher_spec_vectors() {
        for (p1, p2, x2, pf) in [
            (0.05, 0.05, 11.98293, 0.0174787),
            (0.5, 0.5, 2.77259, 0.596574),
            (0.01, 0.9, 9.42106, 0.0513948),
        ] {
            let c = fisher_method(&[p1, p2]).unwrap();
            assert!(
                (c.statistic - x2).abs() < SPEC_TOL,
                "{} vs {x2}",
                c.statistic
            );
            assert!((c.p_value - pf).abs() < SPEC_TOL, "{} vs {pf}", c.p_value);
            // closed form p1 p2 (1 − ln(p1 p2)) from the spec
            let closed = p1 * p2 * (1.0 - (p1 * p2).ln());
            assert!((c.p_value - closed).abs() < SPEC_TOL);
        }
    }

    #[test]
    fn even_closed_form_matches_incomplete_gamma() {
        for k in 1..6 {
            for x in [0.1, 1.0, 3.0, 9.0, 30.0, 80.0] {
                let a = chi2_sf_even(x, k).unwrap();
                let b = chi2_sf(x, 2.0 * k as f64).unwrap();
                assert!(
                    (a - b).abs() < 1e-12 * a.max(1e-300) + 1e-15,
                    "k={k} x={x}: {a} {b}"
                );
            }
        }
    }

    #[test]
    fn chi2_tabulated_quantiles() {
        // Upper 5% and 1% points of χ²_ν from standard tables (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4).
        for (x, dof, p) in [
            (3.841459, 1.0, 0.05),
            (18.307038, 10.0, 0.05),
            (23.209251, 10.0, 0.01),
            (124.342113, 100.0, 0.05),
            (135.806723, 100.0, 0.01),
        ] {
            let got = chi2_sf(x, dof).unwrap();
            assert!((got - p).abs() < TABLE_TOL, "dof {dof}: {got} vs {p}");
        }
        // χ²_2 has the exact survival function e^{-x/2}.
        assert!((chi2_sf(5.0, 2.0).unwrap() - (-2.5f64).exp()).abs() < 1e-14);
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        // ln(99!) = ln Γ(100)
        let lf: f64 = (1..100).map(|i| (i as f64).ln()).sum();
        assert!((ln_gamma(100.0) - lf).abs() < 1e-10);
    }

    #[test]
    fn harmonic_and_bh() {
        let h = harmonic_mean_p(&[0.2, 0.4]).unwrap();
        assert!((h - 2.0 * 0.08 / 0.6).abs() < 1e-7);
        // BH example: m = 5, α = 0.05: thresholds .01,.02,.03,.04,.05
        let ps = [0.01, 0.04, 0.03, 0.005, 0.2];
        let r = benjamini_hochberg(&ps, 0.05).unwrap();
        assert_eq!(r, vec![true, true, true, true, false]);
        let r = benjamini_hochberg(&[0.02, 0.5], 0.02).unwrap();
        assert_eq!(r, vec![false, false]);
        assert!(matches!(
            benjamini_hochberg(&[0.1], 1.5),
            Err(Error::Param(ParamError::OutOfRange { name: "alpha", .. }))
        ));
        assert!(matches!(
            fisher_method(&[1.2, 0.3]),
            Err(Error::InvalidPValue { .. })
        ));
        assert!(matches!(fisher_method(&[]), Err(Error::Empty { .. })));
    }

    #[test]
    fn ks_uniform_grid_passes_and_shifted_fails() {
        let n = 1000;
        let u: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let t = ks_test(&u, |x| x.clamp(0.0, 1.0)).unwrap();
        assert!(t.statistic <= 0.5 / n as f64 + 1e-12);
        assert!(t.p_value > 0.99);
        let shifted: Vec<f64> = u.iter().map(|x| x * 0.8).collect();
        let t = ks_test(&shifted, |x| x.clamp(0.0, 1.0)).unwrap();
        assert!((t.statistic - 0.2).abs() < 2e-3);
        assert!(t.p_value < 1e-10);
        let two = ks_two_sample(&u, &shifted).unwrap();
        assert!((two.statistic - 0.2).abs() < 2e-3 && two.p_value < 1e-10);
        let same = ks_two_sample(&u, &u).unwrap();
        assert_eq!(same.statistic, 0.0);
        // Kolmogorov distribution: P(K > 1.3581) ≈ 0.05 (classic 5% critical value).
        assert!((kolmogorov_sf(1.358_099) - 0.05).abs() < 1e-5);
    }

    use crate::error::ParamError;
}
