//! Decoding: symphonia for containers and codecs, a small reader for headerless PCM.
//!
//! Everything funnels through [`Source`], which yields one packet of interleaved f32 at a time,
//! so whole-file decoding, [`crate::load`] and [`crate::AudioStream`] share one code path and
//! one error policy.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek};
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::common::Limit;
use symphonia::core::errors::{Error as SymError, SeekErrorKind};
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{TimeBase, Timestamp};
use tracing::{debug, warn};

use crate::error::{Error, ParamError, Result};
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
    /// Position in the file, in frames at the native rate, of the first decoded frame:
    /// `round(start_secs * sample_rate)` for a [`DecodeOptions::segment`], else 0.
    pub start_frame: u64,
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
    /// Decode only this part of the file (Kaldi `segments`, Lhotse cuts); see [`Segment`].
    /// Default: `None` (the whole file).
    pub segment: Option<Segment>,
    /// When a segment's end lies past the end of the file, return what there is instead of
    /// [`Error::SegmentPastEnd`]. A start past the end is an error either way.
    /// Default: `false` (the end must lie inside the file).
    pub lenient_segment_end: bool,
}

/// A time range of a file: frames `[round(start_secs * rate), round(end_secs * rate))` at the
/// file's native rate, before any downmix or resampling. Exactly those frames of the
/// whole-file decode are returned.
///
/// Where the container can seek (WAV, AIFF, FLAC, MP4/M4A, Ogg, MP3), decoding starts near
/// the segment instead of at the top of the file: lossless codecs from the frame the demuxer
/// lands on, lossy ones [`LOSSY_PREROLL_FRAMES`] earlier, so that decoder state (overlap,
/// bit reservoir) has settled by the first frame returned. Headerless PCM is skipped by
/// reading. Checked before any work: start and end finite, start ≥ 0, end > start
/// ([`ParamError::InvalidSegment`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Segment {
    /// Start in seconds from the beginning of the file.
    pub start_secs: f64,
    /// End in seconds, exclusive; `None` decodes to the end of the file.
    pub end_secs: Option<f64>,
}

impl Segment {
    /// The segment `[start_secs, end_secs)`; `end_secs: None` means to the end of the file.
    pub fn new(start_secs: f64, end_secs: Option<f64>) -> Self {
        Self {
            start_secs,
            end_secs,
        }
    }

    /// Checks the segment before any work: finite, start ≥ 0, end > start.
    pub fn validate(&self) -> std::result::Result<(), ParamError> {
        let bad = |reason| ParamError::InvalidSegment {
            start_secs: self.start_secs,
            end_secs: self.end_secs,
            reason,
        };
        if !self.start_secs.is_finite() || self.end_secs.is_some_and(|e| !e.is_finite()) {
            return Err(bad("start and end must be finite numbers of seconds"));
        }
        if self.start_secs < 0.0 {
            return Err(bad("start must be >= 0"));
        }
        if self.end_secs.is_some_and(|e| e <= self.start_secs) {
            return Err(bad("end must be greater than start"));
        }
        Ok(())
    }

    /// The frame range at `rate` Hz: `(round(start * rate), round(end * rate))`.
    fn frames(&self, rate: u32) -> (u64, Option<u64>) {
        let to_frames = |secs: f64| {
            // Validated finite and >= 0; `as` saturates at u64::MAX for absurd values.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let f = (secs * f64::from(rate)).round() as u64;
            f
        };
        (to_frames(self.start_secs), self.end_secs.map(to_frames))
    }
}

/// Frames decoded and thrown away before a segment's start when the codec is lossy (MP3,
/// Vorbis, AAC), so that its state matches a decode from the top of the file: 8192 frames
/// cover MP3's 511-byte bit reservoir and its filterbank/overlap memory (about four
/// 1152-frame packets), and Vorbis' and AAC's one-block overlap, with margin.
pub const LOSSY_PREROLL_FRAMES: u64 = 8192;

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
    /// Sets [`DecodeOptions::segment`]: decode frames `[round(start_secs * rate),
    /// round(end_secs * rate))` only (`end_secs: None`: to the end of the file).
    pub fn segment(mut self, start_secs: f64, end_secs: Option<f64>) -> Self {
        self.segment = Some(Segment::new(start_secs, end_secs));
        self
    }
    /// Sets [`DecodeOptions::lenient_segment_end`].
    pub fn lenient_segment_end(mut self, lenient: bool) -> Self {
        self.lenient_segment_end = lenient;
        self
    }
}

/// Decoded audio at its native rate: interleaved f32 samples plus metadata.
///
/// Integer PCM lies in [-1, 1): up to 24 bits converts exactly (x / 2^(bits-1)); 32-bit
/// integer PCM is rounded once to f32. Float PCM is passed through as stored (it may exceed
/// ±1, never NaN or infinity), and lossy decoders may overshoot ±1 slightly.
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
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    /// Lossless codecs are checked against their declared length (truncation is an error).
    lossless: bool,
    /// The track's time base (`None`: one tick per frame).
    time_base: Option<TimeBase>,
    /// The track's first timestamp: frame 0 of the whole-file decode.
    start_ts: Timestamp,
    /// After a seek, positions come from packet timestamps instead of counting frames.
    seeked: bool,
    /// Timestamp (relative to `start_ts`) of the first frame the whole-file decode outputs,
    /// learned by decoding the first packet before a seek. Demuxers disagree on where the
    /// first output lies (Ogg Vorbis' first packet decodes to nothing, MP3 trims encoder
    /// delay), so positions after a seek are measured from this, not from 0.
    origin_ts: i64,
    /// After a seek with preroll: undecodable packets before this timestamp (the segment's
    /// start) are not corruption.
    quiet_until: Option<i64>,
}

/// A segment being cut out of the decoded stream (file-timeline frames).
#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    end: Option<u64>,
    lenient: bool,
    /// The segment's end has been reached: nothing more to decode.
    done: bool,
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
    /// File-timeline frame of the next frame the decoder yields (counted, or from timestamps
    /// after a seek).
    pos: u64,
    window: Option<Window>,
    /// Packet scratch for segment decoding.
    scratch: Vec<f32>,
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
        if let Some(seg) = &opts.segment {
            seg.validate()?;
        }
        let mut src = Self {
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
                start_frame: 0,
            },
            file,
            strict: opts.strict,
            max_frames: opts.max_frames,
            check_finite: spec.format.is_float(),
            primed: None,
            ended: false,
            pos: 0,
            window: None,
            scratch: Vec::new(),
        };
        src.set_segment(opts)?;
        Ok(src)
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
        if let Some(seg) = &opts.segment {
            seg.validate()?;
        }
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = &opts.extension_hint {
            hint.with_extension(ext);
        }
        // Bound metadata so a hostile tag cannot allocate without limit.
        let meta_opts = MetadataOptions::default()
            .limit_tag_bytes(Limit::Maximum(1 << 20))
            .limit_visual_bytes(Limit::Maximum(1 << 20));
        let format = no_panic(&file, "probing the container", || {
            symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), meta_opts)
        })?
        .map_err(|e| map_open_error(&file, e))?;
        let (track, params) = format
            .tracks()
            .iter()
            .find_map(|t| match &t.codec_params {
                Some(CodecParameters::Audio(p)) if p.codec != CODEC_ID_NULL_AUDIO => Some((t, p)),
                _ => None,
            })
            .ok_or_else(|| Error::Unsupported {
                file: file.clone(),
                detail: "no audio track with a known codec".into(),
            })?;
        let params = params.clone();
        let track_id = track.id;
        let declared_frames = track.num_frames;
        let time_base = track.time_base;
        let start_ts = track.start_ts;
        let codec = symphonia::default::get_codecs()
            .get_audio_decoder(params.codec)
            .map(|d| d.codec.info.short_name.to_string())
            .unwrap_or_else(|| format!("{:?}", params.codec));
        if params.channels.as_ref().map(|c| c.count()) == Some(0) {
            return Err(Error::ZeroChannels { file });
        }
        // Gapless (the default): encoder delay and padding are trimmed, as ffmpeg does.
        let decoder = no_panic(&file, "creating the decoder", || {
            symphonia::default::get_codecs()
                .make_audio_decoder(&params, &AudioDecoderOptions::default())
        })?
        .map_err(|e| map_open_error(&file, e))?;
        let lossless = codec == "flac" || codec == "alac" || codec.starts_with("pcm");
        debug!(file = %file.display(), %codec, "opened audio stream");
        let mut src = Self {
            inner: Inner::Sym(Box::new(SymInner {
                format,
                decoder,
                track_id,
                lossless,
                time_base,
                start_ts,
                seeked: false,
                origin_ts: 0,
                quiet_until: None,
            })),
            info: AudioInfo {
                sample_rate: params.sample_rate.unwrap_or(0),
                channels: params.channels.as_ref().map(|c| c.count()).unwrap_or(0),
                frames: 0,
                declared_frames,
                codec: codec.clone(),
                bits_per_sample: params.bits_per_sample,
                skipped_packets: 0,
                start_frame: 0,
            },
            file,
            strict: opts.strict,
            max_frames: opts.max_frames,
            // Lossy decoders cannot emit NaN from valid bitstreams, but a corrupt one might:
            // checking every codec keeps the promise "never NaN out" uniform.
            check_finite: true,
            primed: None,
            ended: false,
            pos: 0,
            window: None,
            scratch: Vec::new(),
        };
        if src.info.sample_rate == 0 || src.info.channels == 0 {
            // Some codecs only know the layout after the first packet: decode it now.
            let mut first = Vec::new();
            if src.next_decoded(&mut first)?.is_some() {
                src.primed = Some(first);
                src.pos = 0;
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
        src.set_segment(opts)?;
        Ok(src)
    }

    /// Positions the decoder for [`DecodeOptions::segment`]: seeks where the container can
    /// (lossy codecs [`LOSSY_PREROLL_FRAMES`] early), skips raw PCM by reading.
    fn set_segment(&mut self, opts: &DecodeOptions) -> Result<()> {
        let Some(seg) = &opts.segment else {
            return Ok(());
        };
        seg.validate()?;
        let rate = self.info.sample_rate;
        let (start, end) = seg.frames(rate);
        if let Some(end) = end.filter(|&e| e <= start) {
            return Err(Error::EmptySegment {
                file: self.file.clone(),
                start_frame: start,
                end_frame: end,
            });
        }
        self.window = Some(Window {
            start,
            end,
            lenient: opts.lenient_segment_end,
            done: false,
        });
        self.info.start_frame = start;
        if start == 0 || self.primed.is_some() {
            // Nothing to skip, or the layout was only learned by decoding the first packet:
            // decode from the top and drop what lies before the start.
            return Ok(());
        }
        let file = self.file.clone();
        match &mut self.inner {
            Inner::Raw(raw) => {
                let fb = raw.spec.frame_bytes() as u64;
                let want = start.saturating_mul(fb);
                let skipped =
                    std::io::copy(&mut (&mut raw.reader).take(want), &mut std::io::sink())
                        .map_err(|e| io_error(&file, e))?;
                self.pos = skipped / fb;
                if skipped < want {
                    return Err(Error::SegmentPastEnd {
                        file,
                        start_frame: start,
                        end_frame: end,
                        frames: self.pos,
                    });
                }
            }
            Inner::Sym(sym) => {
                let preroll = if sym.lossless {
                    0
                } else {
                    LOSSY_PREROLL_FRAMES
                };
                let target = start.saturating_sub(preroll);
                if target == 0 {
                    return Ok(());
                }
                // Where does the whole-file decode's frame 0 lie? Decode the first packet.
                self.scratch.clear();
                let Some(origin) =
                    next_sym(sym, &mut self.scratch, &file, self.strict, &mut self.info)?
                else {
                    return Err(Error::NoAudio { file });
                };
                sym.origin_ts = origin;
                let ts = frames_to_ts(target, rate, sym.time_base)
                    .and_then(|t| t.checked_add(origin))
                    .and_then(|t| t.checked_add(sym.start_ts.get()));
                let Some(ts) = ts else {
                    return Err(Error::SegmentPastEnd {
                        file,
                        start_frame: start,
                        end_frame: end,
                        frames: self.info.declared_frames.unwrap_or(0),
                    });
                };
                let track_id = sym.track_id;
                let seek = no_panic(&file, "seeking", || {
                    sym.format.seek(
                        SeekMode::Accurate,
                        SeekTo::Timestamp {
                            ts: Timestamp::new(ts),
                            track_id,
                        },
                    )
                })?;
                match seek {
                    Ok(to) => {
                        debug!(file = %file.display(), target, actual_ts = to.actual_ts.get(), "seeked for segment");
                        sym.decoder.reset();
                        sym.seeked = true;
                        sym.quiet_until = frames_to_ts(start, rate, sym.time_base)
                            .and_then(|t| t.checked_add(origin));
                    }
                    Err(SymError::SeekError(SeekErrorKind::OutOfRange)) => {
                        return Err(Error::SegmentPastEnd {
                            file,
                            start_frame: start,
                            end_frame: end,
                            frames: self.info.declared_frames.unwrap_or(0),
                        });
                    }
                    Err(e) => {
                        // Unseekable container (e.g. ADTS): decode from the top instead.
                        debug!(file = %file.display(), error = %e, "cannot seek; decoding the segment from the start");
                    }
                }
            }
        }
        Ok(())
    }

    /// Appends the next decoded packet to `out` and returns the file-timeline frame of its
    /// first frame; `None` at the end of the stream. No finiteness or length checks.
    fn next_decoded(&mut self, out: &mut Vec<f32>) -> Result<Option<u64>> {
        let start = out.len();
        if let Some(p) = self.primed.take() {
            out.extend_from_slice(&p);
            self.pos = (p.len() / self.info.channels.max(1)) as u64;
            return Ok(Some(0));
        }
        let rate = self.info.sample_rate;
        let pos = match &mut self.inner {
            Inner::Raw(raw) => read_raw(raw, out, &self.file)?.then_some(self.pos),
            Inner::Sym(sym) => {
                let r = next_sym(sym, out, &self.file, self.strict, &mut self.info)?;
                match r {
                    None => {
                        if sym.lossless {
                            if let Some(expected) = self.info.declared_frames {
                                if self.pos < expected {
                                    return Err(Error::Truncated {
                                        file: self.file.clone(),
                                        expected_frames: expected,
                                        decoded_frames: self.pos,
                                    });
                                }
                            }
                        }
                        None
                    }
                    Some(_) if !sym.seeked => Some(self.pos),
                    Some(ts) => Some(ts_to_frames(
                        ts.saturating_sub(sym.origin_ts),
                        rate,
                        sym.time_base,
                    )),
                }
            }
        };
        if let Some(p) = pos {
            self.pos = p + ((out.len() - start) / self.info.channels.max(1)) as u64;
        }
        Ok(pos)
    }

    /// Like [`Source::next_decoded`] but keeps only the segment's frames.
    fn next_windowed(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        let ch = self.info.channels.max(1);
        let mut tmp = std::mem::take(&mut self.scratch);
        let r = loop {
            let Some(w) = self.window else {
                break Ok(false);
            };
            if w.done {
                break Ok(false);
            }
            tmp.clear();
            let p = match self.next_decoded(&mut tmp) {
                Err(e) => break Err(e),
                Ok(p) => p,
            };
            let Some(p) = p else {
                // End of stream: did it cover the segment?
                let frames = self.pos;
                let short = frames <= w.start || w.end.is_some_and(|e| frames < e && !w.lenient);
                if short {
                    break Err(Error::SegmentPastEnd {
                        file: self.file.clone(),
                        start_frame: w.start,
                        end_frame: w.end,
                        frames,
                    });
                }
                break Ok(false);
            };
            let n = (tmp.len() / ch) as u64;
            let lo = w.start.max(p);
            let hi = w.end.map_or(p + n, |e| e.min(p + n));
            if w.end.is_some_and(|e| p + n >= e) {
                if let Some(w) = &mut self.window {
                    w.done = true;
                }
            }
            if hi <= lo {
                continue;
            }
            if p > w.start && self.info.frames == 0 {
                break Err(Error::Corrupt {
                    file: self.file.clone(),
                    detail: format!(
                        "seeking for a segment at frame {} landed after it, at frame {p}",
                        w.start
                    ),
                });
            }
            let (a, b) = ((lo - p) as usize * ch, (hi - p) as usize * ch);
            out.extend_from_slice(&tmp[a..b]);
            break Ok(true);
        };
        self.scratch = tmp;
        r
    }

    /// Appends the next packet's interleaved samples to `out`. `Ok(false)` at the end.
    pub(crate) fn next_packet(&mut self, out: &mut Vec<f32>) -> Result<bool> {
        if self.ended {
            return Ok(false);
        }
        let start = out.len();
        let got = if self.window.is_some() {
            self.next_windowed(out)?
        } else {
            self.next_decoded(out)?.is_some()
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

/// Decodes the next packet of the track into `out`. Returns the timestamp (track time base,
/// relative to the track start) of its first output frame, or `None` at the end.
fn next_sym(
    sym: &mut SymInner,
    out: &mut Vec<f32>,
    file: &Path,
    strict: bool,
    info: &mut AudioInfo,
) -> Result<Option<i64>> {
    loop {
        let packet = match no_panic(file, "reading a packet", || sym.format.next_packet())? {
            Ok(Some(p)) => p,
            Ok(None) => return Ok(None),
            // Some demuxers still end a stream that stops mid-packet with an unexpected EOF.
            Err(SymError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(SymError::ResetRequired) => {
                // A chained stream with new parameters: we decode the first one only.
                warn!(file = %file.display(), "stream parameters change mid-file; stopping at the change");
                return Ok(None);
            }
            Err(e) => return Err(map_stream_error(file, e)),
        };
        if packet.track_id != sym.track_id {
            continue;
        }
        // Output starts after the frames the decoder trims (encoder delay), in time-base ticks.
        let ts = packet
            .pts
            .get()
            .saturating_add(i64::try_from(packet.trim_start.get()).unwrap_or(i64::MAX))
            .saturating_sub(sym.start_ts.get());
        let decoded = match no_panic(file, "decoding a packet", || sym.decoder.decode(&packet))? {
            Ok(d) => d,
            Err(e @ (SymError::DecodeError(_) | SymError::IoError(_))) => {
                let pts = packet.pts.get();
                if sym.quiet_until.is_some_and(|q| ts < q) {
                    // Preroll after a seek: a decoder may lack state (MP3's bit reservoir)
                    // for the first packets. Not corruption; the frames are discarded anyway.
                    debug!(file = %file.display(), pts, error = %e, "preroll packet not decodable");
                    continue;
                }
                if strict {
                    return Err(Error::Corrupt {
                        file: file.to_path_buf(),
                        detail: format!("bad packet at timestamp {pts}: {e}"),
                    });
                }
                info.skipped_packets += 1;
                warn!(file = %file.display(), pts, error = %e, "skipping corrupt packet");
                continue;
            }
            Err(e) => return Err(map_stream_error(file, e)),
        };
        let spec = decoded.spec();
        let ch = spec.channels().count();
        let rate = spec.rate();
        if ch == 0 {
            return Err(Error::ZeroChannels {
                file: file.to_path_buf(),
            });
        }
        if info.channels == 0 {
            info.channels = ch;
        }
        if info.sample_rate == 0 {
            info.sample_rate = rate;
        }
        if ch != info.channels || rate != info.sample_rate {
            return Err(Error::Corrupt {
                file: file.to_path_buf(),
                detail: format!(
                    "layout changes mid-stream: {} ch at {} Hz became {ch} ch at {rate} Hz",
                    info.channels, info.sample_rate
                ),
            });
        }
        if decoded.frames() == 0 {
            continue;
        }
        let start = out.len();
        out.resize(start + decoded.samples_interleaved(), 0.0);
        decoded.copy_to_slice_interleaved::<f32, _>(&mut out[start..]);
        return Ok(Some(ts));
    }
}

/// Frames at `rate` -> timestamp ticks (rounded down, so a seek lands at or before).
fn frames_to_ts(frames: u64, rate: u32, tb: Option<TimeBase>) -> Option<i64> {
    let ticks = match tb {
        None => u128::from(frames),
        Some(tb) => {
            u128::from(frames) * u128::from(tb.denom.get())
                / (u128::from(tb.numer.get()) * u128::from(rate.max(1)))
        }
    };
    i64::try_from(ticks).ok()
}

/// Timestamp ticks -> frames at `rate` (nearest; negative clamps to 0).
fn ts_to_frames(ts: i64, rate: u32, tb: Option<TimeBase>) -> u64 {
    let ts = u128::try_from(ts).unwrap_or(0);
    let frames = match tb {
        None => ts,
        Some(tb) => {
            let num = ts * u128::from(tb.numer.get()) * u128::from(rate);
            let den = u128::from(tb.denom.get());
            (num + den / 2) / den
        }
    };
    u64::try_from(frames).unwrap_or(u64::MAX)
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
