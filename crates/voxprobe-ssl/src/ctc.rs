//! CTC vocabulary (`vocab.json` + `tokenizer_config.json`) and greedy decoding, as
//! transformers' `Wav2Vec2CTCTokenizer` does it, without the `tokenizers` crate.

use crate::error::{Error, Result};
use candle_core::{Tensor, D};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.display().to_string(),
        source,
    })
}

#[derive(Debug, Deserialize, Default)]
struct TokenizerConfig {
    #[serde(default)]
    pad_token: Option<serde_json::Value>,
    #[serde(default)]
    unk_token: Option<serde_json::Value>,
    #[serde(default)]
    bos_token: Option<serde_json::Value>,
    #[serde(default)]
    eos_token: Option<serde_json::Value>,
    #[serde(default)]
    word_delimiter_token: Option<serde_json::Value>,
    #[serde(default)]
    do_lower_case: Option<bool>,
    #[serde(default)]
    replace_word_delimiter_char: Option<String>,
    #[serde(default)]
    clean_up_tokenization_spaces: Option<bool>,
}

/// Tokens may be plain strings or `{"content": ...}` objects in tokenizer_config.json.
fn token_str(v: &Option<serde_json::Value>, default: &str) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or(default)
            .to_string(),
        _ => default.to_string(),
    }
}

/// Options of greedy CTC decoding.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Drop `<s>`, `</s>`, `<unk>` from the output. Default: false (as transformers).
    pub skip_special_tokens: bool,
}

impl DecodeOptions {
    /// Sets [`DecodeOptions::skip_special_tokens`].
    pub fn skip_special_tokens(mut self, on: bool) -> Self {
        self.skip_special_tokens = on;
        self
    }
}

/// One decoded character: a collapsed run of one non-blank token, in frames
/// `[start_offset, end_offset)` (transformers' `char_offsets` entries).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CharOffset {
    /// The token's string; the word delimiter appears as its replacement (`" "`).
    pub char: String,
    /// First frame.
    pub start_offset: usize,
    /// One past the last frame.
    pub end_offset: usize,
}

/// One decoded word in frames `[start_offset, end_offset)` (transformers' `word_offsets`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WordOffset {
    /// The word's characters, concatenated.
    pub word: String,
    /// Start frame of the first character.
    pub start_offset: usize,
    /// End frame (exclusive) of the last character.
    pub end_offset: usize,
}

/// A word with times in seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimedWord {
    /// The word.
    pub word: String,
    /// Start in seconds: `start_offset × inputs_to_logits_ratio / sampling_rate`.
    pub start: f64,
    /// End in seconds: `end_offset × inputs_to_logits_ratio / sampling_rate`.
    pub end: f64,
}

/// A character with times in seconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimedChar {
    /// The character (a space for the word delimiter).
    pub char: String,
    /// Start in seconds.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
}

/// Text plus character and word offsets in frames, from [`CtcVocab::decode_with_offsets`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CtcDecoding {
    /// The transcript, as [`CtcVocab::decode`] returns it.
    pub text: String,
    /// Characters in order, delimiters included.
    pub char_offsets: Vec<CharOffset>,
    /// Words in order.
    pub word_offsets: Vec<WordOffset>,
}

/// `offset × ratio / rate` computed as one division of exact integers, so that the result is
/// the double nearest to the true time (frame 3 at 320 / 16 000 is exactly `0.06`).
pub fn frames_to_seconds(offset: usize, inputs_to_logits_ratio: usize, sampling_rate: u32) -> f64 {
    let num = (offset as u128) * (inputs_to_logits_ratio as u128);
    num as f64 / f64::from(sampling_rate.max(1))
}

impl CtcDecoding {
    /// Words with times in seconds (`inputs_to_logits_ratio` is the model's hop,
    /// [`crate::SslModel::hop_length`]; `sampling_rate` the preprocessor's).
    pub fn word_times(&self, inputs_to_logits_ratio: usize, sampling_rate: u32) -> Vec<TimedWord> {
        let t = |o| frames_to_seconds(o, inputs_to_logits_ratio, sampling_rate);
        self.word_offsets
            .iter()
            .map(|w| TimedWord {
                word: w.word.clone(),
                start: t(w.start_offset),
                end: t(w.end_offset),
            })
            .collect()
    }

    /// Characters with times in seconds.
    pub fn char_times(&self, inputs_to_logits_ratio: usize, sampling_rate: u32) -> Vec<TimedChar> {
        let t = |o| frames_to_seconds(o, inputs_to_logits_ratio, sampling_rate);
        self.char_offsets
            .iter()
            .map(|c| TimedChar {
                char: c.char.clone(),
                start: t(c.start_offset),
                end: t(c.end_offset),
            })
            .collect()
    }
}

/// transformers' `_get_word_offsets`: a word starts at a non-delimiter character after a
/// delimiter (or at the start) and ends before the next delimiter (or at the end).
fn word_offsets(chars: &[CharOffset], delimiter: &str) -> Vec<WordOffset> {
    let mut words = Vec::new();
    let mut cur: Option<WordOffset> = None;
    for c in chars {
        if c.char == delimiter {
            if let Some(w) = cur.take() {
                words.push(w);
            }
        } else {
            match &mut cur {
                Some(w) => {
                    w.word.push_str(&c.char);
                    w.end_offset = c.end_offset;
                }
                None => {
                    cur = Some(WordOffset {
                        word: c.char.clone(),
                        start_offset: c.start_offset,
                        end_offset: c.end_offset,
                    })
                }
            }
        }
    }
    if let Some(w) = cur {
        words.push(w);
    }
    words
}

/// A CTC vocabulary: id → token plus the special tokens that decoding treats specially.
#[derive(Debug, Clone)]
pub struct CtcVocab {
    tokens: HashMap<u32, String>,
    pad: String,
    unk: String,
    word_delimiter: String,
    specials: Vec<String>,
    do_lower_case: bool,
    delimiter_replacement: String,
    clean_up_spaces: bool,
}

impl CtcVocab {
    /// Builds a vocabulary from a token → id map with the transformers defaults
    /// (`<pad>` blank, `|` word delimiter, `<s>`, `</s>`, `<unk>`).
    pub fn from_map(map: HashMap<String, u32>) -> Self {
        let tokens = map.into_iter().map(|(t, i)| (i, t)).collect();
        Self {
            tokens,
            pad: "<pad>".into(),
            unk: "<unk>".into(),
            word_delimiter: "|".into(),
            specials: vec!["<s>".into(), "</s>".into(), "<unk>".into(), "<pad>".into()],
            do_lower_case: false,
            delimiter_replacement: " ".into(),
            clean_up_spaces: false,
        }
    }

    /// Reads `vocab.json` and, if present next to it, `tokenizer_config.json`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let vpath = dir.join("vocab.json");
        let v = read_json(&vpath)?;
        let obj = v.as_object().ok_or_else(|| Error::InvalidConfig {
            option: "vocab.json".into(),
            reason: "expected an object mapping tokens to ids".into(),
        })?;
        let mut map = HashMap::with_capacity(obj.len());
        for (tok, id) in obj {
            let id = id.as_u64().and_then(|i| u32::try_from(i).ok()).ok_or_else(|| {
                Error::InvalidConfig {
                    option: "vocab.json".into(),
                    reason: format!(
                        "token {tok:?} maps to {id}, not an id (multi-language vocabularies need a target language, which is not supported)"
                    ),
                }
            })?;
            map.insert(tok.clone(), id);
        }
        let mut vocab = Self::from_map(map);
        let tpath = dir.join("tokenizer_config.json");
        if tpath.exists() {
            let tc: TokenizerConfig =
                serde_json::from_value(read_json(&tpath)?).map_err(|source| Error::Json {
                    path: tpath.display().to_string(),
                    source,
                })?;
            vocab.pad = token_str(&tc.pad_token, "<pad>");
            vocab.unk = token_str(&tc.unk_token, "<unk>");
            vocab.word_delimiter = token_str(&tc.word_delimiter_token, "|");
            vocab.do_lower_case = tc.do_lower_case.unwrap_or(false);
            vocab.delimiter_replacement =
                tc.replace_word_delimiter_char.unwrap_or_else(|| " ".into());
            vocab.clean_up_spaces = tc.clean_up_tokenization_spaces.unwrap_or(false);
            vocab.specials = vec![
                token_str(&tc.bos_token, "<s>"),
                token_str(&tc.eos_token, "</s>"),
                vocab.unk.clone(),
                vocab.pad.clone(),
            ];
        }
        Ok(vocab)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token for an id (`<unk>` for unknown ids).
    pub fn token(&self, id: u32) -> &str {
        self.tokens
            .get(&id)
            .map(String::as_str)
            .unwrap_or(&self.unk)
    }

    /// Greedy decoding of per-frame ids, as `Wav2Vec2CTCTokenizer.decode` in transformers 5.x:
    /// with `skip_special_tokens` the special tokens (blank included) are dropped first; then runs
    /// of equal tokens collapse, blanks (`pad_token`) are dropped, the word delimiter becomes a
    /// space, the result is stripped and lower-cased if configured. Without skipping, collapse
    /// happens before blank removal, so `l <pad> l` gives `ll`.
    pub fn decode(&self, ids: &[u32], opts: &DecodeOptions) -> String {
        self.decode_with_offsets(ids, opts).text
    }

    /// [`CtcVocab::decode`] with character and word offsets in frames, as
    /// `Wav2Vec2CTCTokenizer.decode(ids, output_char_offsets=True, output_word_offsets=True)`:
    /// each collapsed run of one token that is not the blank is a character
    /// `[start_offset, end_offset)`; a word is a maximal sequence of non-delimiter characters,
    /// from its first character's start to its last one's end. As in transformers, character
    /// and word strings are neither stripped nor lower-cased (only `text` is), a delimiter is a
    /// character whose string is the replacement (`" "`), and with `skip_special_tokens`
    /// offsets count positions in the token list *after* specials were dropped.
    /// Multiply offsets by [`crate::SslModel::hop_length`] / sampling rate for seconds
    /// ([`CtcDecoding::word_times`]).
    pub fn decode_with_offsets(&self, ids: &[u32], opts: &DecodeOptions) -> CtcDecoding {
        // tokens after the optional special-token filter; positions index this list
        let tokens: Vec<&str> = ids
            .iter()
            .map(|&id| self.token(id))
            .filter(|tok| {
                !(opts.skip_special_tokens
                    && *tok != self.word_delimiter
                    && self.specials.iter().any(|s| s == tok))
            })
            .collect();
        let mut char_offsets: Vec<CharOffset> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let tok = tokens[i];
            let mut j = i + 1;
            while j < tokens.len() && tokens[j] == tok {
                j += 1;
            }
            if tok != self.pad {
                let c = if tok == self.word_delimiter {
                    self.delimiter_replacement.clone()
                } else {
                    tok.to_string()
                };
                char_offsets.push(CharOffset {
                    char: c,
                    start_offset: i,
                    end_offset: j,
                });
            }
            i = j;
        }
        let word_offsets = word_offsets(&char_offsets, &self.delimiter_replacement);
        let joined: String = char_offsets.iter().map(|c| c.char.as_str()).collect();
        // Python's str.strip() drops Unicode whitespace, as Rust's trim() does
        let mut text = joined.trim().to_string();
        if self.do_lower_case {
            text = text.to_lowercase();
        }
        if self.clean_up_spaces {
            // transformers' `clean_up_tokenization`
            for (from, to) in [
                (" .", "."),
                (" ?", "?"),
                (" !", "!"),
                (" ,", ","),
                (" ' ", "'"),
                (" n't", "n't"),
                (" 'm", "'m"),
                (" 's", "'s"),
                (" 've", "'ve"),
                (" 're", "'re"),
            ] {
                text = text.replace(from, to);
            }
        }
        CtcDecoding {
            text,
            char_offsets,
            word_offsets,
        }
    }

    /// Decodes CTC logits `(B, T, V)` (or `(T, V)`), taking the first `lengths[b]` frames of
    /// each item when lengths are given.
    pub fn decode_logits(
        &self,
        logits: &Tensor,
        lengths: Option<&[usize]>,
        opts: &DecodeOptions,
    ) -> Result<Vec<String>> {
        let logits = if logits.rank() == 2 {
            logits.unsqueeze(0)?
        } else {
            logits.clone()
        };
        let ids: Vec<Vec<u32>> = logits.argmax(D::Minus1)?.to_vec2::<u32>()?;
        Ok(ids
            .iter()
            .enumerate()
            .map(|(b, row)| {
                let n = lengths
                    .and_then(|l| l.get(b).copied())
                    .unwrap_or(row.len())
                    .min(row.len());
                self.decode(&row[..n], opts)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> CtcVocab {
        let map = [
            ("<pad>", 0),
            ("<s>", 1),
            ("</s>", 2),
            ("<unk>", 3),
            ("|", 4),
            ("L", 5),
            ("O", 6),
        ]
        .into_iter()
        .map(|(t, i)| (t.to_string(), i))
        .collect();
        CtcVocab::from_map(map)
    }

    #[test]
    fn collapse_before_blank_removal() {
        let v = vocab();
        assert_eq!(
            v.decode(&[5, 5, 0, 5, 6, 4, 4, 6], &DecodeOptions::default()),
            "LLO O"
        );
        assert_eq!(v.decode(&[4, 5, 4], &DecodeOptions::default()), "L");
        assert_eq!(
            v.decode(&[1, 5, 3, 99, 5], &DecodeOptions::default()),
            // runs collapse on tokens, as transformers groups them: unknown id 99 is `<unk>`
            "<s>L<unk>L"
        );
        let skip = DecodeOptions::default().skip_special_tokens(true);
        assert_eq!(v.decode(&[1, 5, 3], &skip), "L");
        // specials (blank included) go first, then runs collapse
        assert_eq!(v.decode(&[5, 0, 5, 4, 0, 4, 6], &skip), "L O");
    }
}
