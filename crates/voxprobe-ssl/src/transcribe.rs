//! Batched greedy CTC transcription with character and word offsets.
//!
//! [`Pretrained::transcribe_batch`] takes many waveforms and their sampling rate, checks the
//! rate against `preprocessor_config.json` ([`Error::SamplingRate`] names both rates; resample
//! first, e.g. with voxprobe-audio), sorts the utterances by length into padded, masked
//! batches ([`crate::length_buckets`]), and returns one [`Transcript`] per input, in input
//! order.
//!
//! Batched results equal one-by-one results ([`Pretrained::transcribe`]) wherever padding
//! cannot leak into valid frames, i.e. where [`crate::SslModel::batching_is_exact`] holds
//! (LayerNorm front end, one positional conv: wav2vec2-large-lv60, XLS-R, MMS, HuBERT-large,
//! WavLM-large): padded frames are masked whatever `return_attention_mask` says. Models with a
//! GroupNorm front end (wav2vec2-base-960h) or data2vec-audio's stacked positional convs see
//! the padding, as in transformers, so by default they run one utterance at a time; set
//! [`TranscribeOptions::batch_inexact`] to batch them anyway (transformers' batched output).
//! Utterances longer than one window of [`TranscribeOptions::chunk`] run alone through
//! [`Pretrained::embed_long`], as [`Pretrained::transcribe`] does.
//!
//! Each [`Transcript`] carries transformers' character and word offsets in frames and, through
//! [`Transcript::words`] / [`Transcript::chars`], in seconds
//! (`offset × inputs_to_logits_ratio / sampling_rate`); [`Transcript::words_json_line`] is one
//! `words.jsonl` line.
//!
//! ```
//! use voxprobe_ssl::{Error, LoadOptions, Pretrained, TranscribeOptions};
//! # let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
//! // a tiny random checkpoint of the repository: the words are meaningless
//! let p = Pretrained::from_dir(root.join("models/tiny-wav2vec2-ctc-lv60"), &LoadOptions::default())?;
//! let a: Vec<f32> = (0..24_000).map(|i| (i as f32 * 0.05).sin() * 0.3).collect();
//! let b: Vec<f32> = (0..9_000).map(|i| (i as f32 * 0.011).sin() * 0.2).collect();
//! let out = p.transcribe_batch(&[&a, &b], 16_000, &TranscribeOptions::default())?;
//! assert_eq!(out[1].frames, 27); // (9 000 − 400) / 320 + 1
//! for w in out[0].words() {
//!     assert!(w.start < w.end && w.end <= 1.5);
//! }
//! let line = out[0].words_json_line("utt-a")?;
//! assert!(line.starts_with(r#"{"id":"utt-a","words":["#));
//! // audio at another rate is refused, not silently misread
//! let e = p.transcribe_batch(&[&a], 8_000, &TranscribeOptions::default()).unwrap_err();
//! assert!(matches!(e, Error::SamplingRate { expected: 16_000, actual: 8_000 }));
//! # Ok::<(), voxprobe_ssl::Error>(())
//! ```

use crate::chunk::ChunkOptions;
use crate::ctc::{CtcDecoding, CtcVocab, DecodeOptions, TimedChar, TimedWord};
use crate::error::{Error, Result};
use crate::model::ForwardOptions;
use crate::preprocess::{Batch, BatchOptions};
use crate::pretrained::Pretrained;
use crate::throughput::length_buckets;
use candle_core::{Tensor, D};

/// Options of [`Pretrained::transcribe_batch`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TranscribeOptions {
    /// Most utterances in one batch. Default: 8.
    pub max_batch: usize,
    /// Most padded samples in one batch (`items × longest`), bounding memory. Default:
    /// 16 000 × 160 (160 s of 16 kHz audio).
    pub max_batch_samples: usize,
    /// Batch models whose padded batches differ from one-by-one results (see the module
    /// docs). Default: false (such models run one utterance at a time).
    pub batch_inexact: bool,
    /// Greedy decoding options. Default: [`DecodeOptions::default`].
    pub decode: DecodeOptions,
    /// Windows for long utterances. Default: [`ChunkOptions::default`] (20 s kept, 2 s
    /// context per side); shorter utterances are batched.
    pub chunk: ChunkOptions,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_batch_samples: 16_000 * 160,
            batch_inexact: false,
            decode: DecodeOptions::default(),
            chunk: ChunkOptions::default(),
        }
    }
}

impl TranscribeOptions {
    /// Sets [`TranscribeOptions::max_batch`].
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = n;
        self
    }
    /// Sets [`TranscribeOptions::max_batch_samples`].
    pub fn max_batch_samples(mut self, n: usize) -> Self {
        self.max_batch_samples = n;
        self
    }
    /// Sets [`TranscribeOptions::batch_inexact`].
    pub fn batch_inexact(mut self, on: bool) -> Self {
        self.batch_inexact = on;
        self
    }
    /// Sets [`TranscribeOptions::decode`].
    pub fn decode(mut self, d: DecodeOptions) -> Self {
        self.decode = d;
        self
    }
    /// Sets [`TranscribeOptions::chunk`].
    pub fn chunk(mut self, c: ChunkOptions) -> Self {
        self.chunk = c;
        self
    }
}

/// One utterance's transcript with character and word offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// Text, character and word offsets in frames, as transformers'
    /// `Wav2Vec2CTCTokenizer.decode(..., output_char_offsets=True, output_word_offsets=True)`.
    pub decoding: CtcDecoding,
    /// Frames decoded (the utterance's valid frames).
    pub frames: usize,
    /// Samples per frame, transformers' `config.inputs_to_logits_ratio` (320).
    pub inputs_to_logits_ratio: usize,
    /// Sampling rate of the input, from `preprocessor_config.json`.
    pub sampling_rate: u32,
}

impl Transcript {
    /// The transcript text.
    pub fn text(&self) -> &str {
        &self.decoding.text
    }

    /// Words with start and end in seconds (`offset × inputs_to_logits_ratio / sampling_rate`).
    pub fn words(&self) -> Vec<TimedWord> {
        self.decoding
            .word_times(self.inputs_to_logits_ratio, self.sampling_rate)
    }

    /// Characters with start and end in seconds.
    pub fn chars(&self) -> Vec<TimedChar> {
        self.decoding
            .char_times(self.inputs_to_logits_ratio, self.sampling_rate)
    }

    /// One `words.jsonl` line (no newline):
    /// `{"id":"<id>","words":[{"word":"HE","start":0.12,"end":0.3},...]}`.
    pub fn words_json_line(&self, id: &str) -> Result<String> {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            id: &'a str,
            words: Vec<TimedWord>,
        }
        serde_json::to_string(&Line {
            id,
            words: self.words(),
        })
        .map_err(|source| Error::Json {
            path: "words.jsonl".into(),
            source,
        })
    }
}

/// Per-frame argmax ids of `(B, T, V)` logits, item `b` cut to `lengths[b]` frames.
fn argmax_ids(logits: &Tensor, lengths: &[usize]) -> Result<Vec<Vec<u32>>> {
    let ids: Vec<Vec<u32>> = logits.argmax(D::Minus1)?.to_vec2::<u32>()?;
    Ok(ids
        .into_iter()
        .zip(lengths)
        .map(|(mut row, &n)| {
            row.truncate(n);
            row
        })
        .collect())
}

impl Pretrained {
    /// [`Error::SamplingRate`] unless `sampling_rate` is the model's
    /// (`preprocessor_config.json`, 16 000 Hz when absent).
    pub fn check_sampling_rate(&self, sampling_rate: u32) -> Result<()> {
        if sampling_rate != self.preprocessor.sampling_rate {
            return Err(Error::SamplingRate {
                expected: self.preprocessor.sampling_rate,
                actual: sampling_rate,
            });
        }
        Ok(())
    }

    fn ctc_vocab(&self) -> Result<&CtcVocab> {
        if !self.model.has_ctc_head() {
            return Err(Error::NoCtcHead {
                reason: "architectures names no *ForCTC class".into(),
            });
        }
        self.vocab.as_ref().ok_or_else(|| Error::NoCtcHead {
            reason: format!("no vocab.json in {}", self.dir.display()),
        })
    }

    /// Transcribes waveforms (mono, at `sampling_rate`) in length-bucketed, padded, masked
    /// batches; see the [module docs](crate::transcribe). Returns one [`Transcript`] per input,
    /// in input order. Every input is checked before any is run: an empty, non-finite or too
    /// short item is an error naming its index.
    pub fn transcribe_batch(
        &self,
        waves: &[&[f32]],
        sampling_rate: u32,
        opts: &TranscribeOptions,
    ) -> Result<Vec<Transcript>> {
        let mut out: Vec<Option<Transcript>> = vec![None; waves.len()];
        self.transcribe_each(waves, sampling_rate, opts, |i, t| {
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(t);
            }
            Ok(())
        })?;
        out.into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.ok_or_else(|| Error::InvalidInput {
                    reason: format!("item {i} was not transcribed"),
                })
            })
            .collect()
    }

    /// [`Pretrained::transcribe_batch`] that hands each transcript to `sink(index, transcript)`
    /// as soon as its batch is done (batches run longest first); an error from the sink stops
    /// the run.
    pub fn transcribe_each<F>(
        &self,
        waves: &[&[f32]],
        sampling_rate: u32,
        opts: &TranscribeOptions,
        mut sink: F,
    ) -> Result<()>
    where
        F: FnMut(usize, Transcript) -> Result<()>,
    {
        self.check_sampling_rate(sampling_rate)?;
        let vocab = self.ctc_vocab()?;
        if opts.max_batch == 0 {
            return Err(Error::InvalidInput {
                reason: "TranscribeOptions::max_batch must be at least 1".into(),
            });
        }
        let m = &self.model;
        for (i, w) in waves.iter().enumerate() {
            if w.is_empty() {
                return Err(Error::InvalidInput {
                    reason: format!("item {i} has no samples"),
                });
            }
            if let Some(p) = w.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidInput {
                    reason: format!("item {i} has a non-finite sample at index {p}"),
                });
            }
            if m.frames_for(w.len()) == 0 {
                return Err(Error::InputTooShort {
                    samples: w.len(),
                    min_samples: m.receptive_field(),
                });
            }
        }
        if !(opts.chunk.chunk_seconds > 0.0 && opts.chunk.context_seconds >= 0.0) {
            return Err(Error::InvalidInput {
                reason: "chunk_seconds must be > 0 and context_seconds >= 0".into(),
            });
        }
        let make = |decoding: CtcDecoding, frames: usize| Transcript {
            decoding,
            frames,
            inputs_to_logits_ratio: m.hop_length(),
            sampling_rate,
        };
        // the longest input embed_long runs unchunked (same arithmetic as crate::chunk)
        let hop = m.hop_length();
        let rate = self.preprocessor.sampling_rate as f32;
        let stride_f = ((opts.chunk.chunk_seconds * rate) as usize / hop).max(1);
        let ctx_f = (opts.chunk.context_seconds * rate) as usize / hop;
        let window_frames = stride_f + 2 * ctx_f;
        let exact = m.batching_is_exact();
        let batched = exact || opts.batch_inexact;
        let max_batch = if batched { opts.max_batch } else { 1 };
        let (short, long): (Vec<usize>, Vec<usize>) =
            (0..waves.len()).partition(|&i| m.frames_for(waves[i].len()) <= window_frames);
        tracing::debug!(
            "transcribe_batch: {} utterances ({} windowed), batches of up to {max_batch}{}",
            waves.len(),
            long.len(),
            if exact { "" } else { " (inexact model)" }
        );
        let fwd = ForwardOptions::default();
        let lengths: Vec<usize> = short.iter().map(|&i| waves[i].len()).collect();
        for bucket in length_buckets(&lengths, max_batch, opts.max_batch_samples) {
            let idx: Vec<usize> = bucket.iter().map(|&j| short[j]).collect();
            let items: Vec<&[f32]> = idx.iter().map(|&i| waves[i]).collect();
            // inexact models batched on request reproduce transformers' batched input: without
            // an attention mask its feature extractor normalises over the padding too
            let quirk = !exact && items.len() > 1 && !self.preprocessor.return_attention_mask;
            let batch = Batch::new(
                &items,
                &self.preprocessor,
                &BatchOptions::default()
                    .normalize(opts.chunk.normalize)
                    .stats_include_padding(quirk),
                m.device(),
            )?;
            // exact models: always mask (padding then cannot reach valid frames); otherwise
            // follow the preprocessor, as transformers' batched inference does
            let mask = (items.len() > 1 && (exact || self.preprocessor.return_attention_mask))
                .then_some(&batch.attention_mask);
            let out = m.forward(&batch.input_values, mask, &fwd)?;
            let logits = out.logits.ok_or_else(|| Error::NoCtcHead {
                reason: "architectures names no *ForCTC class".into(),
            })?;
            let frames: Vec<usize> = items.iter().map(|w| m.frames_for(w.len())).collect();
            for (k, ids) in argmax_ids(&logits, &frames)?.iter().enumerate() {
                let d = vocab.decode_with_offsets(ids, &opts.decode);
                sink(idx[k], make(d, frames[k]))?;
            }
        }
        for i in long {
            let out = self.embed_long(waves[i], &opts.chunk, &fwd)?;
            let logits = out.logits.ok_or_else(|| Error::NoCtcHead {
                reason: "architectures names no *ForCTC class".into(),
            })?;
            let frames = out.frame_lengths.first().copied().unwrap_or(0);
            let ids = argmax_ids(&logits, &[frames])?;
            let d = vocab.decode_with_offsets(ids.first().map_or(&[][..], |v| v), &opts.decode);
            sink(i, make(d, frames))?;
        }
        Ok(())
    }
}
