//! One-call loading and bounded-memory streaming of mono audio at a target rate.

use std::path::Path;

use crate::decode::{AudioInfo, DecodeOptions, Source};
use crate::error::{Error, ParamError, Result};
use crate::mix::{downmix_into, normalize, Downmix, Normalize};
use crate::resample::{ResampleQuality, Resampler};

/// The rate speech SSL models expect.
pub const DEFAULT_TARGET_RATE: u32 = 16_000;

/// Options for [`load`]. Every field has a documented default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// Output rate in Hz. Default: 16000.
    pub target_rate: u32,
    /// Channel handling. Default: [`Downmix::Mean`].
    pub downmix: Downmix,
    /// Resampler. Default: [`ResampleQuality::High`].
    pub quality: ResampleQuality,
    /// Normalisation after resampling. Default: [`Normalize::None`].
    pub normalize: Normalize,
    /// Decoder options (raw PCM spec, strictness, limits). Default: [`DecodeOptions::default`].
    pub decode: DecodeOptions,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            target_rate: DEFAULT_TARGET_RATE,
            downmix: Downmix::Mean,
            quality: ResampleQuality::High,
            normalize: Normalize::None,
            decode: DecodeOptions::default(),
        }
    }
}

impl LoadOptions {
    /// Default options (16 kHz, mean downmix, high quality, no normalisation).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`LoadOptions::target_rate`].
    pub fn target_rate(mut self, rate: u32) -> Self {
        self.target_rate = rate;
        self
    }
    /// Sets [`LoadOptions::downmix`].
    pub fn downmix(mut self, downmix: Downmix) -> Self {
        self.downmix = downmix;
        self
    }
    /// Sets [`LoadOptions::quality`].
    pub fn quality(mut self, quality: ResampleQuality) -> Self {
        self.quality = quality;
        self
    }
    /// Sets [`LoadOptions::normalize`].
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = normalize;
        self
    }
    /// Sets [`LoadOptions::decode`].
    pub fn decode(mut self, decode: DecodeOptions) -> Self {
        self.decode = decode;
        self
    }
}

/// Mono audio at a chosen rate, with what was learned about the source.
#[derive(Debug, Clone, PartialEq)]
pub struct MonoAudio {
    /// Samples at `sample_rate`.
    pub samples: Vec<f32>,
    /// Rate of `samples` in Hz.
    pub sample_rate: u32,
    /// The source: native rate, channels, frames, codec.
    pub info: AudioInfo,
}

impl MonoAudio {
    /// Duration of `samples` in seconds.
    pub fn duration_secs(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let d = self.samples.len() as f64 / f64::from(self.sample_rate.max(1));
        d
    }
}

/// Path → mono f32 at the target rate (16 kHz by default) plus source metadata.
pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<MonoAudio> {
    check_rate(opts.target_rate)?;
    let src = Source::open_path(path.as_ref(), &opts.decode)?;
    load_from(src, opts)
}

/// [`load`] for an in-memory file; `name` labels errors.
pub fn load_bytes(bytes: &[u8], name: &str, opts: &LoadOptions) -> Result<MonoAudio> {
    check_rate(opts.target_rate)?;
    let src = Source::open_bytes(bytes.to_vec(), name, &opts.decode)?;
    load_from(src, opts)
}

fn check_rate(rate: u32) -> Result<()> {
    if rate == 0 {
        return Err(ParamError::ZeroSampleRate { rate }.into());
    }
    Ok(())
}

fn check_channel(src: &Source, downmix: Downmix) -> Result<()> {
    if let Downmix::Channel(c) = downmix {
        if c >= src.info.channels {
            return Err(Error::ChannelOutOfRange {
                file: src.file.clone(),
                requested: c,
                channels: src.info.channels,
            });
        }
    }
    Ok(())
}

fn load_from(mut src: Source, opts: &LoadOptions) -> Result<MonoAudio> {
    check_channel(&src, opts.downmix)?;
    let mut resampler = Resampler::new(src.info.sample_rate, opts.target_rate, opts.quality)?;
    let mut packet = Vec::new();
    let mut mono = Vec::new();
    let mut out = Vec::new();
    // Downmix and resample packet by packet: peak memory is the output, not the
    // multichannel source.
    loop {
        packet.clear();
        if !src.next_packet(&mut packet)? {
            break;
        }
        mono.clear();
        downmix_into(&packet, src.info.channels, opts.downmix, &mut mono)?;
        resampler.process(&mono, &mut out)?;
    }
    resampler.finish(&mut out)?;
    normalize(&mut out, opts.normalize)?;
    Ok(MonoAudio {
        samples: out,
        sample_rate: opts.target_rate,
        info: src.info,
    })
}

/// Options for [`AudioStream`]. Every field has a documented default.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Output rate in Hz. Default: 16000.
    pub target_rate: u32,
    /// Channel handling. Default: [`Downmix::Mean`].
    pub downmix: Downmix,
    /// Resampler. Default: [`ResampleQuality::High`].
    pub quality: ResampleQuality,
    /// Output frames per yielded chunk (the last one may be shorter). Default: 16000.
    pub chunk_frames: usize,
    /// Decoder options. Default: [`DecodeOptions::default`].
    pub decode: DecodeOptions,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            target_rate: DEFAULT_TARGET_RATE,
            downmix: Downmix::Mean,
            quality: ResampleQuality::High,
            chunk_frames: 16_000,
            decode: DecodeOptions::default(),
        }
    }
}

impl StreamOptions {
    /// Default options (16 kHz, mean downmix, high quality, 1 s chunks at 16 kHz).
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`StreamOptions::target_rate`].
    pub fn target_rate(mut self, rate: u32) -> Self {
        self.target_rate = rate;
        self
    }
    /// Sets [`StreamOptions::downmix`].
    pub fn downmix(mut self, downmix: Downmix) -> Self {
        self.downmix = downmix;
        self
    }
    /// Sets [`StreamOptions::quality`].
    pub fn quality(mut self, quality: ResampleQuality) -> Self {
        self.quality = quality;
        self
    }
    /// Sets [`StreamOptions::chunk_frames`].
    pub fn chunk_frames(mut self, frames: usize) -> Self {
        self.chunk_frames = frames;
        self
    }
    /// Sets [`StreamOptions::decode`].
    pub fn decode(mut self, decode: DecodeOptions) -> Self {
        self.decode = decode;
        self
    }
}

/// Iterator over consecutive mono chunks of a long file at the target rate.
///
/// Memory is bounded by one decoded packet plus one chunk, whatever the file length.
/// The concatenated chunks equal [`load`]'s output with [`Normalize::None`]
/// (normalisation is per utterance and needs the whole signal). After an error the
/// iterator ends.
pub struct AudioStream {
    src: Source,
    resampler: Resampler,
    downmix: Downmix,
    chunk_frames: usize,
    packet: Vec<f32>,
    mono: Vec<f32>,
    ready: Vec<f32>,
    decoding_done: bool,
    finished: bool,
}

impl std::fmt::Debug for AudioStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioStream")
            .field("info", &self.src.info)
            .field("resampler", &self.resampler)
            .finish_non_exhaustive()
    }
}

impl AudioStream {
    /// Opens `path` and reads its header.
    pub fn open(path: impl AsRef<Path>, opts: &StreamOptions) -> Result<Self> {
        let src = Source::open_path(path.as_ref(), &opts.decode)?;
        Self::from_source(src, opts)
    }

    /// Streams an in-memory file; `name` labels errors.
    pub fn from_bytes(bytes: Vec<u8>, name: &str, opts: &StreamOptions) -> Result<Self> {
        let src = Source::open_bytes(bytes, name, &opts.decode)?;
        Self::from_source(src, opts)
    }

    fn from_source(src: Source, opts: &StreamOptions) -> Result<Self> {
        check_rate(opts.target_rate)?;
        if opts.chunk_frames == 0 {
            return Err(ParamError::ZeroChunk { size: 0 }.into());
        }
        check_channel(&src, opts.downmix)?;
        let resampler = Resampler::new(src.info.sample_rate, opts.target_rate, opts.quality)?;
        Ok(Self {
            src,
            resampler,
            downmix: opts.downmix,
            chunk_frames: opts.chunk_frames,
            packet: Vec::new(),
            mono: Vec::new(),
            ready: Vec::new(),
            decoding_done: false,
            finished: false,
        })
    }

    /// Source metadata; `frames` counts what has been decoded so far.
    pub fn info(&self) -> &AudioInfo {
        &self.src.info
    }

    /// Output rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.resampler.out_rate()
    }

    fn fill(&mut self) -> Result<()> {
        while self.ready.len() < self.chunk_frames && !self.decoding_done {
            self.packet.clear();
            if self.src.next_packet(&mut self.packet)? {
                self.mono.clear();
                downmix_into(
                    &self.packet,
                    self.src.info.channels,
                    self.downmix,
                    &mut self.mono,
                )?;
                self.resampler.process(&self.mono, &mut self.ready)?;
            } else {
                self.decoding_done = true;
                self.resampler.finish(&mut self.ready)?;
            }
        }
        Ok(())
    }
}

impl Iterator for AudioStream {
    type Item = Result<Vec<f32>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if let Err(e) = self.fill() {
            self.finished = true;
            return Some(Err(e));
        }
        if self.ready.is_empty() {
            self.finished = true;
            return None;
        }
        let n = self.chunk_frames.min(self.ready.len());
        Some(Ok(self.ready.drain(..n).collect()))
    }
}
