#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! Invariant: every sample this crate hands out is finite, and every failure on user input is
//! an [`Error`] naming the input — decoding never panics.

mod decode;
mod error;
mod guard;
mod mix;
mod raw;
mod resample;
mod stream;
mod wav;

pub use decode::{
    decode_bytes, decode_file, decode_reader, Audio, AudioInfo, DecodeOptions, Segment,
    LOSSY_PREROLL_FRAMES,
};
pub use error::{Error, ParamError, Result};
pub use mix::{downmix, downmix_into, normalize, Downmix, Normalize, ZERO_MEAN_UNIT_VAR_EPS};
pub use raw::{Endianness, RawSampleFormat, RawSpec};
pub use resample::{resample, ResampleQuality, Resampler, HIGH_QUALITY_FFT_SIZE};
pub use stream::{
    load, load_bytes, AudioStream, LoadOptions, MonoAudio, StreamOptions, DEFAULT_TARGET_RATE,
};
pub use wav::{write_wav, write_wav_to, WavFormat, WavWriter};
