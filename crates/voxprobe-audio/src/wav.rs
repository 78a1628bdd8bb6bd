//! Writing WAV files (hound).

use std::io::{Seek, Write};
use std::path::Path;

use crate::error::{Error, ParamError, Result};

/// Sample encoding of a written WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WavFormat {
    /// 16-bit signed PCM: `round(x * 32768)` clamped to [-32768, 32767], so a 16-bit file
    /// decoded by this crate and written back is bit-identical.
    #[default]
    Pcm16,
    /// 32-bit IEEE float, samples written as they are.
    Float32,
}

/// Writes interleaved `samples` (`channels` per frame) to a WAV file at `path`.
pub fn write_wav(
    path: impl AsRef<Path>,
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    format: WavFormat,
) -> Result<()> {
    let path = path.as_ref();
    let file = std::fs::File::create(path).map_err(|e| Error::Io {
        file: path.to_path_buf(),
        source: e,
    })?;
    write_wav_to(
        std::io::BufWriter::new(file),
        samples,
        sample_rate,
        channels,
        format,
    )
    .map_err(|e| match e {
        Error::WavWrite { detail, .. } => Error::WavWrite {
            file: path.to_path_buf(),
            detail,
        },
        other => other,
    })
}

/// Writes a WAV file to any seekable writer (e.g. a `Cursor<Vec<u8>>`).
pub fn write_wav_to<W: Write + Seek>(
    writer: W,
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    format: WavFormat,
) -> Result<()> {
    if sample_rate == 0 {
        return Err(ParamError::ZeroSampleRate { rate: 0 }.into());
    }
    if channels == 0 {
        return Err(ParamError::ZeroChannels.into());
    }
    if let Some(index) = samples.iter().position(|x| !x.is_finite()) {
        return Err(ParamError::NonFiniteInput { index }.into());
    }
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: match format {
            WavFormat::Pcm16 => 16,
            WavFormat::Float32 => 32,
        },
        sample_format: match format {
            WavFormat::Pcm16 => hound::SampleFormat::Int,
            WavFormat::Float32 => hound::SampleFormat::Float,
        },
    };
    let err = |e: hound::Error| Error::WavWrite {
        file: "<writer>".into(),
        detail: e.to_string(),
    };
    let mut w = hound::WavWriter::new(writer, spec).map_err(err)?;
    match format {
        WavFormat::Pcm16 => {
            let mut w16 =
                w.get_i16_writer(u32::try_from(samples.len()).map_err(|_| Error::WavWrite {
                    file: "<writer>".into(),
                    detail: "more than 2^32 samples do not fit a wav file".into(),
                })?);
            for &x in samples {
                // Clamped first, so the cast cannot overflow.
                #[allow(clippy::cast_possible_truncation)]
                let v = (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16;
                w16.write_sample(v);
            }
            w16.flush().map_err(err)?;
        }
        WavFormat::Float32 => {
            for &x in samples {
                w.write_sample(x).map_err(err)?;
            }
        }
    }
    w.finalize().map_err(err)
}

/// Incremental WAV writer for streamed output (e.g. the chunks of [`crate::AudioStream`]).
pub struct WavWriter {
    inner: hound::WavWriter<std::io::BufWriter<std::fs::File>>,
    format: WavFormat,
    path: std::path::PathBuf,
    written: u64,
}

impl std::fmt::Debug for WavWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavWriter")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl WavWriter {
    /// Creates `path` and writes the header.
    pub fn create(
        path: impl AsRef<Path>,
        sample_rate: u32,
        channels: u16,
        format: WavFormat,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if sample_rate == 0 {
            return Err(ParamError::ZeroSampleRate { rate: 0 }.into());
        }
        if channels == 0 {
            return Err(ParamError::ZeroChannels.into());
        }
        let spec = hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample: match format {
                WavFormat::Pcm16 => 16,
                WavFormat::Float32 => 32,
            },
            sample_format: match format {
                WavFormat::Pcm16 => hound::SampleFormat::Int,
                WavFormat::Float32 => hound::SampleFormat::Float,
            },
        };
        let inner = hound::WavWriter::create(&path, spec).map_err(|e| Error::WavWrite {
            file: path.clone(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            inner,
            format,
            path,
            written: 0,
        })
    }

    /// Appends interleaved samples (same encoding rules as [`write_wav`]).
    pub fn write(&mut self, samples: &[f32]) -> Result<()> {
        if let Some(index) = samples.iter().position(|x| !x.is_finite()) {
            return Err(ParamError::NonFiniteInput { index }.into());
        }
        let path = &self.path;
        let err = |e: hound::Error| Error::WavWrite {
            file: path.clone(),
            detail: e.to_string(),
        };
        for &x in samples {
            match self.format {
                WavFormat::Pcm16 => {
                    #[allow(clippy::cast_possible_truncation)]
                    let v = (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16;
                    self.inner.write_sample(v).map_err(err)?;
                }
                WavFormat::Float32 => self.inner.write_sample(x).map_err(err)?,
            }
        }
        self.written += samples.len() as u64;
        Ok(())
    }

    /// Samples written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Patches the header with the final length and closes the file.
    pub fn finalize(self) -> Result<()> {
        let path = self.path;
        self.inner.finalize().map_err(|e| Error::WavWrite {
            file: path,
            detail: e.to_string(),
        })
    }
}
