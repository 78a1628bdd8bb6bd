//! Zero-mean/unit-variance normalisation, one implementation for the workspace.

use crate::error::{Error, Result};

/// Epsilon added to the variance, as in transformers' `Wav2Vec2FeatureExtractor`.
pub const ZERO_MEAN_UNIT_VAR_EPS: f64 = 1e-7;

/// `x <- (x - mean) / sqrt(var + 1e-7)` in place, population variance, f64 accumulation
/// (numpy sums float32 pairwise, close to exact; a naive f32 sum over minutes of audio is not).
///
/// Empty input is left as is. NaN or ±inf anywhere is [`Error::NonFinite`] with the index of
/// the first one, and `samples` is left unchanged.
pub fn zero_mean_unit_var(samples: &mut [f32]) -> Result<()> {
    if let Some(index) = samples.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { index });
    }
    if samples.is_empty() {
        return Ok(());
    }
    // Lengths are far below 2^53: exact in f64.
    #[allow(clippy::cast_precision_loss)]
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let inv = 1.0 / (var + ZERO_MEAN_UNIT_VAR_EPS).sqrt();
    #[allow(clippy::cast_possible_truncation)]
    samples
        .iter_mut()
        .for_each(|x| *x = ((f64::from(*x) - mean) * inv) as f32);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn matches_formula() {
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0];
        zero_mean_unit_var(&mut x).unwrap();
        // mean 2.5, population variance 1.25
        let s = (1.25f64 + 1e-7).sqrt();
        for (got, raw) in x.iter().zip([1.0f64, 2.0, 3.0, 4.0]) {
            assert!((f64::from(*got) - (raw - 2.5) / s).abs() < 1e-7);
        }
    }

    #[test]
    fn nan_and_inf_are_errors_and_leave_input_alone() {
        let mut x = vec![1.0f32, f32::NAN, 2.0];
        assert_eq!(
            zero_mean_unit_var(&mut x),
            Err(Error::NonFinite { index: 1 })
        );
        assert_eq!(x[0], 1.0);
        let mut y = vec![f32::NEG_INFINITY];
        assert_eq!(
            zero_mean_unit_var(&mut y),
            Err(Error::NonFinite { index: 0 })
        );
        let mut e: Vec<f32> = Vec::new();
        assert_eq!(zero_mean_unit_var(&mut e), Ok(()));
    }

    #[test]
    fn constant_input_becomes_zeros() {
        let mut x = vec![0.5f32; 10];
        zero_mean_unit_var(&mut x).unwrap();
        assert!(x.iter().all(|&v| v == 0.0));
    }
}
