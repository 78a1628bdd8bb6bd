//! [`StandardScaler`]: per-column standardisation as scikit-learn's `StandardScaler()`.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{Error, Result};

/// A fitted standardiser: `(x - mean) / scale` per column.
///
/// As scikit-learn 1.9's `StandardScaler()`: the variance uses `ddof = 0`, and a column whose
/// variance is indistinguishable from zero (the Chan–Golub–LeVeque bound scikit-learn's
/// `_is_constant_feature` uses) gets scale 1, so a constant column becomes all zeros instead of
/// NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScaler {
    mean: Array1<f64>,
    scale: Array1<f64>,
}

impl StandardScaler {
    /// Fits on the rows of `x` (samples × features). Errors on empty or non-finite input.
    pub fn fit(x: ArrayView2<'_, f64>) -> Result<Self> {
        check_matrix(x)?;
        let n = x.nrows() as f64;
        let mean = x.sum_axis(Axis(0)) / n;
        let mut var = Array1::<f64>::zeros(x.ncols());
        for (j, col) in x.axis_iter(Axis(1)).enumerate() {
            let (mut s2, mut s1) = (0.0, 0.0);
            for &v in col {
                let d = v - mean[j];
                s1 += d;
                s2 += d * d;
            }
            var[j] = (s2 - s1 * s1 / n) / n;
        }
        let eps = f64::EPSILON;
        let scale = var
            .iter()
            .zip(mean.iter())
            .map(|(&v, &m)| {
                let bound = n * eps * v + (n * m * eps).powi(2);
                if v <= bound || v.sqrt() < 10.0 * eps {
                    1.0
                } else {
                    v.sqrt()
                }
            })
            .collect();
        Ok(Self { mean, scale })
    }

    /// Standardises `x` with the fitted statistics.
    pub fn transform(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        check_matrix(x)?;
        if x.ncols() != self.mean.len() {
            return Err(Error::ShapeMismatch {
                what: "feature columns",
                expected: self.mean.len(),
                actual: x.ncols(),
            });
        }
        Ok((&x - &self.mean) / &self.scale)
    }

    /// Column means.
    pub fn mean(&self) -> &Array1<f64> {
        &self.mean
    }

    /// Column scales (standard deviations; 1 for constant columns).
    pub fn scale(&self) -> &Array1<f64> {
        &self.scale
    }

    /// Indices of the columns of `x` that are constant (every value equals the column's
    /// mean to 1e-12 relative): standardised, they are all zeros and carry nothing.
    pub fn constant_columns(&self, x: ArrayView2<'_, f64>) -> Vec<usize> {
        (0..self.mean.len().min(x.ncols()))
            .filter(|&j| {
                let m = self.mean[j];
                x.column(j)
                    .iter()
                    .all(|&v| (v - m).abs() <= 1e-12 * m.abs().max(1.0))
            })
            .collect()
    }
}

/// Rejects empty and non-finite matrices.
pub(crate) fn check_matrix(x: ArrayView2<'_, f64>) -> Result<()> {
    if x.nrows() == 0 {
        return Err(Error::EmptyInput { what: "no samples" });
    }
    if x.ncols() == 0 {
        return Err(Error::EmptyInput {
            what: "no features",
        });
    }
    for ((row, column), v) in x.indexed_iter() {
        if !v.is_finite() {
            return Err(Error::NonFinite { row, column });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn constant_column_becomes_zero_not_nan() {
        let x = array![[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]];
        let s = StandardScaler::fit(x.view()).unwrap();
        let z = s.transform(x.view()).unwrap();
        assert!(z.column(1).iter().all(|&v| v == 0.0));
        assert_eq!(s.scale()[1], 1.0);
        assert!((s.scale()[0] - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.constant_columns(x.view()), vec![1]);
    }

    #[test]
    fn rejects_nan_and_empty() {
        let x = array![[1.0, f64::NAN]];
        assert!(matches!(
            StandardScaler::fit(x.view()),
            Err(Error::NonFinite { row: 0, column: 1 })
        ));
        let e = Array2::<f64>::zeros((0, 3));
        assert!(matches!(
            StandardScaler::fit(e.view()),
            Err(Error::EmptyInput { .. })
        ));
    }
}
