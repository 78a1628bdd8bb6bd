//! Channel downmix and per-utterance normalisation.

use crate::error::{ParamError, Result};

/// How to turn several channels into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Downmix {
    /// Arithmetic mean of all channels (what torchaudio users get with `x.mean(0)`).
    #[default]
    Mean,
    /// Keep one channel (0-based index).
    Channel(usize),
}

/// Per-utterance amplitude normalisation applied after resampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalize {
    /// Leave samples as decoded.
    #[default]
    None,
    /// Divide by the largest absolute value (silence is left unchanged).
    Peak,
    /// `(x - mean) / sqrt(var + 1e-7)` with the population variance, as the wav2vec 2.0 /
    /// HuBERT / WavLM feature extractors do (`do_normalize=True`).
    ZeroMeanUnitVar,
}

/// Downmixes interleaved samples with `channels` channels into one channel.
pub fn downmix(
    interleaved: &[f32],
    channels: usize,
    mode: Downmix,
) -> Result<Vec<f32>, ParamError> {
    let mut out = Vec::with_capacity(interleaved.len() / channels.max(1));
    downmix_into(interleaved, channels, mode, &mut out)?;
    Ok(out)
}

/// Like [`downmix`], appending to `out` (no allocation when `out` has room).
pub fn downmix_into(
    interleaved: &[f32],
    channels: usize,
    mode: Downmix,
    out: &mut Vec<f32>,
) -> Result<(), ParamError> {
    if channels == 0 {
        return Err(ParamError::ZeroChannels);
    }
    match mode {
        Downmix::Channel(c) if c >= channels => Err(ParamError::ChannelOutOfRange {
            requested: c,
            channels,
        }),
        Downmix::Channel(c) => {
            out.extend(interleaved.chunks_exact(channels).map(|f| f[c]));
            Ok(())
        }
        Downmix::Mean if channels == 1 => {
            out.extend_from_slice(interleaved);
            Ok(())
        }
        Downmix::Mean if channels == 2 => {
            // The common stereo case, written out so it vectorises.
            out.extend(interleaved.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5));
            Ok(())
        }
        Downmix::Mean => {
            // channels is small (< 2^24), exact in f32.
            #[allow(clippy::cast_precision_loss)]
            let inv = 1.0 / channels as f32;
            out.extend(
                interleaved
                    .chunks_exact(channels)
                    .map(|f| f.iter().sum::<f32>() * inv),
            );
            Ok(())
        }
    }
}

/// Epsilon added to the variance, as in transformers' `Wav2Vec2FeatureExtractor`.
pub const ZERO_MEAN_UNIT_VAR_EPS: f64 = 1e-7;

/// Applies `mode` in place. Fails on NaN/inf input (a normalisation of such data is meaningless).
pub fn normalize(samples: &mut [f32], mode: Normalize) -> Result<(), ParamError> {
    if mode == Normalize::None {
        return Ok(());
    }
    if let Some(index) = samples.iter().position(|x| !x.is_finite()) {
        return Err(ParamError::NonFiniteInput { index });
    }
    match mode {
        Normalize::None => {}
        Normalize::Peak => {
            let peak = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            if peak > 0.0 {
                let inv = 1.0 / peak;
                samples.iter_mut().for_each(|x| *x *= inv);
            }
        }
        Normalize::ZeroMeanUnitVar => {
            if samples.is_empty() {
                return Ok(());
            }
            // f64 accumulation: numpy sums float32 pairwise, which is close to exact; a naive
            // f32 sum over minutes of audio would not be.
            #[allow(clippy::cast_precision_loss)]
            let n = samples.len() as f64;
            let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
            let var = samples
                .iter()
                .map(|&x| (f64::from(x) - mean).powi(2))
                .sum::<f64>()
                / n;
            let inv = 1.0 / (var + ZERO_MEAN_UNIT_VAR_EPS).sqrt();
            samples
                .iter_mut()
                .for_each(|x| *x = ((f64::from(*x) - mean) * inv) as f32);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_pick() {
        let x = [1.0, 3.0, -1.0, 1.0, 0.5, 0.5];
        assert_eq!(downmix(&x, 2, Downmix::Mean).unwrap(), vec![2.0, 0.0, 0.5]);
        assert_eq!(
            downmix(&x, 2, Downmix::Channel(1)).unwrap(),
            vec![3.0, 1.0, 0.5]
        );
        assert_eq!(downmix(&x, 3, Downmix::Mean).unwrap(), vec![1.0, 2.0 / 3.0]);
        assert!(matches!(
            downmix(&x, 2, Downmix::Channel(2)),
            Err(ParamError::ChannelOutOfRange {
                requested: 2,
                channels: 2
            })
        ));
        assert!(matches!(
            downmix(&x, 0, Downmix::Mean),
            Err(ParamError::ZeroChannels)
        ));
    }

    #[test]
    fn zero_mean_unit_var_matches_formula() {
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0];
        normalize(&mut x, Normalize::ZeroMeanUnitVar).unwrap();
        // mean 2.5, population variance 1.25
        let s = (1.25f64 + 1e-7).sqrt();
        for (got, raw) in x.iter().zip([1.0f64, 2.0, 3.0, 4.0]) {
            assert!((f64::from(*got) - (raw - 2.5) / s).abs() < 1e-7);
        }
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-7);
    }

    #[test]
    fn peak_and_silence() {
        let mut x = vec![0.25f32, -0.5];
        normalize(&mut x, Normalize::Peak).unwrap();
        assert_eq!(x, vec![0.5, -1.0]);
        let mut z = vec![0.0f32; 4];
        normalize(&mut z, Normalize::Peak).unwrap();
        assert_eq!(z, vec![0.0; 4]);
        let mut bad = vec![0.0, f32::NAN];
        assert!(matches!(
            normalize(&mut bad, Normalize::Peak),
            Err(ParamError::NonFiniteInput { index: 1 })
        ));
    }
}
