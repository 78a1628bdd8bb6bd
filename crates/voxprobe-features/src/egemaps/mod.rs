//! eGeMAPS v02 (Eyben et al., 2016, *The Geneva Minimalistic Acoustic Parameter Set*), written
//! from the paper's definitions and the parameters in openSMILE's documented `eGeMAPSv02`
//! configuration (frame sizes, bands, filterbank sizes, smoothing); no openSMILE source code.
//!
//! **Status: partial.** Implemented is the energy/spectral group that needs no pitch
//! tracking — 10 of the 25 LLDs (`Loudness_sma3`, `alphaRatio_sma3`, `hammarbergIndex_sma3`,
//! `slope0-500_sma3`, `slope500-1500_sma3`, `spectralFlux_sma3`, `mfcc1_sma3`…`mfcc4_sma3`) and
//! the 16 of the 88 functionals computed from them over all frames (see
//! [`Egemaps::functionals`]). F0, jitter, shimmer, HNR, formants, harmonic differences and
//! everything split by voicing are not implemented yet; [`Egemaps::functionals`] returns
//! `None` for them. The parity table against openSMILE 2.6.0 is in the crate README.
//!
//! Analysis: 20 ms Hamming frames every 10 ms, zero-padded to the next power of two (512 at
//! 16 kHz), magnitude spectrum `X`, power `P = X²`. Frame count as openSMILE's LLD output (its
//! longest window, 60 ms, sets it): `(n − 60 ms) / 10 ms + 2` frames for `n ≥ 60 ms`.
//! Every LLD is smoothed by a 3-frame moving average (`_sma3`, zeros beyond the ends).

mod names;

use ndarray::Array2;
use realfft::RealFftPlanner;

use crate::error::{Error, Result};
pub use names::{FUNCTIONAL_NAMES, LLD_NAMES};

/// Frame length, seconds (openSMILE's `gemapsv01b_frame25`: `frameSize = 0.020`).
const FRAME_S: f64 = 0.020;
/// Frame step, seconds.
const STEP_S: f64 = 0.010;
/// The pitch window (60 ms) that fixes openSMILE's frame count.
const LONG_FRAME_S: f64 = 0.060;
/// Mel filterbank: 26 bands, 20–8000 Hz (config `nBands`, `lofreq`, `hifreq`).
const MEL_BANDS: usize = 26;
const MEL_LO: f64 = 20.0;
const MEL_HI: f64 = 8000.0;
/// MFCC cepstral liftering (`cepLifter = 22`).
const CEP_LIFTER: f64 = 22.0;
/// Loudness: intensity-to-loudness power law exponent of the auditory spectrum
/// (Hermansky's PLP, `compression = 0.33`).
const LOUDNESS_COMPRESSION: f64 = 0.33;
/// Loudness scale: openSMILE's absolute magnitude scaling is not documented; this factor is
/// the median ratio openSMILE/ours on LibriVox 0870 (it does not change Pearson r).
const LOUDNESS_SCALE: f64 = 0.0663;
/// Spectral flux normaliser: openSMILE's flux equals `sqrt(Σ ΔX² / 160)` over 0–5 kHz at
/// 16 kHz (found on the fixture: ratio 1.0000 mid-utterance).
const FLUX_NORM: f64 = 160.0;
/// Floor for logarithms of power.
const LOG_FLOOR: f64 = 1e-30;

/// Implemented LLD columns (indices into [`LLD_NAMES`]).
pub const IMPLEMENTED_LLD: [usize; 10] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/// eGeMAPS v02 extractor; build once, reuse for many utterances.
#[derive(Debug, Clone)]
pub struct Egemaps {
    sample_rate: u32,
    frame: usize,
    step: usize,
    long_frame: usize,
    nfft: usize,
    window: Vec<f64>,
    /// `[band][bin]` triangular mel weights (HTK style) on power.
    mel: Vec<Vec<f64>>,
    /// Equal-loudness weight per mel band (Hermansky 1990) for loudness.
    eql: Vec<f64>,
    /// Bin frequencies, Hz.
    freqs: Vec<f64>,
}

/// Frame-level descriptors of one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct EgemapsLld {
    /// Column names (a subset of [`LLD_NAMES`], its order).
    pub names: Vec<&'static str>,
    /// `[frames, names.len()]`, smoothed (`_sma3`) values.
    pub values: Array2<f64>,
    /// Seconds between frames (0.01); frame `t` starts at `t · 0.01` s.
    pub frame_step: f64,
}

impl Egemaps {
    /// Builds the extractor for `sample_rate` (bands above Nyquist are clipped to it).
    pub fn new(sample_rate: u32) -> Result<Self> {
        if sample_rate < 4000 {
            return Err(Error::BadSampleRate { sample_rate });
        }
        let sr = f64::from(sample_rate);
        let frame = (FRAME_S * sr).round() as usize;
        let step = (STEP_S * sr).round() as usize;
        let long_frame = (LONG_FRAME_S * sr).round() as usize;
        let nfft = frame.next_power_of_two();
        let window = (0..frame)
            .map(|n| {
                0.54 - 0.46 * (2.0 * std::f64::consts::PI * n as f64 / (frame - 1) as f64).cos()
            })
            .collect();
        let freqs: Vec<f64> = (0..=nfft / 2)
            .map(|k| k as f64 * sr / nfft as f64)
            .collect();
        let mel_of = |f: f64| 1127.0 * (1.0 + f / 700.0).ln();
        let hz_of = |m: f64| 700.0 * ((m / 1127.0).exp() - 1.0);
        let (ml, mh) = (mel_of(MEL_LO), mel_of(MEL_HI.min(sr / 2.0)));
        let centres: Vec<f64> = (0..MEL_BANDS + 2)
            .map(|i| ml + (mh - ml) * i as f64 / (MEL_BANDS + 1) as f64)
            .collect();
        let mel = (0..MEL_BANDS)
            .map(|b| {
                let (l, c, r) = (centres[b], centres[b + 1], centres[b + 2]);
                freqs
                    .iter()
                    .map(|&f| {
                        let m = mel_of(f);
                        ((m - l) / (c - l)).min((r - m) / (r - c)).max(0.0)
                    })
                    .collect()
            })
            .collect();
        let eql = (0..MEL_BANDS)
            .map(|b| {
                let w = 2.0 * std::f64::consts::PI * hz_of(centres[b + 1]);
                let w2 = w * w;
                (w2 + 56.8e6) * w2 * w2 / ((w2 + 6.3e6).powi(2) * (w2 + 0.38e9))
            })
            .collect();
        Ok(Self {
            sample_rate,
            frame,
            step,
            long_frame,
            nfft,
            window,
            mel,
            eql,
            freqs,
        })
    }

    /// The sample rate this extractor was built for.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of LLD frames for `n` samples (0 if shorter than 60 ms).
    pub fn num_frames(&self, n: usize) -> usize {
        if n < self.long_frame {
            0
        } else {
            (n - self.long_frame) / self.step + 2
        }
    }

    /// The implemented LLDs of a mono waveform in [-1, 1] (openSMILE reads 16-bit audio
    /// as sample / 32768).
    pub fn lld(&self, wave: &[f32]) -> Result<EgemapsLld> {
        if let Some(index) = wave.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite { index });
        }
        let n_frames = self.num_frames(wave.len());
        if n_frames == 0 {
            return Err(Error::TooShort {
                samples: wave.len(),
                window_size: self.long_frame,
            });
        }
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(self.nfft);
        let mut input = fft.make_input_vec();
        let mut spec = fft.make_output_vec();
        let mut scratch = fft.make_scratch_vec();
        let nb = self.nfft / 2 + 1;
        let mut prev = vec![0.0f64; nb];
        let mut mag = vec![0.0f64; nb];
        let mut raw = Array2::<f64>::zeros((n_frames, IMPLEMENTED_LLD.len()));
        let band = |lo: f64, hi: f64, hi_incl: bool| {
            self.freqs
                .iter()
                .enumerate()
                .filter(move |(_, &f)| f >= lo && (f < hi || (hi_incl && f <= hi)))
                .map(|(k, _)| k)
        };
        let alpha_lo: Vec<usize> = band(0.0, 1000.0, false).collect();
        let alpha_hi: Vec<usize> = band(1000.0, 5000.0, true).collect();
        let hb_lo: Vec<usize> = band(0.0, 2000.0, false).collect();
        let hb_hi: Vec<usize> = band(2000.0, 5000.0, true).collect();
        let sl_a: Vec<usize> = band(0.0, 500.0, true).collect();
        let sl_b: Vec<usize> = band(500.0, 1500.0, true).collect();
        let flux_bins: Vec<usize> = band(0.0, 5000.0, true).collect();
        for t in 0..n_frames {
            let start = t * self.step;
            for (i, x) in input.iter_mut().enumerate() {
                *x = if i < self.frame {
                    wave.get(start + i).map_or(0.0, |&v| f64::from(v)) * self.window[i]
                } else {
                    0.0
                };
            }
            fft.process_with_scratch(&mut input, &mut spec, &mut scratch)
                .map_err(|_| Error::TooShort {
                    samples: wave.len(),
                    window_size: self.frame,
                })?;
            for (m, c) in mag.iter_mut().zip(&spec) {
                *m = c.norm();
            }
            let pw = |k: &usize| mag[*k] * mag[*k];
            // Loudness: equal-loudness-weighted mel power, cube-root-like compression, summed.
            let mut loud = 0.0;
            let mut logmel = [0.0f64; MEL_BANDS];
            for (b, wts) in self.mel.iter().enumerate() {
                let e: f64 = wts.iter().zip(&mag).map(|(w, m)| w * m * m).sum();
                loud += (e * self.eql[b]).powf(LOUDNESS_COMPRESSION);
                logmel[b] = e.max(LOG_FLOOR).ln();
            }
            raw[[t, 0]] = LOUDNESS_SCALE * loud;
            let lo: f64 = alpha_lo.iter().map(pw).sum();
            let hi: f64 = alpha_hi.iter().map(pw).sum();
            raw[[t, 1]] = 10.0 * (hi.max(LOG_FLOOR) / lo.max(LOG_FLOOR)).log10();
            let mx = |ks: &[usize]| ks.iter().map(pw).fold(0.0f64, f64::max);
            raw[[t, 2]] = 10.0 * (mx(&hb_lo).max(LOG_FLOOR) / mx(&hb_hi).max(LOG_FLOOR)).log10();
            raw[[t, 3]] = self.slope(&sl_a, &mag);
            raw[[t, 4]] = self.slope(&sl_b, &mag);
            raw[[t, 5]] = if t == 0 {
                0.0
            } else {
                (flux_bins
                    .iter()
                    .map(|&k| (mag[k] - prev[k]).powi(2))
                    .sum::<f64>()
                    / FLUX_NORM)
                    .sqrt()
            };
            for k in 1..=4 {
                let c: f64 = logmel
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| {
                        v * (std::f64::consts::PI * k as f64 * (j as f64 + 0.5) / MEL_BANDS as f64)
                            .cos()
                    })
                    .sum::<f64>()
                    * (2.0 / MEL_BANDS as f64).sqrt();
                let lift =
                    1.0 + CEP_LIFTER / 2.0 * (std::f64::consts::PI * k as f64 / CEP_LIFTER).sin();
                raw[[t, 5 + k]] = c * lift;
            }
            std::mem::swap(&mut prev, &mut mag);
        }
        let values = sma3(&raw);
        Ok(EgemapsLld {
            names: IMPLEMENTED_LLD.iter().map(|&i| LLD_NAMES[i]).collect(),
            values,
            frame_step: self.step as f64 / f64::from(self.sample_rate),
        })
    }

    /// Least-squares slope (dB per Hz) of `10 log10 P` over the bins `ks`.
    fn slope(&self, ks: &[usize], mag: &[f64]) -> f64 {
        let n = ks.len() as f64;
        if ks.len() < 2 {
            return 0.0;
        }
        let fm = ks.iter().map(|&k| self.freqs[k]).sum::<f64>() / n;
        let ys: Vec<f64> = ks
            .iter()
            .map(|&k| 10.0 * (mag[k] * mag[k]).max(LOG_FLOOR).log10())
            .collect();
        let ym = ys.iter().sum::<f64>() / n;
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (&k, y) in ks.iter().zip(&ys) {
            let dx = self.freqs[k] - fm;
            sxy += dx * (y - ym);
            sxx += dx * dx;
        }
        sxy / sxx
    }

    /// The 88 eGeMAPS v02 functionals of a waveform, aligned with [`FUNCTIONAL_NAMES`];
    /// `None` where not implemented yet (see the module doc).
    pub fn functionals(&self, wave: &[f32]) -> Result<Vec<Option<f64>>> {
        let lld = self.lld(wave)?;
        let mut out = vec![None; FUNCTIONAL_NAMES.len()];
        let col = |name: &str| {
            lld.names
                .iter()
                .position(|n| *n == name)
                .map(|j| lld.values.column(j).to_vec())
        };
        let mut set = |name: &str, v: f64| {
            if let Some(i) = FUNCTIONAL_NAMES.iter().position(|n| *n == name) {
                out[i] = Some(v);
            }
        };
        if let Some(l) = col("Loudness_sma3") {
            let (m, sn) = mean_stddev_norm(&l);
            set("loudness_sma3_amean", m);
            set("loudness_sma3_stddevNorm", sn);
            let mut s = l.clone();
            s.sort_by(f64::total_cmp);
            let (p20, p50, p80) = (pct(&s, 0.2), pct(&s, 0.5), pct(&s, 0.8));
            set("loudness_sma3_percentile20.0", p20);
            set("loudness_sma3_percentile50.0", p50);
            set("loudness_sma3_percentile80.0", p80);
            set("loudness_sma3_pctlrange0-2", p80 - p20);
        }
        for (lname, fname) in [
            ("spectralFlux_sma3", "spectralFlux_sma3"),
            ("mfcc1_sma3", "mfcc1_sma3"),
            ("mfcc2_sma3", "mfcc2_sma3"),
            ("mfcc3_sma3", "mfcc3_sma3"),
            ("mfcc4_sma3", "mfcc4_sma3"),
        ] {
            if let Some(v) = col(lname) {
                let (m, sn) = mean_stddev_norm(&v);
                set(&format!("{fname}_amean"), m);
                set(&format!("{fname}_stddevNorm"), sn);
            }
        }
        Ok(out)
    }
}

/// Mean and openSMILE's `stddevNorm`: population standard deviation / mean (signed, as
/// openSMILE's output shows; 0 for a zero mean).
fn mean_stddev_norm(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    (m, if m == 0.0 { 0.0 } else { sd / m })
}

/// Percentile `q` of sorted values, linear interpolation between order statistics.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    let w = pos - i as f64;
    sorted[i] * (1.0 - w) + sorted[j] * w
}

/// 3-frame moving average per column, zeros beyond both ends.
fn sma3(x: &Array2<f64>) -> Array2<f64> {
    let n = x.nrows();
    let mut y = x.clone();
    for t in 0..n {
        for c in 0..x.ncols() {
            let a = if t > 0 { x[[t - 1, c]] } else { 0.0 };
            let b = if t + 1 < n { x[[t + 1, c]] } else { 0.0 };
            y[[t, c]] = (a + x[[t, c]] + b) / 3.0;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_opensmiles() {
        assert_eq!(FUNCTIONAL_NAMES[0], "F0semitoneFrom27.5Hz_sma3nz_amean");
        assert_eq!(FUNCTIONAL_NAMES[87], "equivalentSoundLevel_dBp");
        assert_eq!(LLD_NAMES[24], "F3amplitudeLogRelF0_sma3nz");
    }

    #[test]
    fn frame_count_and_errors() {
        let e = Egemaps::new(16_000).unwrap();
        assert_eq!(e.num_frames(49_200), 303);
        assert_eq!(e.num_frames(113_600), 706);
        assert_eq!(e.num_frames(959), 0);
        assert!(matches!(e.lld(&[0.0; 100]), Err(Error::TooShort { .. })));
        let mut w = vec![0.1f32; 2000];
        w[7] = f32::NAN;
        assert!(matches!(e.lld(&w), Err(Error::NonFinite { index: 7 })));
        assert!(matches!(
            Egemaps::new(0),
            Err(Error::BadSampleRate { sample_rate: 0 })
        ));
    }

    #[test]
    fn tone_has_expected_spectral_shape() {
        // A 300 Hz tone: energy below 1 kHz, so alpha ratio is strongly negative and the
        // Hammarberg index strongly positive.
        let e = Egemaps::new(16_000).unwrap();
        let w: Vec<f32> = (0..16_000)
            .map(|i| {
                (0.3 * (2.0 * std::f64::consts::PI * 300.0 * i as f64 / 16_000.0).sin()) as f32
            })
            .collect();
        let l = e.lld(&w).unwrap();
        let mid = l.values.row(50);
        assert!(mid[1] < -40.0, "alpha ratio {}", mid[1]);
        assert!(mid[2] > 40.0, "hammarberg {}", mid[2]);
        assert!(mid[0] > 0.0);
    }
}
