//! Options, named and defaulted exactly as `torchaudio.compliance.kaldi`'s keywords (which are
//! Kaldi's `compute-fbank-feats` / `compute-mfcc-feats` flags), grouped the way Kaldi groups
//! them: framing ([`FrameOptions`]), mel banks ([`MelOptions`]), then the per-feature options.
//!
//! The sample rate is not an option: it is passed with the waveform to `compute`.

use serde::{Deserialize, Serialize};

use crate::error::{ParamError, Result};

/// The analysis window applied to each frame (`window_type`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    /// Hann window raised to the power 0.85 (Kaldi's default; goes to zero at the edges).
    #[default]
    Povey,
    /// Symmetric Hann window.
    Hanning,
    /// Symmetric Hamming window (0.54 − 0.46 cos).
    Hamming,
    /// No window.
    Rectangular,
    /// Generalised Blackman window with coefficient `blackman_coeff`.
    Blackman,
}

/// How frames are cut from the waveform and prepared for the FFT (Kaldi's
/// `FrameExtractionOptions` plus the energy options).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrameOptions {
    /// Frame length in milliseconds. Default: `25.0`.
    pub frame_length: f64,
    /// Frame shift in milliseconds. Default: `10.0`.
    pub frame_shift: f64,
    /// Standard deviation of Gaussian dither added to every frame (0 = none). torchaudio's
    /// default is `0.0` (Kaldi's binary defaults to 1.0). Default: `0.0`.
    pub dither: f32,
    /// Seed of the dither noise (torchaudio draws from torch's global RNG, so dithered output is
    /// never bit-comparable; ours is reproducible). Default: `0`.
    pub dither_seed: u64,
    /// Subtract each frame's mean before anything else. Default: `true`.
    pub remove_dc_offset: bool,
    /// Pre-emphasis coefficient, in `[0, 1]`. Default: `0.97`.
    pub preemphasis_coefficient: f32,
    /// Window function. Default: [`WindowType::Povey`].
    pub window_type: WindowType,
    /// Coefficient of the generalised Blackman window. Default: `0.42`.
    pub blackman_coeff: f64,
    /// Zero-pad each frame to the next power of two for the FFT. Default: `true`.
    pub round_to_power_of_two: bool,
    /// Keep only frames that fit entirely in the waveform; if false, reflect the waveform at
    /// both ends and output `round(n / shift)` frames. Default: `true`.
    pub snip_edges: bool,
    /// Compute the log energy before pre-emphasis and windowing. Default: `true`.
    pub raw_energy: bool,
    /// Floor on the energy (absolute, not log; 0 = none). Default: `1.0`.
    pub energy_floor: f32,
    /// Waveforms shorter than this many seconds give an empty (0-frame) output. Default: `0.0`.
    pub min_duration: f64,
}

impl Default for FrameOptions {
    fn default() -> Self {
        Self {
            frame_length: 25.0,
            frame_shift: 10.0,
            dither: 0.0,
            dither_seed: 0,
            remove_dc_offset: true,
            preemphasis_coefficient: 0.97,
            window_type: WindowType::Povey,
            blackman_coeff: 0.42,
            round_to_power_of_two: true,
            snip_edges: true,
            raw_energy: true,
            energy_floor: 1.0,
            min_duration: 0.0,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

impl FrameOptions {
    /// torchaudio's defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Sets `frame_length` (ms).
        frame_length: f64,
        /// Sets `frame_shift` (ms).
        frame_shift: f64,
        /// Sets `dither`.
        dither: f32,
        /// Sets `dither_seed`.
        dither_seed: u64,
        /// Sets `remove_dc_offset`.
        remove_dc_offset: bool,
        /// Sets `preemphasis_coefficient`.
        preemphasis_coefficient: f32,
        /// Sets `window_type`.
        window_type: WindowType,
        /// Sets `blackman_coeff`.
        blackman_coeff: f64,
        /// Sets `round_to_power_of_two`.
        round_to_power_of_two: bool,
        /// Sets `snip_edges`.
        snip_edges: bool,
        /// Sets `raw_energy`.
        raw_energy: bool,
        /// Sets `energy_floor`.
        energy_floor: f32,
        /// Sets `min_duration` (s).
        min_duration: f64,
    }

    /// Checks everything that does not depend on the sample rate.
    pub fn check(&self) -> Result<(), ParamError> {
        positive("frame_length", self.frame_length)?;
        positive("frame_shift", self.frame_shift)?;
        if !(self.dither.is_finite() && self.dither >= 0.0) {
            return Err(out_of_range(
                "dither",
                self.dither.into(),
                "finite and >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.preemphasis_coefficient) {
            return Err(out_of_range(
                "preemphasis_coefficient",
                self.preemphasis_coefficient.into(),
                "in [0, 1]",
            ));
        }
        if !self.blackman_coeff.is_finite() {
            return Err(out_of_range(
                "blackman_coeff",
                self.blackman_coeff,
                "finite",
            ));
        }
        if !(self.energy_floor.is_finite() && self.energy_floor >= 0.0) {
            return Err(out_of_range(
                "energy_floor",
                self.energy_floor.into(),
                "finite and >= 0",
            ));
        }
        if !(self.min_duration.is_finite() && self.min_duration >= 0.0) {
            return Err(out_of_range(
                "min_duration",
                self.min_duration,
                "finite and >= 0",
            ));
        }
        Ok(())
    }
}

/// The triangular mel filter bank (Kaldi's `MelBanksOptions`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MelOptions {
    /// Number of triangular mel bins (at least 4). Default: `23`.
    pub num_mel_bins: usize,
    /// Lower edge of the lowest bin in Hz. Default: `20.0`.
    pub low_freq: f64,
    /// Upper edge of the highest bin in Hz; `<= 0` means an offset from Nyquist. Default: `0.0`.
    pub high_freq: f64,
    /// VTLN warp factor (1 = no warping). Default: `1.0`.
    pub vtln_warp: f64,
    /// Lower VTLN inflection point in Hz. Default: `100.0`.
    pub vtln_low: f64,
    /// Upper VTLN inflection point in Hz; negative means an offset from Nyquist. Default: `-500.0`.
    pub vtln_high: f64,
}

impl Default for MelOptions {
    fn default() -> Self {
        Self {
            num_mel_bins: 23,
            low_freq: 20.0,
            high_freq: 0.0,
            vtln_warp: 1.0,
            vtln_low: 100.0,
            vtln_high: -500.0,
        }
    }
}

impl MelOptions {
    /// torchaudio's defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Sets `num_mel_bins`.
        num_mel_bins: usize,
        /// Sets `low_freq` (Hz).
        low_freq: f64,
        /// Sets `high_freq` (Hz; `<= 0` is an offset from Nyquist).
        high_freq: f64,
        /// Sets `vtln_warp`.
        vtln_warp: f64,
        /// Sets `vtln_low` (Hz).
        vtln_low: f64,
        /// Sets `vtln_high` (Hz; negative is an offset from Nyquist).
        vtln_high: f64,
    }

    /// Checks everything that does not depend on the sample rate.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.num_mel_bins < 4 {
            return Err(out_of_range(
                "num_mel_bins",
                self.num_mel_bins as f64,
                ">= 4 (Kaldi needs at least 3 mel bins)",
            ));
        }
        for (name, v) in [
            ("low_freq", self.low_freq),
            ("high_freq", self.high_freq),
            ("vtln_low", self.vtln_low),
            ("vtln_high", self.vtln_high),
        ] {
            if !v.is_finite() {
                return Err(out_of_range(name, v, "finite"));
            }
        }
        positive("vtln_warp", self.vtln_warp)?;
        Ok(())
    }
}

/// Options of [`Fbank`](crate::Fbank), as `torchaudio.compliance.kaldi.fbank`'s keywords.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FbankOptions {
    /// Framing, windowing and energy. Default: [`FrameOptions::default`].
    pub frame: FrameOptions,
    /// Mel filter bank. Default: [`MelOptions::default`] (23 bins, 20 Hz to Nyquist).
    pub mel: MelOptions,
    /// Add the log energy as an extra column (first, or last with `htk_compat`). Default: `false`.
    pub use_energy: bool,
    /// Put the energy column last instead of first. Default: `false`.
    pub htk_compat: bool,
    /// Output log mel energies (else linear). Default: `true`.
    pub use_log_fbank: bool,
    /// Use the power spectrum (else the magnitude). Default: `true`.
    pub use_power: bool,
    /// Subtract each column's mean over the utterance (CMS). Default: `false`.
    pub subtract_mean: bool,
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self {
            frame: FrameOptions::default(),
            mel: MelOptions::default(),
            use_energy: false,
            htk_compat: false,
            use_log_fbank: true,
            use_power: true,
            subtract_mean: false,
        }
    }
}

impl FbankOptions {
    /// torchaudio's defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Sets the framing options.
        frame: FrameOptions,
        /// Sets the mel bank options.
        mel: MelOptions,
        /// Sets `use_energy`.
        use_energy: bool,
        /// Sets `htk_compat`.
        htk_compat: bool,
        /// Sets `use_log_fbank`.
        use_log_fbank: bool,
        /// Sets `use_power`.
        use_power: bool,
        /// Sets `subtract_mean`.
        subtract_mean: bool,
    }

    /// Shortcut for `mel.num_mel_bins`.
    #[must_use]
    pub fn num_mel_bins(mut self, value: usize) -> Self {
        self.mel.num_mel_bins = value;
        self
    }

    /// Shortcut for `frame.dither`.
    #[must_use]
    pub fn dither(mut self, value: f32) -> Self {
        self.frame.dither = value;
        self
    }

    /// Shortcut for `frame.snip_edges`.
    #[must_use]
    pub fn snip_edges(mut self, value: bool) -> Self {
        self.frame.snip_edges = value;
        self
    }

    /// Number of output columns: `num_mel_bins`, plus one with `use_energy`.
    pub fn dim(&self) -> usize {
        self.mel.num_mel_bins + usize::from(self.use_energy)
    }

    /// Checks everything that does not depend on the sample rate.
    pub fn check(&self) -> Result<(), ParamError> {
        self.frame.check()?;
        self.mel.check()
    }
}

/// Options of [`Mfcc`](crate::Mfcc), as `torchaudio.compliance.kaldi.mfcc`'s keywords.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfccOptions {
    /// Framing, windowing and energy. Default: [`FrameOptions::default`].
    pub frame: FrameOptions,
    /// Mel filter bank. Default: [`MelOptions::default`] (23 bins, 20 Hz to Nyquist).
    pub mel: MelOptions,
    /// Number of cepstra, C0 included (at most `num_mel_bins`). Default: `13`.
    pub num_ceps: usize,
    /// Cepstral liftering coefficient (0 = none). Default: `22.0`.
    pub cepstral_lifter: f32,
    /// Replace C0 by the log energy. Default: `false`.
    pub use_energy: bool,
    /// Put C0 (or the energy) last, C0 scaled by √2 when it is not the energy. Default: `false`.
    pub htk_compat: bool,
    /// Subtract each column's mean over the utterance (CMS). Default: `false`.
    pub subtract_mean: bool,
}

impl Default for MfccOptions {
    fn default() -> Self {
        Self {
            frame: FrameOptions::default(),
            mel: MelOptions::default(),
            num_ceps: 13,
            cepstral_lifter: 22.0,
            use_energy: false,
            htk_compat: false,
            subtract_mean: false,
        }
    }
}

impl MfccOptions {
    /// torchaudio's defaults (same as [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Sets the framing options.
        frame: FrameOptions,
        /// Sets the mel bank options.
        mel: MelOptions,
        /// Sets `num_ceps`.
        num_ceps: usize,
        /// Sets `cepstral_lifter`.
        cepstral_lifter: f32,
        /// Sets `use_energy`.
        use_energy: bool,
        /// Sets `htk_compat`.
        htk_compat: bool,
        /// Sets `subtract_mean`.
        subtract_mean: bool,
    }

    /// Shortcut for `mel.num_mel_bins`.
    #[must_use]
    pub fn num_mel_bins(mut self, value: usize) -> Self {
        self.mel.num_mel_bins = value;
        self
    }

    /// Shortcut for `frame.dither`.
    #[must_use]
    pub fn dither(mut self, value: f32) -> Self {
        self.frame.dither = value;
        self
    }

    /// Shortcut for `frame.snip_edges`.
    #[must_use]
    pub fn snip_edges(mut self, value: bool) -> Self {
        self.frame.snip_edges = value;
        self
    }

    /// Number of output columns (`num_ceps`).
    pub fn dim(&self) -> usize {
        self.num_ceps
    }

    /// Checks everything that does not depend on the sample rate.
    pub fn check(&self) -> Result<(), ParamError> {
        self.frame.check()?;
        self.mel.check()?;
        if self.num_ceps == 0 {
            return Err(out_of_range("num_ceps", 0.0, ">= 1"));
        }
        if self.num_ceps > self.mel.num_mel_bins {
            return Err(ParamError::TooManyCeps {
                num_ceps: self.num_ceps,
                num_mel_bins: self.mel.num_mel_bins,
            });
        }
        if !self.cepstral_lifter.is_finite() {
            return Err(out_of_range(
                "cepstral_lifter",
                self.cepstral_lifter.into(),
                "finite",
            ));
        }
        Ok(())
    }
}

fn out_of_range(name: &'static str, value: f64, expected: &'static str) -> ParamError {
    ParamError::OutOfRange {
        name,
        value,
        expected,
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), ParamError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(out_of_range(name, value, "finite and > 0"))
    }
}
