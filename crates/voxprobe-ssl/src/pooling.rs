//! Parameter-free helpers for downstream probes (SUPERB style): weighted layer sums and
//! (masked) mean pooling over time.

use crate::error::{Error, Result};
use candle_core::{DType, Tensor};

/// `Σ_l softmax(w)_l · states[l]`, the SUPERB weighted layer sum with given (not learned)
/// weights. All states must share one shape. Equal weights give the layer mean.
pub fn weighted_layer_sum(states: &[Tensor], weights: &[f32]) -> Result<Tensor> {
    if states.is_empty() || states.len() != weights.len() {
        return Err(Error::InvalidInput {
            reason: format!(
                "weighted_layer_sum needs one weight per state, got {} states and {} weights",
                states.len(),
                weights.len()
            ),
        });
    }
    if weights.iter().any(|w| !w.is_finite()) {
        return Err(Error::InvalidInput {
            reason: "layer weights must be finite".into(),
        });
    }
    let max = weights.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f64> = weights.iter().map(|&w| f64::from(w - max).exp()).collect();
    let z: f64 = exps.iter().sum();
    let mut acc: Option<Tensor> = None;
    for (s, e) in states.iter().zip(&exps) {
        if s.dims() != states[0].dims() {
            return Err(Error::ShapeMismatch {
                what: "hidden state".into(),
                expected: states[0].dims().to_vec(),
                actual: s.dims().to_vec(),
            });
        }
        let term = (s.to_dtype(DType::F32)? * (e / z))?;
        acc = Some(match acc {
            Some(a) => (a + term)?,
            None => term,
        });
    }
    acc.ok_or_else(|| Error::InvalidInput {
        reason: "no states".into(),
    })
}

/// Mean over time of `(B, T, H)` → `(B, H)`, counting only the first `lengths[b]` frames of
/// each item when lengths are given (e.g. [`crate::SslOutput::frame_lengths`]).
pub fn mean_pool(x: &Tensor, lengths: Option<&[usize]>) -> Result<Tensor> {
    let (b, t, _) = x.dims3()?;
    let x = x.to_dtype(DType::F32)?;
    let Some(lengths) = lengths else {
        return Ok(x.mean(1)?);
    };
    if lengths.len() != b {
        return Err(Error::ShapeMismatch {
            what: "lengths".into(),
            expected: vec![b],
            actual: vec![lengths.len()],
        });
    }
    if let Some(&bad) = lengths.iter().find(|&&l| l == 0 || l > t) {
        return Err(Error::InvalidInput {
            reason: format!("pooling length {bad} outside 1..={t}"),
        });
    }
    let mut mask = Vec::with_capacity(b * t);
    for &l in lengths {
        mask.extend((0..t).map(|i| if i < l { 1f32 } else { 0f32 }));
    }
    let mask = Tensor::from_vec(mask, (b, t, 1), x.device())?;
    let counts: Vec<f32> = lengths.iter().map(|&l| l as f32).collect();
    let counts = Tensor::from_vec(counts, (b, 1), x.device())?;
    Ok(x.broadcast_mul(&mask)?.sum(1)?.broadcast_div(&counts)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn masked_mean_ignores_padding() {
        let x =
            Tensor::from_vec(vec![1f32, 3., 100., 2., 4., 6.], (2, 3, 1), &Device::Cpu).unwrap();
        let m = mean_pool(&x, Some(&[2, 3]))
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(m, vec![vec![2.0], vec![4.0]]);
        assert!(matches!(
            mean_pool(&x, Some(&[0, 3])),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn equal_weights_average() {
        let a = Tensor::new(&[1f32, 2.], &Device::Cpu).unwrap();
        let b = Tensor::new(&[3f32, 6.], &Device::Cpu).unwrap();
        let s = weighted_layer_sum(&[a, b], &[0.5, 0.5])
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(s, vec![2.0, 4.0]);
    }
}
