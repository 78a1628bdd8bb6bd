//! The crate's error type: every failure names the input (`file`) and the problem.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while decoding, resampling or writing audio.
///
/// `file` is the path of the input, or the name given to in-memory data
/// (see [`crate::decode_bytes`]). Messages are lowercase without a trailing period.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist.
    #[error("{file}: file not found")]
    NotFound {
        /// The missing path.
        file: PathBuf,
    },
    /// The file exists but could not be read or written.
    #[error("{file}: i/o error: {source}")]
    Io {
        /// The path.
        file: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The input holds zero bytes.
    #[error("{file}: empty file (0 bytes)")]
    EmptyFile {
        /// The path or name of the input.
        file: PathBuf,
    },
    /// No demuxer or decoder understands the input (unknown container or codec).
    #[error("{file}: unsupported format or codec: {detail}")]
    Unsupported {
        /// The path or name of the input.
        file: PathBuf,
        /// What was not supported, as the demuxer/decoder said it.
        detail: String,
    },
    /// The stream is malformed (bad header or, in strict mode, a bad packet).
    #[error("{file}: corrupt stream: {detail}")]
    Corrupt {
        /// The path or name of the input.
        file: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The stream ended before the number of frames its header declares.
    #[error("{file}: truncated stream: header declares {expected_frames} frames, only {decoded_frames} could be decoded")]
    Truncated {
        /// The path or name of the input.
        file: PathBuf,
        /// Frames declared by the container header.
        expected_frames: u64,
        /// Frames actually decoded.
        decoded_frames: u64,
    },
    /// The stream declares no channels.
    #[error("{file}: zero channels")]
    ZeroChannels {
        /// The path or name of the input.
        file: PathBuf,
    },
    /// The stream decodes to zero frames.
    #[error("{file}: zero-length audio (no samples)")]
    NoAudio {
        /// The path or name of the input.
        file: PathBuf,
    },
    /// A float sample is NaN or infinite (rejected, see the crate docs' error policy).
    #[error("{file}: non-finite sample ({value}) at frame {frame}, channel {channel}")]
    NonFinite {
        /// The path or name of the input.
        file: PathBuf,
        /// Frame index of the first bad sample.
        frame: u64,
        /// Channel of the first bad sample.
        channel: usize,
        /// The offending value, as text (`NaN`, `inf`, `-inf`).
        value: String,
    },
    /// `Downmix::Channel(n)` asked for a channel the audio does not have.
    #[error("{file}: channel {requested} requested but the audio has {channels} channel(s)")]
    ChannelOutOfRange {
        /// The path or name of the input.
        file: PathBuf,
        /// The requested channel index (0-based).
        requested: usize,
        /// The number of channels in the audio.
        channels: usize,
    },
    /// The audio is longer than [`crate::DecodeOptions::max_frames`] allows.
    #[error("{file}: audio longer than the limit of {limit} frames")]
    TooLong {
        /// The path or name of the input.
        file: PathBuf,
        /// The limit in frames.
        limit: u64,
    },
    /// A [`crate::DecodeOptions::segment`] rounds to zero frames at the file's rate.
    #[error(
        "{file}: segment [{start_frame}, {end_frame}) holds no frames at the file's sample rate"
    )]
    EmptySegment {
        /// The path or name of the input.
        file: PathBuf,
        /// First frame, `round(start_secs * rate)`.
        start_frame: u64,
        /// End frame (exclusive), `round(end_secs * rate)`.
        end_frame: u64,
    },
    /// A [`crate::DecodeOptions::segment`] starts at or after the end of the file, or ends
    /// after it (unless [`crate::DecodeOptions::lenient_segment_end`] is set).
    #[error("{file}: segment from frame {start_frame} to {} lies past the end of the file ({frames} frames)", end_frame.map_or("the end".to_string(), |e| e.to_string()))]
    SegmentPastEnd {
        /// The path or name of the input.
        file: PathBuf,
        /// First frame asked for.
        start_frame: u64,
        /// End frame asked for (exclusive), `None` for "to the end".
        end_frame: Option<u64>,
        /// Frames the file holds (as decoded, or as the header declares when the demuxer
        /// refused the seek).
        frames: u64,
    },
    /// An option or argument is out of range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The resampler failed (should not happen with validated parameters).
    #[error("resampler: {0}")]
    Resample(String),
    /// Writing a WAV file failed.
    #[error("{file}: cannot write wav: {detail}")]
    WavWrite {
        /// The output path.
        file: PathBuf,
        /// The writer's message.
        detail: String,
    },
}

/// Invalid settings, found before any work is done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A sample rate of zero.
    #[error("sample rate must be > 0, got {rate}")]
    ZeroSampleRate {
        /// The given rate.
        rate: u32,
    },
    /// A raw PCM spec with zero channels.
    #[error("raw pcm spec: channel count must be > 0")]
    ZeroChannels,
    /// Two rates whose reduced ratio needs FFT blocks over 2^20 frames (e.g. coprime
    /// rates in the hundreds of kHz).
    #[error("cannot resample {in_rate} Hz -> {out_rate} Hz: the reduced ratio is too large")]
    UnsupportedRatio {
        /// Input rate.
        in_rate: u32,
        /// Output rate.
        out_rate: u32,
    },
    /// A chunk size of zero.
    #[error("chunk size must be > 0, got {size}")]
    ZeroChunk {
        /// The given size.
        size: usize,
    },
    /// `Downmix::Channel(n)` for a channel the audio does not have.
    #[error("channel {requested} requested but the audio has {channels} channel(s)")]
    ChannelOutOfRange {
        /// The requested channel index (0-based).
        requested: usize,
        /// The number of channels in the audio.
        channels: usize,
    },
    /// A segment that is not a time range: NaN or infinite bounds, start < 0, end <= start.
    #[error("invalid segment (start {start_secs} s, end {}): {reason}", end_secs.map_or("none".to_string(), |e| format!("{e} s")))]
    InvalidSegment {
        /// The given start in seconds.
        start_secs: f64,
        /// The given end in seconds.
        end_secs: Option<f64>,
        /// What is wrong.
        reason: &'static str,
    },
    /// Samples to normalise or resample contain NaN or infinity.
    #[error("non-finite sample at index {index}")]
    NonFiniteInput {
        /// Index of the first bad sample.
        index: usize,
    },
}
