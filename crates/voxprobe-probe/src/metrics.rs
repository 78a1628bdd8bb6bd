//! Classification metrics as scikit-learn computes them: UAR (`balanced_accuracy_score`),
//! accuracy, macro-F1 (`f1_score(average="macro")`, zero division = 0) and the confusion matrix.

use serde::Serialize;

/// Metrics of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Unweighted average recall: mean recall over the classes that occur in the truth
    /// (scikit-learn's `balanced_accuracy_score`, which skips classes with no true example).
    pub uar: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Mean F1 over the classes that occur in the truth or the predictions (F1 = 0 where
    /// precision and recall are both undefined or zero).
    pub macro_f1: f64,
    /// `confusion[true][predicted]` counts over all classes.
    pub confusion: Vec<Vec<usize>>,
    /// Samples scored.
    pub n: usize,
}

impl Metrics {
    /// Scores `predicted` against `truth` (class indices below `n_classes`; others are ignored).
    pub fn compute(truth: &[usize], predicted: &[usize], n_classes: usize) -> Self {
        let mut confusion = vec![vec![0usize; n_classes]; n_classes];
        let mut n = 0;
        for (&t, &p) in truth.iter().zip(predicted) {
            if let Some(cell) = confusion.get_mut(t).and_then(|r| r.get_mut(p)) {
                *cell += 1;
                n += 1;
            }
        }
        let row: Vec<usize> = confusion.iter().map(|r| r.iter().sum()).collect();
        let col: Vec<usize> = (0..n_classes)
            .map(|j| confusion.iter().map(|r| r[j]).sum())
            .collect();
        let diag: Vec<usize> = (0..n_classes).map(|k| confusion[k][k]).collect();
        let (mut rsum, mut rcount) = (0.0, 0usize);
        let (mut fsum, mut fcount) = (0.0, 0usize);
        for k in 0..n_classes {
            if row[k] > 0 {
                rsum += diag[k] as f64 / row[k] as f64;
                rcount += 1;
            }
            if row[k] > 0 || col[k] > 0 {
                let denom = (row[k] + col[k]) as f64;
                fsum += 2.0 * diag[k] as f64 / denom;
                fcount += 1;
            }
        }
        let ratio = |a: f64, b: usize| if b == 0 { 0.0 } else { a / b as f64 };
        Self {
            uar: ratio(rsum, rcount),
            accuracy: ratio(diag.iter().sum::<usize>() as f64, n),
            macro_f1: ratio(fsum, fcount),
            confusion,
            n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        // truth 0 0 0 1 1 2, predicted 0 0 1 1 2 2
        let m = Metrics::compute(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3);
        assert!((m.uar - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-15);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-15);
        // F1: class 0 = 2*2/(3+2), class 1 = 2*1/(2+2), class 2 = 2*1/(1+2)
        let f1 = (0.8 + 0.5 + 2.0 / 3.0) / 3.0;
        assert!((m.macro_f1 - f1).abs() < 1e-15);
        assert_eq!(m.confusion[1], vec![0, 1, 1]);
    }

    #[test]
    fn absent_true_class_is_skipped_in_uar() {
        let m = Metrics::compute(&[0, 0], &[0, 1], 3);
        assert!((m.uar - 0.5).abs() < 1e-15);
        // F1 over classes 0 and 1 (class 1 predicted but never true: F1 = 0).
        assert!((m.macro_f1 - (2.0 / 3.0) / 2.0).abs() < 1e-15);
    }
}
