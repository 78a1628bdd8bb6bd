//! error-align's tokenizer and normalizer (0.1.0b10 `basic_tokenizer` / `basic_normalizer`).
//!
//! Offsets are Unicode code points (Python string indices), so spans agree with the reference.

use crate::tables::{CHAR_CLASS, LETTER, LOWER, NUMBER, WHITESPACE};

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `\p{L}` as the mrab `regex` module sees it (generated table).
pub(crate) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_ranges(LETTER, c)
}

/// `\p{N}` as the mrab `regex` module sees it (generated table).
pub(crate) fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_ranges(NUMBER, c)
}

fn is_alnum(c: char) -> bool {
    is_letter(c) || is_number(c)
}

/// `\s` as the mrab `regex` module sees it (generated table).
pub(crate) fn is_regex_space(c: char) -> bool {
    in_ranges(WHITESPACE, c)
}

/// error-align character class: 0 delimiter, 1 consonant, 2 vowel, 3 other (Unidecode 1.4.0 table).
pub fn char_class(c: char) -> u8 {
    let cp = u32::from(c);
    match CHAR_CLASS.binary_search_by(|&(lo, hi, _)| {
        if hi < cp {
            std::cmp::Ordering::Less
        } else if lo > cp {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(i) => CHAR_CLASS.get(i).map_or(3, |&(_, _, k)| k),
        Err(_) => 3,
    }
}

/// One token of the raw text: `[start, end)` in code points and its normalized characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Start offset (code points) in the raw text.
    pub start: usize,
    /// End offset (exclusive, code points) in the raw text.
    pub end: usize,
    /// Normalized (lowercased) characters; same length as the raw token.
    pub norm: Vec<char>,
}

/// Splits text into error-align tokens, returning `[start, end)` code-point spans.
///
/// Mirrors the regex `(\p{N}+([,.]\p{N}+)*(?=\s|$))|([\p{L}\p{N}]+(['][\p{L}\p{N}]+)*'?)` under
/// `finditer`: a numeric token must be followed by whitespace or the end (the lookahead, which the
/// Rust `regex` crate lacks, so this is a scanner). Backtracking never helps the numeric branch:
/// every shorter match ends before a digit or a `,`/`.`, neither of which is whitespace.
pub fn tokenize_spans(chars: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    tokenize_spans_into(chars, &mut out);
    out
}

/// [`tokenize_spans`] appending to `out`.
pub(crate) fn tokenize_spans_into(chars: &[char], out: &mut Vec<(usize, usize)>) {
    let n = chars.len();
    let at = |i: usize| chars.get(i).copied();
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if is_number(c) {
            let mut j = i;
            while at(j).is_some_and(is_number) {
                j += 1;
            }
            while matches!(at(j), Some(',') | Some('.')) && at(j + 1).is_some_and(is_number) {
                j += 1;
                while at(j).is_some_and(is_number) {
                    j += 1;
                }
            }
            if at(j).is_none_or(is_regex_space) {
                out.push((i, j));
                i = j;
                continue;
            }
        }
        if is_alnum(c) {
            let mut j = i;
            while at(j).is_some_and(is_alnum) {
                j += 1;
            }
            while at(j) == Some('\'') && at(j + 1).is_some_and(is_alnum) {
                j += 1;
                while at(j).is_some_and(is_alnum) {
                    j += 1;
                }
            }
            if at(j) == Some('\'') {
                j += 1;
            }
            out.push((i, j));
            i = j;
            continue;
        }
        i += 1;
    }
}

fn python_lower_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let cp = u32::from(c);
    match LOWER.binary_search_by_key(&cp, |&(k, _)| k) {
        Ok(i) => LOWER
            .get(i)
            .and_then(|&(_, v)| char::from_u32(v))
            .unwrap_or(c),
        Err(_) => c,
    }
}

/// error-align's `basic_normalizer`: U+0130 → `I`, then Python `str.lower` (Unicode 14 table,
/// final-sigma rule). Always preserves the number of code points.
pub fn normalize_token(raw: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(raw.len());
    normalize_into(raw, &mut out);
    out
}

/// [`normalize_token`] appending to `buf` (no allocation when `buf` has room).
pub(crate) fn normalize_into(raw: &[char], buf: &mut Vec<char>) {
    let start = buf.len();
    if raw.iter().all(char::is_ascii) {
        // ASCII fast path: Python's lower() on ASCII is the ASCII mapping.
        buf.extend(raw.iter().map(char::to_ascii_lowercase));
        return;
    }
    buf.extend(raw.iter().map(|&c| if c == '\u{130}' { 'I' } else { c }));
    let out = &mut buf[start..];
    let has_sigma = out.contains(&'\u{3A3}');
    if has_sigma {
        // Python and Rust both apply Unicode's Final_Sigma context rule; take sigma forms from
        // Rust's context-aware lowercasing, everything else from the Python table.
        let s: String = out.iter().collect();
        let rust_lower: Vec<char> = s.to_lowercase().chars().collect();
        let same_len = rust_lower.len() == out.len();
        for (k, c) in out.iter_mut().enumerate() {
            if *c == '\u{3A3}' {
                *c = if same_len {
                    rust_lower.get(k).copied().unwrap_or('\u{3C3}')
                } else {
                    '\u{3C3}'
                };
            } else {
                *c = python_lower_char(*c);
            }
        }
    } else {
        for c in out.iter_mut() {
            *c = python_lower_char(*c);
        }
    }
}

/// Tokenizes and normalizes `chars` the way error-align 0.1.0b10 does by default.
pub fn tokenize(chars: &[char]) -> Vec<Token> {
    tokenize_spans(chars)
        .into_iter()
        .map(|(start, end)| Token {
            start,
            end,
            norm: normalize_token(chars.get(start..end).unwrap_or(&[])),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        let c: Vec<char> = s.chars().collect();
        tokenize_spans(&c)
            .into_iter()
            .map(|(a, b)| c[a..b].iter().collect())
            .collect()
    }

    #[test]
    fn numbers_and_apostrophes() {
        assert_eq!(toks("3.14 x"), ["3.14", "x"]);
        assert_eq!(toks("3.14."), ["3", "14"]);
        assert_eq!(toks("1.2.3-beta"), ["1", "2", "3", "beta"]);
        assert_eq!(
            toks("'tis students' rock'n'roll"),
            ["tis", "students'", "rock'n'roll"]
        );
        assert_eq!(toks("don\u{2019}t"), ["don", "t"]);
    }

    #[test]
    fn classes_spot_check() {
        assert_eq!(char_class('<'), 0);
        assert_eq!(char_class('a'), 2);
        assert_eq!(char_class('y'), 1);
        assert_eq!(char_class('\u{F7}'), 3);
        assert_eq!(char_class('1'), 3);
    }

    #[test]
    fn final_sigma() {
        let c: Vec<char> = "ΟΔΟΣ".chars().collect();
        assert_eq!(normalize_token(&c).iter().collect::<String>(), "οδος");
    }
}
