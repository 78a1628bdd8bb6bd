#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
//! # Invariant
//!
//! With the same options and the same `f32` waveform, [`Fbank::compute`] and
//! [`Mfcc::compute`] return what `torchaudio.compliance.kaldi.fbank` / `.mfcc` return, to
//! float32 rounding (the parity tests allow 1e-4 absolute on real speech); the output never
//! depends on the number of threads.

/// The `ndarray` this crate's API uses (`Array2<f32>` in and out), re-exported so callers
/// name the same version: `voxprobe_x::ndarray::Array2`.
pub use ndarray;

mod compute;
pub mod egemaps;
pub mod error;
mod frames;
pub mod mel;
pub mod options;

pub use compute::{Fbank, Mfcc};
pub use egemaps::{Egemaps, EgemapsLld};
pub use error::{Error, ParamError, Result};
pub use options::{FbankOptions, FrameOptions, MelOptions, MfccOptions, WindowType};

/// Frame geometry for `sample_rate`: `(window_size, window_shift, padded_window_size)` in
/// samples, as torchaudio truncates them (400, 160, 512 at 16 kHz with the defaults).
pub fn frame_geometry(frame: &FrameOptions, sample_rate: u32) -> Result<(usize, usize, usize)> {
    frames::geometry(frame, sample_rate)
}

/// Number of frames output for `num_samples` samples (0 if shorter than one window), the
/// same count as torchaudio's: `1 + (n - window) / shift` with `snip_edges`, else
/// `(n + shift / 2) / shift`.
pub fn num_frames(frame: &FrameOptions, num_samples: usize, sample_rate: u32) -> Result<usize> {
    let (size, shift, _) = frames::geometry(frame, sample_rate)?;
    Ok(if num_samples < size {
        0
    } else if frame.snip_edges {
        1 + (num_samples - size) / shift
    } else {
        (num_samples + shift / 2) / shift
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Fbank>();
        check::<Mfcc>();
        check::<Error>();
        check::<FbankOptions>();
        check::<MfccOptions>();
    }
}
