//! One enum that picks the frame-level encoder of a pipeline: Kaldi log-mel filterbank, MFCC
//! (voxprobe-features, offline and exact), or a layer of any voxprobe-ssl model (feature `ssl`).
//!
//! Input convention for every variant: mono `f32` samples in [-1, 1] at 16 kHz, as
//! `voxprobe_audio::load` returns them. Fbank and MFCC scale them by 32768 first, the 16-bit
//! integer scale Kaldi recipes and `torchaudio.compliance.kaldi` users feed, so the log
//! energies have Kaldi's usual values; SSL models normalise per utterance as their feature
//! extractor says.

use std::fmt;

use ndarray::Array2;
use voxprobe_features::{Fbank, FbankOptions, Mfcc, MfccOptions};

/// Sample rate every encoder expects.
pub const SAMPLE_RATE: u32 = 16_000;

/// Scale applied to [-1, 1] samples before Kaldi features: 16-bit integer range.
pub const KALDI_SCALE: f32 = 32_768.0;

/// What to build: serialisable, so pipelines can record it next to their outputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EncoderSpec {
    /// Kaldi log-mel filterbank, 100 frames/s.
    Fbank(FbankOptions),
    /// Kaldi MFCC, 100 frames/s.
    Mfcc(MfccOptions),
    /// Hidden state `layer` (transformers 5.x numbering: 0 = input of the first encoder
    /// layer) of an SSL model loaded from a directory or hub id, 50 frames/s.
    Ssl {
        /// Model directory or hub id.
        model: String,
        /// Hidden-state index.
        layer: usize,
    },
}

impl EncoderSpec {
    /// Parses the command-line spelling: `fbank`, `mfcc`, or `ssl:<dir or hub id>:<layer>`
    /// (the layer is the part after the last `:`).
    pub fn parse(s: &str) -> Result<Self, EncoderError> {
        match s {
            "fbank" => Ok(Self::Fbank(FbankOptions::default())),
            "mfcc" => Ok(Self::Mfcc(MfccOptions::default())),
            _ => {
                let bad = || EncoderError::Spec(s.to_string());
                let rest = s.strip_prefix("ssl:").ok_or_else(bad)?;
                let (model, layer) = rest.rsplit_once(':').ok_or_else(bad)?;
                let layer = layer.parse().map_err(|_| bad())?;
                if model.is_empty() {
                    return Err(bad());
                }
                Ok(Self::Ssl {
                    model: model.to_string(),
                    layer,
                })
            }
        }
    }
}

/// Errors of [`Encoder`].
#[non_exhaustive]
#[derive(Debug)]
pub enum EncoderError {
    /// The encoder spelling was not `fbank`, `mfcc` or `ssl:<model>:<layer>`.
    Spec(String),
    /// Kaldi feature computation failed.
    Features(voxprobe_features::Error),
    /// `ssl:` was asked for but the package was built without the `ssl` feature.
    SslNotCompiled,
    /// The SSL model failed to load or run.
    #[cfg(feature = "ssl")]
    Ssl(voxprobe_ssl::Error),
    /// The requested hidden-state index does not exist.
    #[cfg(feature = "ssl")]
    BadLayer {
        /// Index asked for.
        layer: usize,
        /// Number of hidden states the model has.
        available: usize,
    },
}

impl fmt::Display for EncoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spec(s) => write!(
                f,
                "bad encoder {s:?}: expected fbank, mfcc or ssl:<model dir or hub id>:<layer>"
            ),
            Self::Features(e) => write!(f, "features: {e}"),
            Self::SslNotCompiled => write!(
                f,
                "an ssl encoder needs the `ssl` feature (build with --features ssl)"
            ),
            #[cfg(feature = "ssl")]
            Self::Ssl(e) => write!(f, "ssl model: {e}"),
            #[cfg(feature = "ssl")]
            Self::BadLayer { layer, available } => write!(
                f,
                "hidden state {layer} does not exist: the model has {available} (0..={})",
                available.saturating_sub(1)
            ),
        }
    }
}

impl std::error::Error for EncoderError {}

impl From<voxprobe_features::Error> for EncoderError {
    fn from(e: voxprobe_features::Error) -> Self {
        Self::Features(e)
    }
}

#[cfg(feature = "ssl")]
impl From<voxprobe_ssl::Error> for EncoderError {
    fn from(e: voxprobe_ssl::Error) -> Self {
        Self::Ssl(e)
    }
}

#[cfg(feature = "ssl")]
impl From<voxprobe_ssl::candle_core::Error> for EncoderError {
    fn from(e: voxprobe_ssl::candle_core::Error) -> Self {
        Self::Ssl(e.into())
    }
}

/// A ready encoder: waveform in, `frames × dim` out.
pub enum Encoder {
    /// Kaldi log-mel filterbank.
    Fbank(Fbank),
    /// Kaldi MFCC.
    Mfcc(Mfcc),
    /// One hidden state of an SSL model.
    #[cfg(feature = "ssl")]
    Ssl {
        /// The loaded model.
        model: Box<voxprobe_ssl::Pretrained>,
        /// Hidden-state index.
        layer: usize,
    },
}

impl fmt::Debug for Encoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Encoder {
    /// Builds the encoder on the CPU (SSL models: see [`Encoder::with_device`]).
    pub fn new(spec: &EncoderSpec) -> Result<Self, EncoderError> {
        match spec {
            EncoderSpec::Fbank(o) => Ok(Self::Fbank(Fbank::new(o.clone())?)),
            EncoderSpec::Mfcc(o) => Ok(Self::Mfcc(Mfcc::new(o.clone())?)),
            #[cfg(feature = "ssl")]
            EncoderSpec::Ssl { .. } => {
                Self::with_device(spec, voxprobe_ssl::candle_core::Device::Cpu)
            }
            #[cfg(not(feature = "ssl"))]
            EncoderSpec::Ssl { .. } => Err(EncoderError::SslNotCompiled),
        }
    }

    /// Builds the encoder, loading an SSL model onto `device` (Kaldi features always run on
    /// the CPU).
    #[cfg(feature = "ssl")]
    pub fn with_device(
        spec: &EncoderSpec,
        device: voxprobe_ssl::candle_core::Device,
    ) -> Result<Self, EncoderError> {
        match spec {
            EncoderSpec::Ssl { model, layer } => {
                let opts = voxprobe_ssl::LoadOptions::default().device(device);
                let model = voxprobe_ssl::Pretrained::load(model, &opts)?;
                let available = model.model.num_layers() + 1;
                if *layer >= available {
                    return Err(EncoderError::BadLayer {
                        layer: *layer,
                        available,
                    });
                }
                Ok(Self::Ssl {
                    model: Box::new(model),
                    layer: *layer,
                })
            }
            other => Self::new(other),
        }
    }

    /// Short human-readable name (`fbank23`, `mfcc13`, `ssl-L3`).
    pub fn name(&self) -> String {
        match self {
            Self::Fbank(f) => format!("fbank{}", f.dim()),
            Self::Mfcc(m) => format!("mfcc{}", m.dim()),
            #[cfg(feature = "ssl")]
            Self::Ssl { layer, .. } => format!("ssl-L{layer}"),
        }
    }

    /// Output frames per second of audio.
    pub fn frame_rate(&self) -> f64 {
        let shift_ms = match self {
            Self::Fbank(f) => f.options().frame.frame_shift,
            Self::Mfcc(m) => m.options().frame.frame_shift,
            #[cfg(feature = "ssl")]
            Self::Ssl { model, .. } => {
                1000.0 * model.model.hop_length() as f64 / f64::from(SAMPLE_RATE)
            }
        };
        1000.0 / shift_ms
    }

    /// Encodes one utterance (mono, [-1, 1], 16 kHz): `frames × dim`.
    pub fn encode(&self, wave: &[f32]) -> Result<Array2<f32>, EncoderError> {
        match self {
            Self::Fbank(f) => {
                let x: Vec<f32> = wave.iter().map(|v| v * KALDI_SCALE).collect();
                Ok(f.compute(&x, SAMPLE_RATE)?)
            }
            Self::Mfcc(m) => {
                let x: Vec<f32> = wave.iter().map(|v| v * KALDI_SCALE).collect();
                Ok(m.compute(&x, SAMPLE_RATE)?)
            }
            #[cfg(feature = "ssl")]
            Self::Ssl { model, layer } => {
                use voxprobe_ssl::{ChunkOptions, ForwardOptions, LayerSelection};
                let fwd =
                    ForwardOptions::default().hidden_states(LayerSelection::Some(vec![*layer]));
                let out = model.embed_long(wave, &ChunkOptions::default(), &fwd)?;
                let h = out
                    .hidden_states
                    .get(layer)
                    .ok_or(EncoderError::BadLayer {
                        layer: *layer,
                        available: model.model.num_layers() + 1,
                    })?
                    .squeeze(0)?
                    .to_device(&voxprobe_ssl::candle_core::Device::Cpu)?
                    .to_dtype(voxprobe_ssl::candle_core::DType::F32)?;
                let (t, d) = h.dims2()?;
                let v = h.flatten_all()?.to_vec1::<f32>()?;
                Array2::from_shape_vec((t, d), v).map_err(|_| {
                    EncoderError::Spec(format!("ssl output of {t} x {d} did not reshape"))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_command_line_spelling() {
        assert!(matches!(
            EncoderSpec::parse("fbank"),
            Ok(EncoderSpec::Fbank(_))
        ));
        assert!(matches!(
            EncoderSpec::parse("mfcc"),
            Ok(EncoderSpec::Mfcc(_))
        ));
        let s = EncoderSpec::parse("ssl:models/tiny:3").unwrap();
        assert_eq!(
            s,
            EncoderSpec::Ssl {
                model: "models/tiny".into(),
                layer: 3
            }
        );
        assert!(matches!(
            EncoderSpec::parse("ssl:x"),
            Err(EncoderError::Spec(_))
        ));
        assert!(matches!(
            EncoderSpec::parse("wav2vec"),
            Err(EncoderError::Spec(_))
        ));
    }

    #[test]
    fn fbank_and_mfcc_give_100_frames_per_second() {
        let wave: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.01).sin() * 0.1).collect();
        for spec in ["fbank", "mfcc"] {
            let e = Encoder::new(&EncoderSpec::parse(spec).unwrap()).unwrap();
            let y = e.encode(&wave).unwrap();
            assert_eq!(y.nrows(), 98);
            assert!((e.frame_rate() - 100.0).abs() < 1e-9);
        }
    }

    #[cfg(feature = "ssl")]
    #[test]
    fn ssl_layer_gives_50_frames_per_second_and_bad_layers_are_errors() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/tiny-wav2vec2-ctc-base");
        let e = Encoder::new(&EncoderSpec::parse(&format!("ssl:{dir}:1")).unwrap()).unwrap();
        let wave: Vec<f32> = (0..16_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
        let y = e.encode(&wave).unwrap();
        assert_eq!(y.nrows(), 49);
        assert!((e.frame_rate() - 50.0).abs() < 1e-9);
        assert_eq!(e.name(), "ssl-L1");
        let bad = Encoder::new(&EncoderSpec::parse(&format!("ssl:{dir}:99")).unwrap());
        assert!(matches!(bad, Err(EncoderError::BadLayer { layer: 99, .. })));
    }
}
