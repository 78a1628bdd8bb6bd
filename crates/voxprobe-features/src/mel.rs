//! Triangular mel filter banks with optional VTLN warping, as Kaldi's `MelBanks`
//! (`torchaudio.compliance.kaldi.get_mel_banks`).

use crate::error::ParamError;
use crate::options::MelOptions;

/// Kaldi's mel scale: `1127 ln(1 + f / 700)`.
pub fn mel_scale(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

/// Inverse of [`mel_scale`].
pub fn inverse_mel_scale(mel: f64) -> f64 {
    700.0 * ((mel / 1127.0).exp() - 1.0)
}

/// [`mel_scale`] in float32 arithmetic, as torchaudio's tensor version.
fn mel_scale_f32(freq: f32) -> f32 {
    1127.0f32 * (1.0f32 + freq / 700.0f32).ln()
}

/// The resolved band edges for one sample rate.
#[derive(Debug, Clone, Copy)]
struct Range {
    low_freq: f64,
    high_freq: f64,
    vtln_low: f64,
    vtln_high: f64,
    warp: f64,
}

impl Range {
    fn resolve(opts: &MelOptions, sample_rate: f64) -> Result<Self, ParamError> {
        let nyquist = 0.5 * sample_rate;
        let low_freq = opts.low_freq;
        let high_freq = if opts.high_freq <= 0.0 {
            opts.high_freq + nyquist
        } else {
            opts.high_freq
        };
        if !((0.0..nyquist).contains(&low_freq)
            && high_freq > 0.0
            && high_freq <= nyquist
            && low_freq < high_freq)
        {
            return Err(ParamError::BadMelRange {
                low_freq,
                high_freq,
                nyquist,
            });
        }
        let vtln_low = opts.vtln_low;
        let vtln_high = if opts.vtln_high < 0.0 {
            opts.vtln_high + nyquist
        } else {
            opts.vtln_high
        };
        let warp = opts.vtln_warp;
        if warp != 1.0 {
            let bad = ParamError::BadVtlnRange {
                vtln_low,
                vtln_high,
                low_freq,
                high_freq,
            };
            if !(low_freq < vtln_low
                && vtln_low < high_freq
                && 0.0 < vtln_high
                && vtln_high < high_freq
                && vtln_low < vtln_high)
            {
                return Err(bad);
            }
            // The inflection points after scaling must stay inside the range as well
            // (torchaudio asserts this in `vtln_warp_freq`).
            let l = vtln_low * warp.max(1.0);
            let h = vtln_high * warp.min(1.0);
            if !(l > low_freq && h < high_freq) {
                return Err(bad);
            }
        }
        Ok(Self {
            low_freq,
            high_freq,
            vtln_low,
            vtln_high,
            warp,
        })
    }

    /// Kaldi's piecewise-linear VTLN warp of a frequency in Hz (f64 reference of
    /// [`Self::warp_mel_f32`]).
    #[cfg(test)]
    fn warp_freq(&self, freq: f64) -> f64 {
        let (low, high) = (self.low_freq, self.high_freq);
        if freq < low || freq > high {
            return freq;
        }
        let l = self.vtln_low * self.warp.max(1.0);
        let h = self.vtln_high * self.warp.min(1.0);
        let scale = 1.0 / self.warp;
        let (fl, fh) = (scale * l, scale * h);
        if freq < l {
            let scale_left = (fl - low) / (l - low);
            low + scale_left * (freq - low)
        } else if freq < h {
            scale * freq
        } else {
            let scale_right = (high - fh) / (high - h);
            high + scale_right * (freq - high)
        }
    }

    /// [`Self::warp_freq`] on float32 mel values, with float32 arithmetic as torch does it
    /// on its float32 mel tensors (the breakpoints are Python floats, rounded to f32).
    fn warp_mel_f32(&self, mel: f32) -> f32 {
        let freq = 700.0f32 * ((mel / 1127.0f32).exp() - 1.0f32);
        let (low, high) = (self.low_freq, self.high_freq);
        let l = self.vtln_low * self.warp.max(1.0);
        let h = self.vtln_high * self.warp.min(1.0);
        let scale = 1.0 / self.warp;
        let (fl, fh) = (scale * l, scale * h);
        let f = f64::from(freq);
        let warped = if f < low || f > high {
            freq
        } else if f < l {
            let scale_left = ((fl - low) / (l - low)) as f32;
            low as f32 + scale_left * (freq - low as f32)
        } else if f < h {
            scale as f32 * freq
        } else {
            let scale_right = ((high - fh) / (high - h)) as f32;
            high as f32 + scale_right * (freq - high as f32)
        };
        mel_scale_f32(warped)
    }
}

/// One triangular filter stored sparsely: weights for FFT bins `start..start + weights.len()`.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub(crate) start: usize,
    pub(crate) weights: Vec<f64>,
}

/// A mel filter bank for one FFT length and sample rate.
#[derive(Debug, Clone)]
pub(crate) struct MelBanks {
    pub(crate) filters: Vec<Filter>,
}

impl MelBanks {
    /// Builds the bank for `padded_window_size`-point FFTs. As in Kaldi, the Nyquist bin gets no
    /// weight: filters cover bins `0..padded_window_size / 2`.
    ///
    /// torchaudio builds the bank in float32 whatever the waveform's dtype, and its float32
    /// rounding of narrow low bins moves log-mel values by up to ~2e-4; so the weights are
    /// computed here with the same float32 operations in the same order (scalars rounded to
    /// f32 where torch rounds them), then applied in f64.
    pub(crate) fn new(
        opts: &MelOptions,
        padded_window_size: usize,
        sample_rate: f64,
    ) -> Result<Self, ParamError> {
        let range = Range::resolve(opts, sample_rate)?;
        let num_fft_bins = padded_window_size / 2;
        let fft_bin_width = (sample_rate / padded_window_size as f64) as f32;
        let mel_low = mel_scale(range.low_freq);
        let mel_high = mel_scale(range.high_freq);
        // num_bins + 1 because the outer bins spread half a bin beyond the range.
        let delta = ((mel_high - mel_low) / (opts.num_mel_bins as f64 + 1.0)) as f32;
        let mel_low32 = mel_low as f32;
        let bin_mels: Vec<f32> = (0..num_fft_bins)
            .map(|k| mel_scale_f32(fft_bin_width * k as f32))
            .collect();
        let warped = range.warp != 1.0;
        let filters = (0..opts.num_mel_bins)
            .map(|b| {
                let b = b as f32;
                let mut left = mel_low32 + b * delta;
                let mut center = mel_low32 + (b + 1.0) * delta;
                let mut right = mel_low32 + (b + 2.0) * delta;
                if warped {
                    left = range.warp_mel_f32(left);
                    center = range.warp_mel_f32(center);
                    right = range.warp_mel_f32(right);
                }
                let weight = |mel: f32| -> f32 {
                    let up = (mel - left) / (center - left);
                    let down = (right - mel) / (right - center);
                    if warped {
                        // Warping may reorder the edges: only the open/closed intervals count.
                        if mel > left && mel <= center {
                            up
                        } else if mel > center && mel < right {
                            down
                        } else {
                            0.0
                        }
                    } else {
                        up.min(down).max(0.0)
                    }
                };
                let dense: Vec<f64> = bin_mels.iter().map(|&m| f64::from(weight(m))).collect();
                let start = dense.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = dense
                    .iter()
                    .rposition(|&w| w != 0.0)
                    .map_or(start, |e| e + 1);
                Filter {
                    start,
                    weights: dense
                        .get(start..end)
                        .map(<[f64]>::to_vec)
                        .unwrap_or_default(),
                }
            })
            .collect();
        Ok(Self { filters })
    }

    /// Applies every filter to a (power or magnitude) spectrum of `padded / 2 + 1` bins.
    #[inline]
    pub(crate) fn apply(&self, spectrum: &[f64], out: &mut [f64]) {
        for (o, f) in out.iter_mut().zip(&self.filters) {
            let bins = spectrum
                .get(f.start..f.start + f.weights.len())
                .unwrap_or(&[]);
            *o = bins.iter().zip(&f.weights).map(|(s, w)| s * w).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips() {
        for f in [0.0, 20.0, 700.0, 4000.0, 8000.0] {
            assert!((inverse_mel_scale(mel_scale(f)) - f).abs() < 1e-9);
        }
    }

    #[test]
    fn default_bank_has_23_non_empty_filters_below_nyquist() {
        let bank = MelBanks::new(&MelOptions::default(), 512, 16_000.0).unwrap();
        assert_eq!(bank.filters.len(), 23);
        for f in &bank.filters {
            assert!(!f.weights.is_empty());
            assert!(f.start + f.weights.len() <= 256);
            assert!(f.weights.iter().all(|&w| (0.0..=1.0).contains(&w)));
        }
    }

    #[test]
    fn unwarped_vtln_is_identity() {
        let r = Range::resolve(&MelOptions::default(), 16_000.0).unwrap();
        assert_eq!(r.warp_freq(1234.5), 1234.5 * 1.0);
    }
}
