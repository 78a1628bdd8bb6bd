//! Cross-validation: folds ([`leave_one_group_out`], [`stratified_k_fold`]) and
//! [`cross_validate`], which standardises and fits a fresh probe per fold.

use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

use crate::error::{Error, ParamError, Result};
use crate::logistic::LogisticRegressionParams;
use crate::metrics::Metrics;
use crate::scaler::{check_matrix, StandardScaler};

/// One train/test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    /// Name: the held-out group, or the fold number for k-fold.
    pub name: String,
    /// Training rows, ascending.
    pub train: Vec<usize>,
    /// Test rows, ascending.
    pub test: Vec<usize>,
}

/// Leave-one-group-out folds, one per distinct group in ascending (byte) order, as
/// scikit-learn's `LeaveOneGroupOut` (which orders by `np.unique`).
pub fn leave_one_group_out(groups: &[String]) -> Result<Vec<Fold>> {
    if groups.is_empty() {
        return Err(Error::EmptyInput { what: "no groups" });
    }
    let mut names: Vec<&String> = groups.iter().collect();
    names.sort();
    names.dedup();
    if names.len() < 2 {
        return Err(Error::TooFewGroups {
            n_groups: names.len(),
        });
    }
    Ok(names
        .into_iter()
        .map(|g| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..groups.len()).partition(|&i| &groups[i] == g);
            Fold {
                name: g.clone(),
                train,
                test,
            }
        })
        .collect())
}

/// Stratified k-fold without shuffling, the same fold assignment as scikit-learn 1.9's
/// `StratifiedKFold(n_splits, shuffle=False)`: classes are numbered by first appearance, the
/// sorted labels are dealt round-robin to the folds, and each class's rows (in data order)
/// fill the folds in order. Errors if `n_splits` exceeds the size of every class (scikit-learn
/// raises too) or the number of samples; a smaller class only makes some folds lack it.
pub fn stratified_k_fold(y: &[usize], n_splits: usize) -> Result<Vec<Fold>> {
    if n_splits < 2 {
        return Err(ParamError::TooFewSplits { n_splits }.into());
    }
    if y.is_empty() {
        return Err(Error::EmptyInput { what: "no labels" });
    }
    if n_splits > y.len() {
        return Err(Error::ShapeMismatch {
            what: "n_splits must not exceed the number of samples",
            expected: y.len(),
            actual: n_splits,
        });
    }
    // Encode by order of first appearance.
    let mut order: Vec<usize> = Vec::new();
    let enc: Vec<usize> = y
        .iter()
        .map(|v| match order.iter().position(|o| o == v) {
            Some(i) => i,
            None => {
                order.push(*v);
                order.len() - 1
            }
        })
        .collect();
    let k = order.len();
    let mut counts = vec![0usize; k];
    enc.iter().for_each(|&c| counts[c] += 1);
    if counts.iter().all(|&c| n_splits > c) {
        return Err(Error::ClassTooSmall {
            class: "every class".into(),
            count: counts.iter().copied().max().unwrap_or(0),
            needed: n_splits,
        });
    }
    let mut sorted = enc.clone();
    sorted.sort_unstable();
    // allocation[f][c]: examples of class c in test fold f.
    let mut allocation = vec![vec![0usize; k]; n_splits];
    for (i, &c) in sorted.iter().enumerate() {
        allocation[i % n_splits][c] += 1;
    }
    let mut test_fold = vec![0usize; y.len()];
    for (c, _) in counts.iter().enumerate() {
        let mut folds = (0..n_splits).flat_map(|f| std::iter::repeat_n(f, allocation[f][c]));
        for (i, &e) in enc.iter().enumerate() {
            if e == c {
                test_fold[i] = folds.next().unwrap_or(0);
            }
        }
    }
    Ok((0..n_splits)
        .map(|f| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..y.len()).partition(|&i| test_fold[i] == f);
            Fold {
                name: f.to_string(),
                train,
                test,
            }
        })
        .collect())
}

/// What [`cross_validate`] does when a fold's training set lacks a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub enum MissingClassPolicy {
    /// Refuse with [`Error::FoldMissingClass`] naming the fold and the class.
    #[default]
    Error,
    /// Fit on the classes present (what scikit-learn's `cross_val_predict` does): the absent
    /// class gets probability 0 and is never predicted in that fold; the fold report lists it.
    FitPresent,
}

/// Settings of [`cross_validate`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ProbeParams {
    /// The classifier. Default: [`LogisticRegressionParams::default`] (scikit-learn's
    /// `LogisticRegression()` objective).
    pub logistic: LogisticRegressionParams,
    /// Training folds lacking a class. Default: [`MissingClassPolicy::Error`].
    pub missing_class: MissingClassPolicy,
}

impl ProbeParams {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the classifier settings.
    pub fn logistic(mut self, p: LogisticRegressionParams) -> Self {
        self.logistic = p;
        self
    }
    /// Sets the missing-class policy.
    pub fn missing_class(mut self, p: MissingClassPolicy) -> Self {
        self.missing_class = p;
        self
    }
}

/// One fold's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldReport {
    /// Fold name.
    pub name: String,
    /// Training and test sizes.
    pub n_train: usize,
    /// Test size.
    pub n_test: usize,
    /// Metrics on this fold's test rows.
    pub metrics: Metrics,
    /// Classes absent from this fold's training set (only with `FitPresent`).
    pub missing_classes: Vec<usize>,
    /// Feature columns constant in this fold's training set (standardised to zero).
    pub constant_features: Vec<usize>,
    /// L-BFGS iterations.
    pub n_iter: usize,
    /// Whether the solver reached its tolerance.
    pub converged: bool,
}

/// Out-of-fold results of [`cross_validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct CvResult {
    /// Predicted class per row (every row is tested exactly once when folds partition the rows).
    pub predicted: Vec<usize>,
    /// Fold index per row (`usize::MAX` for rows in no test set).
    pub fold_of: Vec<usize>,
    /// Probabilities `[n, n_classes]`.
    pub proba: Array2<f64>,
    /// Per-fold reports.
    pub folds: Vec<FoldReport>,
    /// Metrics on the pooled out-of-fold predictions.
    pub pooled: Metrics,
    /// Mean of the per-fold UARs.
    pub mean_fold_uar: f64,
}

/// Cross-validated probe: per fold, a [`StandardScaler`] fitted on the training rows only,
/// then logistic regression; predictions and probabilities for the test rows.
///
/// `y` holds class indices below `class_names.len()`; names only serve error messages.
/// Rows in no test set keep `predicted = usize::MAX` and are left out of the metrics.
pub fn cross_validate(
    x: ArrayView2<'_, f64>,
    y: &[usize],
    class_names: &[String],
    folds: &[Fold],
    params: &ProbeParams,
) -> Result<CvResult> {
    let valid = params.logistic.check()?;
    check_matrix(x)?;
    let n = x.nrows();
    let k = class_names.len();
    if y.len() != n {
        return Err(Error::ShapeMismatch {
            what: "labels (one per sample)",
            expected: n,
            actual: y.len(),
        });
    }
    if let Some((row, &label)) = y.iter().enumerate().find(|(_, &l)| l >= k) {
        return Err(Error::LabelOutOfRange {
            row,
            label,
            n_classes: k,
        });
    }
    if folds.is_empty() {
        return Err(Error::EmptyInput { what: "no folds" });
    }
    let mut predicted = vec![usize::MAX; n];
    let mut fold_of = vec![usize::MAX; n];
    let mut proba = Array2::<f64>::zeros((n, k));
    let mut reports = Vec::with_capacity(folds.len());
    for (fi, fold) in folds.iter().enumerate() {
        if let Some(&bad) = fold.train.iter().chain(&fold.test).find(|&&i| i >= n) {
            return Err(Error::ShapeMismatch {
                what: "fold row index must be below the number of samples",
                expected: n,
                actual: bad,
            });
        }
        let mut present = vec![false; k];
        fold.train.iter().for_each(|&i| present[y[i]] = true);
        let missing: Vec<usize> = (0..k).filter(|&c| !present[c]).collect();
        let n_present = k - missing.len();
        if n_present == 1 {
            let c = present.iter().position(|&p| p).unwrap_or(0);
            return Err(Error::FoldSingleClass {
                fold: fold.name.clone(),
                class: class_names[c].clone(),
            });
        }
        if let (Some(&c), MissingClassPolicy::Error) = (missing.first(), params.missing_class) {
            return Err(Error::FoldMissingClass {
                fold: fold.name.clone(),
                class: class_names[c].clone(),
            });
        }
        let xtr = x.select(Axis(0), &fold.train);
        let xte = x.select(Axis(0), &fold.test);
        let ytr: Vec<usize> = fold.train.iter().map(|&i| y[i]).collect();
        let scaler = StandardScaler::fit(xtr.view())?;
        let constant_features = scaler.constant_columns(xtr.view());
        let model = valid.fit(scaler.transform(xtr.view())?.view(), &ytr)?;
        let zte = scaler.transform(xte.view())?;
        let p = model.predict_proba(zte.view())?;
        let pred = model.predict(zte.view())?;
        for (r, &i) in fold.test.iter().enumerate() {
            predicted[i] = pred[r];
            fold_of[i] = fi;
            for (j, &c) in model.classes().iter().enumerate() {
                proba[[i, c]] = p[[r, j]];
            }
        }
        let yte: Vec<usize> = fold.test.iter().map(|&i| y[i]).collect();
        tracing::debug!(fold = %fold.name, iterations = model.n_iter(), "probe fold fitted");
        reports.push(FoldReport {
            name: fold.name.clone(),
            n_train: fold.train.len(),
            n_test: fold.test.len(),
            metrics: Metrics::compute(&yte, &pred, k),
            missing_classes: missing,
            constant_features,
            n_iter: model.n_iter(),
            converged: model.converged(),
        });
    }
    let pooled = Metrics::compute(y, &predicted, k);
    let mean_fold_uar = reports.iter().map(|r| r.metrics.uar).sum::<f64>() / reports.len() as f64;
    Ok(CvResult {
        predicted,
        fold_of,
        proba,
        folds: reports,
        pooled,
        mean_fold_uar,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_assignment_matches_hand_worked_sklearn_example() {
        // sklearn: StratifiedKFold(3).split(X, [1,1,1,0,0,0,0,1,0]) test folds
        // → [0,0,1,0,0,1,2,2,1]... computed by hand below with the same algorithm:
        // classes by first appearance: 1 -> 0, 0 -> 1; counts [4, 5]; sorted enc
        // [0,0,0,0,1,1,1,1,1] dealt to 3 folds: f0 gets idx 0,3,6 -> {0:2,1:1}; f1 1,4,7 ->
        // {0:1,1:2}; f2 2,5,8 -> {0:1,1:2}.  class 0 rows (0,1,2,7) -> folds 0,0,1,2;
        // class 1 rows (3,4,5,6,8) -> folds 0,1,1,2,2.
        let y = [1, 1, 1, 0, 0, 0, 0, 1, 0];
        let f = stratified_k_fold(&y, 3).unwrap();
        assert_eq!(f[0].test, vec![0, 1, 3]);
        assert_eq!(f[1].test, vec![2, 4, 5]);
        assert_eq!(f[2].test, vec![6, 7, 8]);
        assert_eq!(f[0].train, vec![2, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn stratified_rejects_too_many_splits() {
        assert!(matches!(
            stratified_k_fold(&[0, 0, 1, 1], 3),
            Err(Error::ClassTooSmall { .. })
        ));
        assert!(matches!(
            stratified_k_fold(&[0, 1], 1),
            Err(Error::Param(ParamError::TooFewSplits { .. }))
        ));
    }

    #[test]
    fn logo_orders_groups_and_needs_two() {
        let g: Vec<String> = ["b", "a", "b"].iter().map(|s| s.to_string()).collect();
        let f = leave_one_group_out(&g).unwrap();
        assert_eq!(f[0].name, "a");
        assert_eq!(f[0].test, vec![1]);
        assert_eq!(f[1].test, vec![0, 2]);
        let one = vec!["a".to_string(); 3];
        assert!(matches!(
            leave_one_group_out(&one),
            Err(Error::TooFewGroups { n_groups: 1 })
        ));
    }
}
