//! Waveform normalisation and batching (`Wav2Vec2FeatureExtractor`).

use crate::config::PreprocessorConfig;
use crate::error::{Error, Result};
use candle_core::{Device, Tensor};

/// Variance floor of transformers' `zero_mean_unit_var_norm`.
pub const NORM_EPS: f64 = 1e-7;

/// Whether to normalise each utterance to zero mean and unit variance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Normalization {
    /// Follow `do_normalize` in preprocessor_config.json.
    #[default]
    Auto,
    /// Always normalise.
    On,
    /// Never normalise (input is already normalised).
    Off,
}

impl Normalization {
    /// Resolves `Auto` against the preprocessor config.
    pub fn resolve(self, pre: &PreprocessorConfig) -> bool {
        match self {
            Normalization::Auto => pre.do_normalize,
            Normalization::On => true,
            Normalization::Off => false,
        }
    }
}

/// `(x − mean) / sqrt(var + 1e-7)` with the population variance, accumulated in f64.
pub fn normalize(samples: &[f32]) -> Vec<f32> {
    if samples.is_empty() {
        return Vec::new();
    }
    let n = samples.len() as f64;
    let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = samples
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let inv = 1.0 / (var + NORM_EPS).sqrt();
    samples
        .iter()
        .map(|&x| ((f64::from(x) - mean) * inv) as f32)
        .collect()
}

/// Options for [`Batch::new`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct BatchOptions {
    /// Normalisation. Default: [`Normalization::Auto`].
    pub normalize: Normalization,
    /// Reproduce transformers' batch quirk for `return_attention_mask = false` extractors:
    /// pad first, then normalise including the padding zeros. Default: false (normalise each
    /// utterance on its own samples, then pad).
    pub stats_include_padding: bool,
}

impl BatchOptions {
    /// Sets [`BatchOptions::normalize`].
    pub fn normalize(mut self, n: Normalization) -> Self {
        self.normalize = n;
        self
    }
    /// Sets [`BatchOptions::stats_include_padding`].
    pub fn stats_include_padding(mut self, on: bool) -> Self {
        self.stats_include_padding = on;
        self
    }
}

/// A right-padded batch ready for [`crate::SslModel::forward`].
#[derive(Debug, Clone)]
pub struct Batch {
    /// `(B, N)` f32 input values.
    pub input_values: Tensor,
    /// `(B, N)` u8 sample mask, 1 = valid.
    pub attention_mask: Tensor,
    /// Valid samples per item.
    pub lengths: Vec<usize>,
}

impl Batch {
    /// Normalises (per `opts` and the preprocessor config) and right-pads waveforms with
    /// `padding_value`. Rejects empty batches, empty items and non-finite samples.
    pub fn new(
        waves: &[&[f32]],
        pre: &PreprocessorConfig,
        opts: &BatchOptions,
        device: &Device,
    ) -> Result<Self> {
        if waves.is_empty() {
            return Err(Error::InvalidInput {
                reason: "empty batch".into(),
            });
        }
        for (i, w) in waves.iter().enumerate() {
            if w.is_empty() {
                return Err(Error::InvalidInput {
                    reason: format!("item {i} has no samples"),
                });
            }
            if let Some(p) = w.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidInput {
                    reason: format!("item {i} has a non-finite sample at index {p}"),
                });
            }
        }
        let norm = opts.normalize.resolve(pre);
        let n = waves.iter().map(|w| w.len()).max().unwrap_or(0);
        let b = waves.len();
        let mut values = Vec::with_capacity(b * n);
        let mut mask = Vec::with_capacity(b * n);
        for w in waves {
            let pad = n - w.len();
            if norm && opts.stats_include_padding {
                let mut padded = w.to_vec();
                padded.resize(n, pre.padding_value);
                values.extend(normalize(&padded));
            } else {
                if norm {
                    values.extend(normalize(w));
                } else {
                    values.extend_from_slice(w);
                }
                values.extend(std::iter::repeat_n(pre.padding_value, pad));
            }
            mask.extend(std::iter::repeat_n(1u8, w.len()));
            mask.extend(std::iter::repeat_n(0u8, pad));
        }
        Ok(Self {
            input_values: Tensor::from_vec(values, (b, n), device)?,
            attention_mask: Tensor::from_vec(mask, (b, n), device)?,
            lengths: waves.iter().map(|w| w.len()).collect(),
        })
    }
}
