//! Detection metrics with OOD as the positive class: AUROC (Mann–Whitney, ties ½), AUPRC
//! (step-wise average precision, the sklearn definition) and FPR at a TPR level.
//!
//! Every function takes scores where **larger means more OOD**; negate log-likelihoods and
//! p-values before passing them.

use crate::error::{check_range, Error, Result};

fn check(inlier: &[f64], outlier: &[f64]) -> Result<()> {
    if inlier.is_empty() {
        return Err(Error::Empty {
            what: "in-distribution scores",
        });
    }
    if outlier.is_empty() {
        return Err(Error::Empty { what: "OOD scores" });
    }
    if inlier.iter().chain(outlier).any(|v| v.is_nan()) {
        return Err(Error::NonFinite { what: "scores" });
    }
    Ok(())
}

/// Area under the ROC curve: `P(s_ood > s_in) + ½ P(s_ood = s_in)`, via midranks.
pub fn auroc(inlier: &[f64], outlier: &[f64]) -> Result<f64> {
    check(inlier, outlier)?;
    let mut all: Vec<(f64, bool)> = inlier
        .iter()
        .map(|&s| (s, false))
        .chain(outlier.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Midrank (1-based) shared by the tied block i..=j.
        let mid = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mid * all[i..=j].iter().filter(|t| t.1).count() as f64;
        i = j + 1;
    }
    let n_pos = outlier.len() as f64;
    let n_neg = inlier.len() as f64;
    Ok((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg))
}

/// ROC operating points at every distinct threshold, from the strictest down, starting at
/// (0, 0): `(fpr, tpr)` pairs.
pub fn roc_curve(inlier: &[f64], outlier: &[f64]) -> Result<Vec<(f64, f64)>> {
    check(inlier, outlier)?;
    let mut pts = vec![(0.0, 0.0)];
    walk_thresholds(inlier, outlier, |tp, fp| {
        pts.push((fp / inlier.len() as f64, tp / outlier.len() as f64));
    });
    Ok(pts)
}

/// Calls `f(tp, fp)` after each distinct threshold, scores sorted descending.
fn walk_thresholds(inlier: &[f64], outlier: &[f64], mut f: impl FnMut(f64, f64)) {
    let mut all: Vec<(f64, bool)> = inlier
        .iter()
        .map(|&s| (s, false))
        .chain(outlier.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0.0, 0.0);
    for (k, &(s, pos)) in all.iter().enumerate() {
        if pos {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last_of_block = all.get(k + 1).is_none_or(|n| n.0 != s);
        if last_of_block {
            f(tp, fp);
        }
    }
}

/// Average precision `Σ_n (R_n − R_{n−1}) P_n` over distinct thresholds (no interpolation), as
/// `sklearn.metrics.average_precision_score`.
pub fn auprc(inlier: &[f64], outlier: &[f64]) -> Result<f64> {
    check(inlier, outlier)?;
    let n_pos = outlier.len() as f64;
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    walk_thresholds(inlier, outlier, |tp, fp| {
        let recall = tp / n_pos;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
    });
    Ok(ap)
}

/// False-positive rate at the first ROC point whose TPR reaches `tpr_level`
/// (FPR80 for 0.8, as in `JakobHavtorn/hvae-oodd: scripts/ood-llr-results.py`; all distinct
/// thresholds are kept, none dropped as collinear).
pub fn fpr_at_tpr(inlier: &[f64], outlier: &[f64], tpr_level: f64) -> Result<f64> {
    check_range(
        "tpr_level",
        tpr_level,
        tpr_level > 0.0 && tpr_level <= 1.0,
        "in (0, 1]",
    )?;
    let pts = roc_curve(inlier, outlier)?;
    Ok(pts
        .iter()
        .find(|p| p.1 >= tpr_level - 1e-12)
        .map_or(1.0, |p| p.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_by_hand() {
        assert_eq!(auroc(&[0.0, 1.0], &[2.0, 3.0]).unwrap(), 1.0);
        assert_eq!(auroc(&[2.0, 3.0], &[0.0, 1.0]).unwrap(), 0.0);
        // all tied ⇒ ½
        assert_eq!(auroc(&[1.0, 1.0], &[1.0, 1.0, 1.0]).unwrap(), 0.5);
        // in = {1, 3}, out = {2, 3}: pairs (2>1)=1, (2<3)=0, (3>1)=1, (3=3)=½ ⇒ 2.5/4
        assert_eq!(auroc(&[1.0, 3.0], &[2.0, 3.0]).unwrap(), 0.625);
        assert!(matches!(auroc(&[], &[1.0]), Err(Error::Empty { .. })));
        assert!(matches!(
            auroc(&[f64::NAN], &[1.0]),
            Err(Error::NonFinite { .. })
        ));
    }

    #[test]
    fn auprc_by_hand() {
        // sklearn: average_precision_score([1,0,1,0], [0.9,0.8,0.7,0.1]) = (1 + 2/3)/2
        let ap = auprc(&[0.8, 0.1], &[0.9, 0.7]).unwrap();
        assert!((ap - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // ties: one block holding everything ⇒ precision = prevalence
        let ap = auprc(&[0.5, 0.5, 0.5], &[0.5]).unwrap();
        assert!((ap - 0.25).abs() < 1e-12);
    }

    #[test]
    fn fpr_by_hand() {
        // out = {5,4,3,2,1} (5 positives), in = {4.5, 3.5, 0}
        let fpr = fpr_at_tpr(&[4.5, 3.5, 0.0], &[5.0, 4.0, 3.0, 2.0, 1.0], 0.8).unwrap();
        // TPR reaches 0.8 at threshold 2 where in-scores 4.5, 3.5 are above ⇒ 2/3
        assert!((fpr - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(fpr_at_tpr(&[0.0], &[1.0], 0.95).unwrap(), 0.0);
    }
}
