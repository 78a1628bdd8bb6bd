//! Decoding: symphonia for containers and codecs, a small reader for headerless PCM.
//!
//! Everything funnels through [`Source`], which yields one packet of interleaved f32 at a time,
//! so whole-file decoding, [`crate::load`] and [`crate::AudioStream`] share one code path and
//! one error policy.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek};
use std::path::{Path, PathBuf};

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::{Limit, MetadataOptions};
use symphonia::core::probe::Hint;
use tracing::{debug, warn};

use crate::error::{Error, Result};
use crate::raw::RawSpec;

/// What was learned about an input: its native rate, channels, length and codec.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AudioInfo {
    /// Native sample rate in Hz.
    pub sample_rate: u32,
    /// Native channel count.
    pub channels: usize,
    /// Decoded frames (samples per channel). For a stream that has not ended yet, the
    /// frames decoded so far.
    pub frames: u64,
    /// Frames the container header declares, when it does.
    pub declared_frames: Option<u64>,
    /// Codec short name: `pcm_s16le`, `flac`, `mp3`, `vorbis`, `aac`, `alac`, ...
    pub codec: String,
    /// Bits per sample of the source when the codec has such a notion (PCM, FLAC, ALAC).
    pub bits_per_sample: Option<u32>,
    /// Corrupt packets skipped (always 0 in strict mode, which fails instead).
    pub skipped_packets: u64,
}

impl AudioInfo {
    /// Duration in seconds: decoded frames, or the declared frames while none are decoded.
    pub fn duration_secs(&self) -> f64 {
        let frames = if self.frames == 0 {
            self.declared_frames.unwrap_or(0)
        } else {
            self.frames
        };
        // u64 -> f64 loses precision only past 2^53 frames (millennia of audio).
        #[allow(clippy::cast_precision_loss)]
        let d = frames as f64 / f64::from(self.sample_rate.max(1));
        d
    }
}

/// How to decode. Every field has a documented default.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Treat the input as headerless PCM with this layout instead of probing a container.
    /// Default: `None` (probe).
    pub raw: Option<RawSpec>,
    /// Fail on the first corrupt packet instead of skipping and counting it.
    /// Default: `false` (skip, count in [`AudioInfo::skipped_packets`], `warn!`).
    pub strict: bool,
    /// Refuse audio longer than this many frames (guards memory against hostile files).
    /// Default: `None` (no limit).
    pub max_frames: Option<u64>,
    /// File extension hint for the prober when decoding bytes or a reader (`"wav"`, `"mp3"`).
    /// Default: `None` (paths use their own extension).
    pub extension_hint: Option<String>,
}

impl DecodeOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets [`DecodeOptions::raw`].
    pub fn raw(mut self, spec: RawSpec) -> Self {
        self.raw = Some(spec);
        self
    }
    /// Sets [`DecodeOptions::strict`].
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
    /// Sets [`DecodeOptions::max_frames`].
    pub fn max_frames(mut self, frames: u64) -> Self {
        self.max_frames = Some(frames);
        self
    }
    /// Sets [`DecodeOptions::extension_hint`].
    pub fn extension_hint(mut self, ext: impl Into<String>) -> Self {
        self.extension_hint = Some(ext.into());
        self
    }
}

/// Decoded audio at its native rate: interleaved f32 samples in [-1, 1) plus metadata.
///
/// Integer PCM of up to 24 bits converts exactly (x / 2^(bits-1)); 32-bit integer PCM is
/// rounded once to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Interleaved samples: frame 0 channel 0, frame 0 channel 1, ...
    pub samples: Vec<f32>,
    /// What the input is.
    pub info: AudioInfo,
}

impl Audio {
    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / self.info.channels.max(1)
    }

    /// One channel as its own vector, or `ChannelOutOfRange`.
    pub fn channel(&self, index: usize) -> Result<Vec<f32>> {
        Ok(crate::mix::downmix(
            &self.samples,
            self.info.channels,
            crate::Downmix::Channel(index),
        )?)
    }
}

/// Decodes a whole file at its native rate and channel count.
pub fn decode_file(path: impl AsRef<Path>, opts: &DecodeOptions) -> Result<Audio> {
    let mut src = Source::open_path(path.as_ref(), opts)?;
    src.decode_all()
}

/// Decodes a whole in-memory file (any supported container, or raw PCM with
/// [`DecodeOptions::raw`]). `name` labels errors.
pub fn decode_bytes(bytes: &[u8], name: &str, opts: &DecodeOptions) -> Result<Audio> {
    let mut src = Source::open_bytes(bytes.to_vec(), name, opts)?;
    src.decode_all()
}

/// Decodes everything a reader yields. The bytes are read into memory first, so that
/// formats that seek (MP4) work and the same hostile-file checks apply as for
/// [`decode_bytes`]. `name` labels errors.
pub fn decode_reader<R: Read>(mut reader: R, name: &str, opts: &DecodeOptions) -> Result<Audio> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| Error::Io {
        file: PathBuf::from(name),
        source: e,
    })?;
    let mut src = Source::open_bytes(bytes, name, opts)?;
    src.decode_all()
}

/// Reads whole frames of raw PCM from a byte reader.
struct RawInner {
    reader: Box<dyn Read + Send + Sync>,
    spec: RawSpec,
    buf: Vec<u8>,
}

struct SymInner {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    sample_buf: Option<SampleBuffer<f32>>,
    /// Lossless codecs are checked against their declared length (truncation is an error).
    lossless: bool,
}

enum Inner {
    Sym(Box<SymInner>),
    Raw(RawInner),
}

/// A decoder positioned at the start of the audio, yielding interleaved f32 packets.
pub(crate) struct Source {
    inner: Inner,
    pub(crate) info: AudioInfo,
    pub(crate) file: PathBuf,
    strict: bool,
    max_frames: Option<u64>,
    check_finite: bool,
    /// A packet decoded during `open` to learn the rate/channels, not yet handed out.
    primed: Option<Vec<f32>>,
    ended: bool,
}

/// Frames read per raw-PCM packet.
const RAW_PACKET_FRAMES: usize = 4096;

impl Source {
    pub(crate) fn open_path(path: &Path, opts: &DecodeOptions) -> Result<Self> {
        let file = path.to_path_buf();
        let f = File::open(path).map_err(|e| io_error(&file, e))?;
        let len = f.metadata().map_err(|e| io_error(&file, e))?.len();
        if len == 0 {
            return Err(Error::EmptyFile { file });
        }
        if let Some(spec) = opts.raw {
            return Self::open_raw(Box::new(std::io::BufReader::new(f)), spec, file, opts);
        }
        let mut f = f;
        crate::guard::check(&mut f, len).map_err(|detail| Error::Corrupt {
            file: file.clone(),
            detail,
        })?;
        let mut prefix = Vec::new();
        (&mut f)
            .take(crate::guard::COMMENT_PREFIX as u64)
            .read_to_end(&mut prefix)
            .map_err(|e| io_error(&file, e))?;
        crate::guard::check_comments(&prefix, len).map_err(|detail| Error::Corrupt {
            file: file.clone(),
            detail,
        })?;
        check_header(&prefix, &file)?;
        f.seek(std::io::SeekFrom::Start(0))
            .map_err(|e| io_error(&file, e))?;
        let mut opts = opts.clone();
        if opts.extension_hint.is_none() {
            opts.extension_hint = path.extension().and_then(|e| e.to_str()).map(str::to_owned);
        }
        Self::open_reader(Box::new(f), file, &opts)
    }

    pub(crate) fn open_bytes(bytes: Vec<u8>, name: &str, opts: &DecodeOptions) -> Result<Self> {
        let file = PathBuf::from(name);
        if bytes.is_empty() {
            return Err(Error::EmptyFile { file });
        }
        if let Some(spec) = opts.raw {
            return Self::open_raw(Box::new(std::io::Cursor::new(bytes)), spec, file, opts);
        }
        let mut cursor = std::io::Cursor::new(bytes);
        let len = cursor.get_ref().len() as u64;
        crate::guard::check(&mut cursor, len).map_err(|detail| Error::Corrupt {
            file: file.clone(),
            detail,
        })?;
        let head = &cursor.get_ref()[..cursor.get_ref().len().min(crate::guard::COMMENT_PREFIX)];
        crate::guard::check_comments(head, len).map_err(|detail| Error::Corrupt {
            file: file.clone(),
            detail,
        })?;
        check_header(head, &file)?;
        Self::open_reader(Box::new(cursor), file, opts)
    }

    fn open_raw(
        reader: Box<dyn Read + Send + Sync>,
        spec: RawSpec,
        file: PathBuf,
        opts: &DecodeOptions,
    ) -> Result<Self> {
        spec.validate()?;
        Ok(Self {
            inner: Inner::Raw(RawInner {
                reader,
                spec,
                buf: vec![0; RAW_PACKET_FRAMES * spec.frame_bytes()],
            }),
            info: AudioInfo {
                sample_rate: spec.sample_rate,
                channels: spec.channels,
                frames: 0,
                declared_frames: None,
                codec: spec.format.codec_name(spec.endianness),
                bits_per_sample: u32::try_from(spec.format.bytes() * 8).ok(),
                skipped_packets: 0,
            },
            file,
            strict: opts.strict,
            max_frames: opts.max_frames,
            check_finite: spec.format.is_float(),
            primed: None,
            ended: false,
        })
    }

    pub(crate) fn open_reader(
        source: Box<dyn MediaSource>,
        file: PathBuf,
        opts: &DecodeOptions,
    ) -> Result<Self> {
        if let Some(spec) = opts.raw {
            // A raw spec with a MediaSource: read it as a plain reader.
            return Self::open_raw(Box::new(source), spec, file, opts);
        }
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = &opts.extension_hint {
            hint.with_extension(ext);
        }
        // Bound metadata so a hostile tag cannot allocate without limit.
        let meta_opts = MetadataOptions {
            limit_metadata_bytes: Limit::Maximum(1 << 20),
            limit_visual_bytes: Limit::Maximum(1 << 20),
        };
        let probed = no_panic(&file, "probing the container", || {
            symphonia::default::get_probe().format(
                &hint,
                mss,
                &FormatOptions::default(),
                &meta_opts,
            )
        })?
        .map_err(|e| map_open_error(&file, e))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| Error::Unsupported {
                file: file.clone(),
                detail: "no audio track with a known codec".into(),
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let codec = symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string())
            .unwrap_or_else(|| format!("{:?}", params.codec));
        if params.channels.map(|c| c.count()) == Some(0) {
            return Err(Error::ZeroChannels { file });
        }
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| map_open_error(&file, e))?;
        let lossless = codec == "flac" || codec == "alac" || codec.starts_with("pcm");
        let mut declared_frames = params.n_frames;
        if codec.starts_with("pcm") && codec.ends_with("be") {
            // symphonia 0.5's AIFF reader counts the SSND chunk's 8-byte offset/block-size
            // prefix as audio, declaring 8 / block_align frames too many; correct for it so
            // the truncation check does not fire on intact AIFF files.
            let block_align = params
                .bits_per_sample
                .map(|b| (b as usize).div_ceil(8))
                .unwrap_or(0)
                * params.channels.map(|c| c.count()).unwrap_or(0);
            if block_align > 0 {
                declared_frames =
                    declared_frames.map(|n| n.saturating_sub((8 / block_align) as u64));
            }
        }
        debug!(file = %file.display(), %codec, "opened audio stream");
        let mut src = Self {
            inner: Inner::Sym(Box::new(SymInner {
                format,
                decoder,
                track_id,
                sample_buf: None,
                lossless,
            })),
            info: AudioInfo {
                sample_rate: params.sample_rate.unwrap_or(0),
                channels: params.channels.map(|c| c.count()).unwrap_or(0),
                frames: 0,
                declared_frames,
                codec: codec.clone(),
                bits_per_sample: params.bits_per_sample,
                skipped_packets: 0,
            },
            file,
            strict: opts.strict,
            max_frames: opts.max_frames,
            // Lossy decoders cannot emit NaN from valid bitstreams, but a corrupt one might:
            // checking every codec keeps the promise "never NaN out" uniform.
            check_finite: true,
            primed: None,
            ended: false,
        };
        if src.info.sample_rate == 0 || src.info.channels == 0 {
            // Some codecs only know the layout after the first packet: decode it now.
            let mut first = Vec::new();
            if src.next_packet(&mut first)? {
                src.primed = Some(first);
            }
        }
        if src.info.channels == 0 {
            return Err(Error::ZeroChannels { file: src.file });
        }
        if src.info.sample_rate == 0 {
            return Err(Error::Corrupt {
                file: src.file,
                detail: "stream declares no sample rate".into(),
            });
        }
        Ok(src)
    }

    /// Appends the next packet's interleaved samples to `out`. `Ok(false)` at the end.
    pub(crate) fn next_packet(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        if let Some(p) = self.primed.take() {
            out.extend_from_slice(&p);
            return Ok(true);
        }
        if self.ended {
            return Ok(false);
        }
        let start = out.len();
        let got = match &mut self.inner {
            Inner::Raw(raw) => read_raw(raw, out, &self.file)?,
            Inner::Sym(sym) => {
                let r = next_sym(sym, out, &self.file, self.strict, &mut self.info)?;
                if !r && sym.lossless {
                    if let Some(expected) = self.info.declared_frames {
                        if self.info.frames < expected {
                            return Err(Error::Truncated {
                                file: self.file.clone(),
                                expected_frames: expected,
                                decoded_frames: self.info.frames,
                            });
                        }
                    }
                }
                r
            }
        };
        if !got {
            self.ended = true;
            if self.info.frames == 0 {
                return Err(Error::NoAudio {
                    file: self.file.clone(),
                });
            }
            return Ok(false);
        }
        let channels = self.info.channels.max(1);
        let new = &out[start..];
        if self.check_finite {
            if let Some(i) = new.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite {
                    file: self.file.clone(),
                    frame: self.info.frames + (i / channels) as u64,
                    channel: i % channels,
                    value: format!("{}", new[i]),
                });
            }
        }
        self.info.frames += (new.len() / channels) as u64;
        if let Some(limit) = self.max_frames {
            if self.info.frames > limit {
                return Err(Error::TooLong {
                    file: self.file.clone(),
                    limit,
                });
            }
        }
        Ok(true)
    }

    /// Decodes everything that is left.
    pub(crate) fn decode_all(&mut self) -> Result<Audio> {
        let mut samples = Vec::new();
        if let Some(n) = self.info.declared_frames {
            // Reserve from the header, capped so a lying header cannot force a huge allocation.
            let cap = n.min(self.max_frames.unwrap_or(u64::MAX)).min(1 << 24);
            samples.reserve(usize::try_from(cap).unwrap_or(0) * self.info.channels);
        }
        while self.next_packet(&mut samples)? {}
        Ok(Audio {
            samples,
            info: self.info.clone(),
        })
    }
}

fn read_raw(raw: &mut RawInner, out: &mut Vec<f32>, file: &Path) -> Result<bool> {
    let mut filled = 0;
    while filled < raw.buf.len() {
        match raw.reader.read(&mut raw.buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(file, e)),
        }
    }
    if filled == 0 {
        return Ok(false);
    }
    let fb = raw.spec.frame_bytes();
    let whole = filled - filled % fb;
    if whole != filled {
        return Err(Error::Corrupt {
            file: file.to_path_buf(),
            detail: format!(
                "raw pcm ends with {} byte(s) that do not form a whole {fb}-byte frame",
                filled - whole
            ),
        });
    }
    raw.spec.convert(&raw.buf[..whole], out);
    Ok(true)
}

fn next_sym(
    sym: &mut SymInner,
    out: &mut Vec<f32>,
    file: &Path,
    strict: bool,
    info: &mut AudioInfo,
) -> Result<bool> {
    loop {
        let packet = match no_panic(file, "reading a packet", || sym.format.next_packet())? {
            Ok(p) => p,
            // End of stream is signalled as an unexpected EOF in symphonia 0.5.
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => return Ok(false),
            Err(SymError::ResetRequired) => {
                // A chained stream with new parameters: we decode the first one only.
                warn!(file = %file.display(), "stream parameters change mid-file; stopping at the change");
                return Ok(false);
            }
            Err(e) => return Err(map_stream_error(file, e)),
        };
        if packet.track_id() != sym.track_id {
            continue;
        }
        let decoded = match no_panic(file, "decoding a packet", || sym.decoder.decode(&packet))? {
            Ok(d) => d,
            Err(e @ (SymError::DecodeError(_) | SymError::IoError(_))) => {
                if strict {
                    return Err(Error::Corrupt {
                        file: file.to_path_buf(),
                        detail: format!("bad packet at timestamp {}: {e}", packet.ts()),
                    });
                }
                info.skipped_packets += 1;
                warn!(file = %file.display(), ts = packet.ts(), error = %e, "skipping corrupt packet");
                continue;
            }
            Err(e) => return Err(map_stream_error(file, e)),
        };
        let spec = *decoded.spec();
        let ch = spec.channels.count();
        if ch == 0 {
            return Err(Error::ZeroChannels {
                file: file.to_path_buf(),
            });
        }
        if info.channels == 0 {
            info.channels = ch;
        }
        if info.sample_rate == 0 {
            info.sample_rate = spec.rate;
        }
        if ch != info.channels || spec.rate != info.sample_rate {
            return Err(Error::Corrupt {
                file: file.to_path_buf(),
                detail: format!(
                    "layout changes mid-stream: {} ch at {} Hz became {ch} ch at {} Hz",
                    info.channels, info.sample_rate, spec.rate
                ),
            });
        }
        if decoded.frames() == 0 {
            continue;
        }
        let cap = decoded.capacity() as u64;
        let buf = match &mut sym.sample_buf {
            Some(b) if b.capacity() >= decoded.capacity() * ch => b,
            slot => slot.insert(SampleBuffer::<f32>::new(cap, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        out.extend_from_slice(buf.samples());
        return Ok(true);
    }
}

/// WAV/AIFF rate and channel checks (see `guard::check_pcm_header`).
/// Runs a symphonia call, turning a panic inside it into [`Error::Corrupt`].
///
/// Why: symphonia 0.5 still has assertions that hostile input can reach (the fuzzer found
/// them in its ADTS, AIFF and MKV readers). Pre-checks catch the known ones early with a
/// precise message; this backstop keeps the "typed error, never a panic" promise for the rest.
/// The decoder is not used again after a panic: the error ends decoding. Does not help in
/// builds with `panic = "abort"`, and the panic message still reaches the panic hook (stderr).
fn no_panic<T>(file: &Path, stage: &str, f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Error::Corrupt {
            file: file.to_path_buf(),
            detail: format!("the decoder panicked while {stage}: {msg}"),
        }
    })
}

fn check_header(prefix: &[u8], file: &Path) -> Result<()> {
    match crate::guard::check_pcm_header(prefix) {
        Err(detail) => Err(Error::Corrupt {
            file: file.to_path_buf(),
            detail,
        }),
        Ok(Some(0)) => Err(Error::ZeroChannels {
            file: file.to_path_buf(),
        }),
        Ok(_) => Ok(()),
    }
}

fn io_error(file: &Path, e: std::io::Error) -> Error {
    if e.kind() == ErrorKind::NotFound {
        Error::NotFound {
            file: file.to_path_buf(),
        }
    } else {
        Error::Io {
            file: file.to_path_buf(),
            source: e,
        }
    }
}

/// Errors while probing/creating the decoder: the header is what is wrong.
fn map_open_error(file: &Path, e: SymError) -> Error {
    let file = file.to_path_buf();
    match e {
        SymError::Unsupported(what) => Error::Unsupported {
            file,
            detail: what.to_string(),
        },
        SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => Error::Corrupt {
            file,
            detail: "file ends inside its header (truncated)".into(),
        },
        SymError::IoError(io) => Error::Io { file, source: io },
        other => Error::Corrupt {
            file,
            detail: other.to_string(),
        },
    }
}

/// Errors while demuxing: the stream is damaged.
fn map_stream_error(file: &Path, e: SymError) -> Error {
    let file = file.to_path_buf();
    match e {
        SymError::Unsupported(what) => Error::Unsupported {
            file,
            detail: what.to_string(),
        },
        other => Error::Corrupt {
            file,
            detail: other.to_string(),
        },
    }
}
