//! The crate's error type.

/// Errors returned by every fallible function of this crate.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An option was out of its valid range; checked before any work is done.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The sample rate was zero.
    #[error("invalid sample rate {sample_rate}: must be positive")]
    BadSampleRate {
        /// The sample rate given.
        sample_rate: u32,
    },
    /// The waveform is shorter than one analysis window (torchaudio asserts here too).
    #[error("waveform of {samples} samples is shorter than one window of {window_size} samples")]
    TooShort {
        /// Number of samples given.
        samples: usize,
        /// Window length in samples at the given sample rate.
        window_size: usize,
    },
    /// A NaN or infinite sample.
    #[error("non-finite sample at index {index}")]
    NonFinite {
        /// Index of the first offending sample.
        index: usize,
    },
}

/// An option, alone or combined with the sample rate, is out of its valid range.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A numeric option outside its valid range.
    #[error("{name} = {value} is out of range: {expected}")]
    OutOfRange {
        /// Name of the option (torchaudio's keyword).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, in words.
        expected: &'static str,
    },
    /// The window is shorter than two samples at this sample rate.
    #[error(
        "window of {window_size} samples is too short: frame_length must give at least 2 samples"
    )]
    WindowTooShort {
        /// Window length in samples.
        window_size: usize,
    },
    /// The frame shift rounds down to zero samples at this sample rate.
    #[error("frame_shift gives a shift of 0 samples at {sample_rate} Hz")]
    ZeroShift {
        /// The sample rate.
        sample_rate: u32,
    },
    /// The FFT length must be even; use `round_to_power_of_two` or change `frame_length`.
    #[error("padded window of {padded_window_size} samples is odd: use round_to_power_of_two or change frame_length")]
    OddPaddedWindow {
        /// The FFT length.
        padded_window_size: usize,
    },
    /// The mel range does not fit below the Nyquist frequency.
    #[error("bad mel range: low_freq {low_freq} and high_freq {high_freq} vs. nyquist {nyquist}")]
    BadMelRange {
        /// Lower edge in Hz.
        low_freq: f64,
        /// Upper edge in Hz (after resolving a non-positive value as an offset from Nyquist).
        high_freq: f64,
        /// Half the sample rate.
        nyquist: f64,
    },
    /// The VTLN inflection points do not fit inside the mel range.
    #[error("bad vtln range: vtln_low {vtln_low} and vtln_high {vtln_high} vs. low_freq {low_freq} and high_freq {high_freq}")]
    BadVtlnRange {
        /// Lower inflection point in Hz.
        vtln_low: f64,
        /// Upper inflection point in Hz (after resolving a negative value as an offset).
        vtln_high: f64,
        /// Lower mel edge in Hz.
        low_freq: f64,
        /// Upper mel edge in Hz.
        high_freq: f64,
    },
    /// More cepstra than mel bins were asked for.
    #[error("num_ceps {num_ceps} cannot be larger than num_mel_bins {num_mel_bins}")]
    TooManyCeps {
        /// Cepstra asked for.
        num_ceps: usize,
        /// Mel bins available.
        num_mel_bins: usize,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
