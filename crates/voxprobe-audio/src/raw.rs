//! Headerless PCM: the caller states rate, channels, sample format and byte order.

use crate::error::{ParamError, Result};

/// Sample encoding of headerless PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawSampleFormat {
    /// Unsigned 8-bit, 128 is silence.
    U8,
    /// Signed 8-bit.
    S8,
    /// Signed 16-bit.
    S16,
    /// Signed 24-bit packed in 3 bytes.
    S24,
    /// Signed 32-bit.
    S32,
    /// IEEE 754 32-bit float.
    F32,
    /// IEEE 754 64-bit float.
    F64,
}

impl RawSampleFormat {
    /// Bytes per sample.
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 | Self::S8 => 1,
            Self::S16 => 2,
            Self::S24 => 3,
            Self::S32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// Short name in the style of symphonia's codec names (`pcm_s16le`, ...).
    pub(crate) fn codec_name(self, endian: Endianness) -> String {
        let base = match self {
            Self::U8 => return "pcm_u8".into(),
            Self::S8 => return "pcm_s8".into(),
            Self::S16 => "pcm_s16",
            Self::S24 => "pcm_s24",
            Self::S32 => "pcm_s32",
            Self::F32 => "pcm_f32",
            Self::F64 => "pcm_f64",
        };
        let e = match endian {
            Endianness::Little => "le",
            Endianness::Big => "be",
        };
        format!("{base}{e}")
    }

    /// Whether the encoding is floating point (and may therefore hold NaN or infinity).
    pub(crate) fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }
}

/// Byte order of multi-byte samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endianness {
    /// Least significant byte first (WAV, most machines).
    #[default]
    Little,
    /// Most significant byte first (AIFF, network order).
    Big,
}

/// Description of headerless PCM data, which carries no header to describe itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawSpec {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame.
    pub channels: usize,
    /// Sample encoding.
    pub format: RawSampleFormat,
    /// Byte order.
    pub endianness: Endianness,
}

impl RawSpec {
    /// A spec; check it with [`RawSpec::validate`] (decoding does).
    pub fn new(
        sample_rate: u32,
        channels: usize,
        format: RawSampleFormat,
        endianness: Endianness,
    ) -> Self {
        Self {
            sample_rate,
            channels,
            format,
            endianness,
        }
    }

    /// Rejects a zero rate or zero channels.
    pub fn validate(&self) -> Result<(), ParamError> {
        if self.sample_rate == 0 {
            return Err(ParamError::ZeroSampleRate {
                rate: self.sample_rate,
            });
        }
        if self.channels == 0 {
            return Err(ParamError::ZeroChannels);
        }
        Ok(())
    }

    /// Bytes per interleaved frame.
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes() * self.channels
    }

    /// Converts whole samples from `bytes` (length a multiple of the sample size) to f32,
    /// appending to `out`. The scalings are symphonia's (x / 2^(bits-1)), so raw and
    /// containerised PCM decode to identical values.
    pub(crate) fn convert(&self, bytes: &[u8], out: &mut Vec<f32>) {
        let le = self.endianness == Endianness::Little;
        let n = self.format.bytes();
        out.reserve(bytes.len() / n);
        for s in bytes.chunks_exact(n) {
            let v = match self.format {
                RawSampleFormat::U8 => (f32::from(s[0]) / 128.0) - 1.0,
                RawSampleFormat::S8 => f32::from(i8::from_ne_bytes([s[0]])) / 128.0,
                RawSampleFormat::S16 => {
                    let b = [s[0], s[1]];
                    let x = if le {
                        i16::from_le_bytes(b)
                    } else {
                        i16::from_be_bytes(b)
                    };
                    f32::from(x) / 32_768.0
                }
                RawSampleFormat::S24 => {
                    // Place the 3 bytes in the top of an i32, then shift back to sign-extend.
                    let b = if le {
                        [0, s[0], s[1], s[2]]
                    } else {
                        [0, s[2], s[1], s[0]]
                    };
                    let x = i32::from_le_bytes(b) >> 8;
                    // |x| < 2^23 is exact in f32.
                    #[allow(clippy::cast_precision_loss)]
                    let v = x as f32 / 8_388_608.0;
                    v
                }
                RawSampleFormat::S32 => {
                    let b = [s[0], s[1], s[2], s[3]];
                    let x = if le {
                        i32::from_le_bytes(b)
                    } else {
                        i32::from_be_bytes(b)
                    };
                    // Same rounding as symphonia: exact in f64, one rounding to f32.
                    (f64::from(x) / 2_147_483_648.0) as f32
                }
                RawSampleFormat::F32 => {
                    let b = [s[0], s[1], s[2], s[3]];
                    if le {
                        f32::from_le_bytes(b)
                    } else {
                        f32::from_be_bytes(b)
                    }
                }
                RawSampleFormat::F64 => {
                    let b = [s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]];
                    (if le {
                        f64::from_le_bytes(b)
                    } else {
                        f64::from_be_bytes(b)
                    }) as f32
                }
            };
            out.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s24_sign_extension_both_orders() {
        let mut out = Vec::new();
        let spec = RawSpec::new(8000, 1, RawSampleFormat::S24, Endianness::Little);
        // -1 and the most negative value, little endian.
        spec.convert(&[0xff, 0xff, 0xff, 0x00, 0x00, 0x80], &mut out);
        let be = RawSpec::new(8000, 1, RawSampleFormat::S24, Endianness::Big);
        be.convert(&[0xff, 0xff, 0xff, 0x80, 0x00, 0x00], &mut out);
        assert_eq!(
            out,
            vec![-1.0 / 8_388_608.0, -1.0, -1.0 / 8_388_608.0, -1.0]
        );
    }

    #[test]
    fn validate_rejects_zeros() {
        let s = RawSpec::new(0, 1, RawSampleFormat::S16, Endianness::Little);
        assert!(matches!(
            s.validate(),
            Err(ParamError::ZeroSampleRate { rate: 0 })
        ));
        let s = RawSpec::new(16000, 0, RawSampleFormat::S16, Endianness::Little);
        assert!(matches!(s.validate(), Err(ParamError::ZeroChannels)));
    }
}
