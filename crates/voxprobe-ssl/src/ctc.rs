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
        let mut out = String::new();
        let mut prev: Option<&str> = None;
        for &id in ids {
            let tok = self.token(id);
            if opts.skip_special_tokens
                && tok != self.word_delimiter
                && self.specials.iter().any(|s| s == tok)
            {
                continue;
            }
            if prev == Some(tok) {
                continue;
            }
            prev = Some(tok);
            if tok == self.pad {
                continue;
            }
            if tok == self.word_delimiter {
                out.push_str(&self.delimiter_replacement);
            } else {
                out.push_str(tok);
            }
        }
        let mut s = out.trim().to_string();
        if self.do_lower_case {
            s = s.to_lowercase();
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
                s = s.replace(from, to);
            }
        }
        s
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
