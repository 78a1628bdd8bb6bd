//! Frame extraction and the per-frame spectrum: the shared front half of fbank and MFCC
//! (torchaudio's `_get_window` + `rfft`).

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::error::{Error, ParamError, Result};
use crate::mel::MelBanks;
use crate::options::{FrameOptions, MelOptions, WindowType};

/// `std::numeric_limits<float>::epsilon()`: Kaldi's floor before every log.
pub(crate) const EPSILON: f64 = f32::EPSILON as f64;

/// Everything that depends on the options and the sample rate, built once and shared.
pub(crate) struct Plan {
    pub(crate) sample_rate: u32,
    pub(crate) window_size: usize,
    pub(crate) window_shift: usize,
    pub(crate) padded: usize,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
    pub(crate) mel: MelBanks,
    log_energy_floor: Option<f64>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("sample_rate", &self.sample_rate)
            .field("window_size", &self.window_size)
            .field("window_shift", &self.window_shift)
            .field("padded", &self.padded)
            .finish_non_exhaustive()
    }
}

/// Frame geometry in samples, as torchaudio computes it: `int(sr * ms * 0.001)`, same float
/// expression so the truncation agrees.
pub(crate) fn geometry(frame: &FrameOptions, sample_rate: u32) -> Result<(usize, usize, usize)> {
    if sample_rate == 0 {
        return Err(Error::BadSampleRate { sample_rate });
    }
    let sr = f64::from(sample_rate);
    let shift = (sr * frame.frame_shift * 0.001) as usize;
    let size = (sr * frame.frame_length * 0.001) as usize;
    if size < 2 {
        return Err(ParamError::WindowTooShort { window_size: size }.into());
    }
    if shift == 0 {
        return Err(ParamError::ZeroShift { sample_rate }.into());
    }
    let padded = if frame.round_to_power_of_two {
        size.next_power_of_two()
    } else {
        size
    };
    if padded % 2 != 0 {
        return Err(ParamError::OddPaddedWindow {
            padded_window_size: padded,
        }
        .into());
    }
    Ok((size, shift, padded))
}

fn window_function(kind: WindowType, size: usize, blackman_coeff: f64) -> Vec<f64> {
    // Symmetric windows (torch's periodic=False): the denominator is size - 1 (>= 1 here).
    let a = 2.0 * std::f64::consts::PI / (size - 1) as f64;
    (0..size)
        .map(|n| {
            let n = n as f64;
            let hann = 0.5 - 0.5 * (a * n).cos();
            match kind {
                WindowType::Hanning => hann,
                WindowType::Povey => hann.powf(0.85),
                WindowType::Hamming => 0.54 - 0.46 * (a * n).cos(),
                WindowType::Rectangular => 1.0,
                WindowType::Blackman => {
                    blackman_coeff - 0.5 * (a * n).cos()
                        + (0.5 - blackman_coeff) * (2.0 * a * n).cos()
                }
            }
        })
        .collect()
}

impl Plan {
    pub(crate) fn new(frame: &FrameOptions, mel: &MelOptions, sample_rate: u32) -> Result<Self> {
        frame.check()?;
        mel.check()?;
        let (window_size, window_shift, padded) = geometry(frame, sample_rate)?;
        let mel = MelBanks::new(mel, padded, f64::from(sample_rate))?;
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(padded);
        let log_energy_floor =
            (frame.energy_floor != 0.0).then(|| f64::from(frame.energy_floor).ln());
        Ok(Self {
            sample_rate,
            window_size,
            window_shift,
            padded,
            window: window_function(frame.window_type, window_size, frame.blackman_coeff),
            fft,
            mel,
            log_energy_floor,
        })
    }

    /// Number of frames torchaudio outputs for `n` samples (`n >= window_size`).
    pub(crate) fn num_frames(&self, n: usize, snip_edges: bool) -> usize {
        if snip_edges {
            1 + (n - self.window_size) / self.window_shift
        } else {
            (n + self.window_shift / 2) / self.window_shift
        }
    }

    pub(crate) fn scratch(&self) -> Scratch {
        Scratch {
            frame: vec![0.0; self.padded],
            spectrum: self.fft.make_output_vec(),
            power: vec![0.0; self.padded / 2 + 1],
            fft_scratch: self.fft.make_scratch_vec(),
        }
    }

    /// Fills `scratch.power` with frame `index`'s power (or magnitude) spectrum and returns its
    /// log energy.
    pub(crate) fn frame_spectrum(
        &self,
        wave: &[f32],
        index: usize,
        frame: &FrameOptions,
        use_power: bool,
        scratch: &mut Scratch,
    ) -> f64 {
        let size = self.window_size;
        let buf = &mut scratch.frame;
        let start = index * self.window_shift;
        if frame.snip_edges {
            match wave.get(start..start + size) {
                Some(src) => buf[..size]
                    .iter_mut()
                    .zip(src)
                    .for_each(|(b, &s)| *b = f64::from(s)),
                // Unreachable for frame indices below num_frames; zeros rather than a panic.
                None => buf[..size].fill(0.0),
            }
        } else {
            // Reflect at both ends exactly like torchaudio's _get_strided:
            // [x[pad-1], .., x[0], x[0], .., x[n-1], x[n-1], .., x[0]].
            let n = wave.len() as isize;
            let pad = (size / 2) as isize - (self.window_shift / 2) as isize;
            for (j, v) in buf[..size].iter_mut().enumerate() {
                let q = (start + j) as isize - pad;
                let k = if q < 0 {
                    -q - 1
                } else if q < n {
                    q
                } else {
                    2 * n - 1 - q
                };
                *v = usize::try_from(k)
                    .ok()
                    .and_then(|k| wave.get(k))
                    .map_or(0.0, |&s| f64::from(s));
            }
        }
        let x = &mut buf[..size];
        if frame.dither != 0.0 {
            // Independent noise per frame (torch draws a fresh normal for every strided
            // element); seeding per frame keeps the output independent of evaluation order.
            let seed = frame
                .dither_seed
                .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            for v in x.iter_mut() {
                *v += f64::from(frame.dither) * rng.sample::<f64, _>(StandardNormal);
            }
        }
        if frame.remove_dc_offset {
            let mean = x.iter().sum::<f64>() / size as f64;
            x.iter_mut().for_each(|v| *v -= mean);
        }
        let mut log_energy = 0.0;
        if frame.raw_energy {
            log_energy = self.log_energy(x);
        }
        let c = f64::from(frame.preemphasis_coefficient);
        if c != 0.0 {
            for j in (1..size).rev() {
                x[j] -= c * x[j - 1];
            }
            x[0] -= c * x[0];
        }
        x.iter_mut().zip(&self.window).for_each(|(v, w)| *v *= w);
        buf[size..].iter_mut().for_each(|v| *v = 0.0);
        if !frame.raw_energy {
            log_energy = self.log_energy(buf);
        }
        // Lengths come from make_*_vec of the same plan, so this cannot fail; a failure would
        // leave a zero spectrum rather than panic.
        let _ = self
            .fft
            .process_with_scratch(buf, &mut scratch.spectrum, &mut scratch.fft_scratch);
        for (p, c) in scratch.power.iter_mut().zip(&scratch.spectrum) {
            let pw = c.re * c.re + c.im * c.im;
            *p = if use_power { pw } else { pw.sqrt() };
        }
        log_energy
    }

    fn log_energy(&self, x: &[f64]) -> f64 {
        let e = x.iter().map(|v| v * v).sum::<f64>();
        let le = e.max(EPSILON).ln();
        match self.log_energy_floor {
            Some(floor) => le.max(floor),
            None => le,
        }
    }
}

/// Per-thread buffers.
pub(crate) struct Scratch {
    frame: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    pub(crate) power: Vec<f64>,
    fft_scratch: Vec<Complex<f64>>,
}

/// Checks the waveform: finite samples and at least one window.
pub(crate) fn check_wave(wave: &[f32], window_size: usize) -> Result<()> {
    if let Some(index) = wave.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite { index });
    }
    if wave.len() < window_size {
        return Err(Error::TooShort {
            samples: wave.len(),
            window_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_torchaudio_at_16k_and_44k() {
        let f = FrameOptions::default();
        assert_eq!(geometry(&f, 16_000).unwrap(), (400, 160, 512));
        assert_eq!(geometry(&f, 44_100).unwrap(), (1102, 441, 2048));
        let f = f.round_to_power_of_two(false);
        assert_eq!(geometry(&f, 16_000).unwrap(), (400, 160, 400));
    }

    #[test]
    fn povey_window_is_zero_at_the_edges() {
        let w = window_function(WindowType::Povey, 400, 0.42);
        assert_eq!(w[0], 0.0);
        assert!(w.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(w[399].abs() < 1e-6);
        assert!(w[200] > 0.99);
    }
}
