//! Port of error-align 0.1.0b10 (`error_align.error_align`): word-level anchors, character-level
//! beam search, segments → ops with compound flags. Output is op-for-op identical to the Python
//! package (checked on committed fixtures for four variants).

use serde::{Deserialize, Serialize};

use crate::levenshtein::{editops_ids_in, EditBufs, EditTag, FxMap};
use crate::text::{char_class, is_regex_space, normalize_into, tokenize_spans_into};
use crate::{Error, Result};

/// Type of an alignment op (error-align `OpType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum OpType {
    /// Same normalized token on both sides.
    Match,
    /// Hypothesis text with no reference counterpart.
    Insert,
    /// Reference text with no hypothesis counterpart.
    Delete,
    /// Reference text aligned to different hypothesis text.
    Substitute,
}

/// One alignment op, as error-align's `Alignment`.
///
/// Spans are `[start, end)` offsets in Unicode code points into the raw input; `ref`/`hyp` are
/// the raw substrings they select (original case and punctuation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlignOp {
    /// Op type.
    #[serde(rename = "type")]
    pub op_type: OpType,
    /// Raw reference substring, `None` for INSERT.
    #[serde(rename = "ref")]
    pub ref_text: Option<String>,
    /// Raw hypothesis substring, `None` for DELETE.
    #[serde(rename = "hyp")]
    pub hyp_text: Option<String>,
    /// Reference code-point span.
    pub ref_span: Option<[usize; 2]>,
    /// Hypothesis code-point span.
    pub hyp_span: Option<[usize; 2]>,
    /// The hyp side starts inside a hyp word (compound / split piece).
    pub left_compound: bool,
    /// The hyp side ends inside a hyp word.
    pub right_compound: bool,
}

/// Word-level anchor pass run before the character-level beam search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WordLevelMethod {
    /// Matches of the single optimal word alignment RapidFuzz picks (0.1.0b10 default).
    #[default]
    Rapidfuzz,
    /// Only matches shared by every optimal word alignment (0.1.0b5–b9 default).
    Unambiguous,
}

impl std::str::FromStr for WordLevelMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rapidfuzz" => Ok(Self::Rapidfuzz),
            "unambiguous" => Ok(Self::Unambiguous),
            other => Err(Error::UnknownWordLevelMethod {
                name: other.to_string(),
            }),
        }
    }
}

/// Options of [`error_align`] (error-align keyword arguments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlignOptions {
    /// Paths kept per beam-search step. Default: 100.
    pub beam_size: usize,
    /// Anchor word-level matches before the beam search. Default: true.
    pub word_level_pass: bool,
    /// Which word-level pass. Default: [`WordLevelMethod::Rapidfuzz`].
    pub word_level_method: WordLevelMethod,
}

impl Default for AlignOptions {
    fn default() -> Self {
        Self {
            beam_size: 100,
            word_level_pass: true,
            word_level_method: WordLevelMethod::Rapidfuzz,
        }
    }
}

impl AlignOptions {
    /// Sets the beam size.
    pub fn beam_size(mut self, beam_size: usize) -> Self {
        self.beam_size = beam_size;
        self
    }
    /// Enables or disables the word-level pass.
    pub fn word_level_pass(mut self, on: bool) -> Self {
        self.word_level_pass = on;
        self
    }
    /// Sets the word-level method.
    pub fn word_level_method(mut self, method: WordLevelMethod) -> Self {
        self.word_level_method = method;
        self
    }
    fn check(&self) -> Result<()> {
        if self.beam_size == 0 {
            return Err(Error::InvalidBeamSize);
        }
        Ok(())
    }
}

/// Aligns `reference` and `hypothesis` exactly as error-align 0.1.0b10 `error_align(ref, hyp, …)`.
///
/// # Errors
/// [`Error::InvalidBeamSize`] for `beam_size == 0`; [`Error::BeamSearchFailed`] if no path reaches
/// the end (never observed; the Python package would fail there too).
pub fn error_align(reference: &str, hypothesis: &str, opts: &AlignOptions) -> Result<Vec<AlignOp>> {
    opts.check()?;
    with_scratch(|sc| {
        let out = align_in(reference, hypothesis, opts, sc);
        sc.text.trim();
        out
    })
}

/// [`error_align`] with this thread's scratch buffers.
fn align_in(
    reference: &str,
    hypothesis: &str,
    opts: &AlignOptions,
    sc: &mut Scratch,
) -> Result<Vec<AlignOp>> {
    let Scratch { text, gap } = sc;
    fill_chars(&mut text.rc, reference);
    fill_chars(&mut text.hc, hypothesis);
    text.rt.fill(&text.rc, reference);
    text.ht.fill(&text.hc, hypothesis);
    let TextBufs {
        rc,
        hc,
        rt,
        ht,
        words,
    } = text;
    let input = Input {
        ref_raw: Raw::new(reference, rc),
        hyp_raw: Raw::new(hypothesis, hc),
        ref_tokens: rt,
        hyp_tokens: ht,
    };
    let identical = rt.len() == ht.len() && (0..rt.len()).all(|i| rt.norm(i) == ht.norm(i));
    if identical {
        return Ok((0..rt.len()).map(|i| input.match_op(i, i)).collect());
    }
    if !opts.word_level_pass {
        let mut out = Vec::new();
        input.beam_gap(0, rt.len(), 0, ht.len(), opts.beam_size, gap, &mut out)?;
        return Ok(out);
    }
    match opts.word_level_method {
        WordLevelMethod::Rapidfuzz => rapidfuzz_anchors(rt, ht, words),
        WordLevelMethod::Unambiguous => unambiguous_anchors(rt, ht, words),
    }
    input.align_from_anchors_in(&words.anchors, opts.beam_size, gap)
}

/// `buf` = the code points of `s` (an ASCII text skips UTF-8 decoding).
fn fill_chars(buf: &mut Vec<char>, s: &str) {
    buf.clear();
    if s.is_ascii() {
        buf.extend(s.bytes().map(char::from));
    } else {
        buf.extend(s.chars());
    }
}

/// A raw input text as code points, with the `&str` it came from (an all-ASCII text, the
/// common case, slices its output substrings by bytes: one copy, no per-character work).
#[derive(Clone, Copy)]
struct Raw<'a> {
    chars: &'a [char],
    s: &'a str,
}

impl<'a> Raw<'a> {
    fn new(s: &'a str, chars: &'a [char]) -> Self {
        Self { chars, s }
    }
    /// Code points `a..b` as a `String`.
    fn sub(&self, a: usize, b: usize) -> String {
        if self.s.len() == self.chars.len() {
            // One byte per code point: code-point offsets are byte offsets.
            self.s.get(a..b).unwrap_or("").to_owned()
        } else {
            self.chars.get(a..b).unwrap_or(&[]).iter().collect()
        }
    }
}

/// Per-thread buffers of the text side of one `error_align` call (reused across calls).
#[derive(Default)]
struct TextBufs {
    rc: Vec<char>,
    hc: Vec<char>,
    rt: Toks,
    ht: Toks,
    words: WordBufs,
}

impl TextBufs {
    /// Frees the buffers after a very long text (they live as long as the thread).
    fn trim(&mut self) {
        const MAX_CHARS: usize = 1 << 20;
        if self.rc.capacity() + self.hc.capacity() > MAX_CHARS {
            *self = Self::default();
        }
    }
}

/// Buffers of the word-level pass; `anchors` is its result.
#[derive(Default)]
struct WordBufs {
    r: Vec<u32>,
    h: Vec<u32>,
    ref_edit: Vec<bool>,
    hyp_edit: Vec<bool>,
    edit: EditBufs,
    anchors: Vec<(usize, usize)>,
}

/// Tokens of one text (error-align `basic_tokenizer` + `basic_normalizer`, as
/// [`crate::text::tokenize`]) in flat buffers: one allocation per buffer, not per token.
#[derive(Default)]
struct Toks {
    /// Raw `[start, end)` code-point spans.
    spans: Vec<(usize, usize)>,
    /// All normalized tokens concatenated; token `i` is `norm[spans[i].0 - .. ]` via `off`.
    norm: Vec<char>,
    /// Start of each token in `norm` (a normalized token has its raw token's length).
    off: Vec<usize>,
}

impl Toks {
    /// Refills from `chars`, the code points of `s` (reusing the allocations).
    fn fill(&mut self, chars: &[char], s: &str) {
        self.spans.clear();
        self.norm.clear();
        self.off.clear();
        if s.len() == chars.len() {
            self.fill_ascii(s.as_bytes());
            return;
        }
        tokenize_spans_into(chars, &mut self.spans);
        for &(a, b) in &self.spans {
            self.off.push(self.norm.len());
            normalize_into(chars.get(a..b).unwrap_or(&[]), &mut self.norm);
        }
    }
    /// [`Toks::fill`] for an all-ASCII text in one pass: [`tokenize_spans_into`] and
    /// [`normalize_into`] restricted to ASCII (`\p{N}` = digits, `\p{L}` = letters, lowering
    /// is ASCII lowering; only `\s` still asks the generic table).
    fn fill_ascii(&mut self, b: &[u8]) {
        let n = b.len();
        let digit = |j: usize| b.get(j).is_some_and(u8::is_ascii_digit);
        let alnum = |j: usize| b.get(j).is_some_and(u8::is_ascii_alphanumeric);
        let mut i = 0;
        while i < n {
            let mut end = None;
            if digit(i) {
                let mut j = i;
                while digit(j) {
                    j += 1;
                }
                while matches!(b.get(j), Some(b',' | b'.')) && digit(j + 1) {
                    j += 1;
                    while digit(j) {
                        j += 1;
                    }
                }
                if b.get(j).is_none_or(|&x| is_regex_space(char::from(x))) {
                    end = Some(j);
                }
            }
            if end.is_none() && alnum(i) {
                let mut j = i;
                while alnum(j) {
                    j += 1;
                }
                while b.get(j) == Some(&b'\'') && alnum(j + 1) {
                    j += 1;
                    while alnum(j) {
                        j += 1;
                    }
                }
                if b.get(j) == Some(&b'\'') {
                    j += 1;
                }
                end = Some(j);
            }
            match end {
                Some(j) => {
                    self.spans.push((i, j));
                    self.off.push(self.norm.len());
                    let raw = b.get(i..j).unwrap_or(&[]);
                    self.norm
                        .extend(raw.iter().map(|&x| char::from(x.to_ascii_lowercase())));
                    i = j;
                }
                None => i += 1,
            }
        }
    }
    fn len(&self) -> usize {
        self.spans.len()
    }
    fn norm(&self, i: usize) -> &[char] {
        let a = self.off[i];
        let b = self.off.get(i + 1).copied().unwrap_or(self.norm.len());
        &self.norm[a..b]
    }
    fn start(&self, i: usize) -> usize {
        self.spans[i].0
    }
}

struct Input<'a> {
    ref_raw: Raw<'a>,
    hyp_raw: Raw<'a>,
    ref_tokens: &'a Toks,
    hyp_tokens: &'a Toks,
}

impl Input<'_> {
    fn match_op(&self, r: usize, h: usize) -> AlignOp {
        let (rs, re) = self.ref_tokens.spans[r];
        let (hs, he) = self.hyp_tokens.spans[h];
        AlignOp {
            op_type: OpType::Match,
            ref_text: Some(self.ref_raw.sub(rs, re)),
            hyp_text: Some(self.hyp_raw.sub(hs, he)),
            ref_span: Some([rs, re]),
            hyp_span: Some([hs, he]),
            left_compound: false,
            right_compound: false,
        }
    }

    fn align_from_anchors_in(
        &self,
        anchors: &[(usize, usize)],
        beam: usize,
        sc: &mut GapScratch,
    ) -> Result<Vec<AlignOp>> {
        let mut out = Vec::with_capacity(self.ref_tokens.len() + 4);
        let (mut hs, mut rs) = (0usize, 0usize);
        let terminal = (self.hyp_tokens.len(), self.ref_tokens.len());
        for (k, &(he, re)) in anchors.iter().chain(std::iter::once(&terminal)).enumerate() {
            let ref_empty = rs == re;
            let hyp_empty = hs == he;
            if !ref_empty && !hyp_empty {
                self.beam_gap(rs, re, hs, he, beam, sc, &mut out)?;
            } else if ref_empty && !hyp_empty {
                for &(a, b) in &self.hyp_tokens.spans[hs..he] {
                    out.push(AlignOp {
                        op_type: OpType::Insert,
                        ref_text: None,
                        hyp_text: Some(self.hyp_raw.sub(a, b)),
                        ref_span: None,
                        hyp_span: Some([a, b]),
                        left_compound: false,
                        right_compound: false,
                    });
                }
            } else if hyp_empty && !ref_empty {
                for &(a, b) in &self.ref_tokens.spans[rs..re] {
                    out.push(AlignOp {
                        op_type: OpType::Delete,
                        ref_text: Some(self.ref_raw.sub(a, b)),
                        hyp_text: None,
                        ref_span: Some([a, b]),
                        hyp_span: None,
                        left_compound: false,
                        right_compound: false,
                    });
                }
            }
            if k < anchors.len() {
                out.push(self.match_op(re, he));
            }
            hs = he + 1;
            rs = re + 1;
        }
        Ok(out)
    }

    /// Aligns ref tokens `rs..re` with hyp tokens `hs..he` by the character beam search,
    /// appending the ops to `out`.
    #[allow(clippy::too_many_arguments)]
    fn beam_gap(
        &self,
        rs: usize,
        re: usize,
        hs: usize,
        he: usize,
        beam: usize,
        sc: &mut GapScratch,
        out: &mut Vec<AlignOp>,
    ) -> Result<()> {
        sc.r.fill(self.ref_tokens, rs..re);
        sc.h.fill(self.hyp_tokens, hs..he);
        sc.graph.build(&sc.r, &sc.h);
        let found = beam_search(&sc.r, &sc.h, &sc.graph, beam, &mut sc.beam);
        if found.is_ok() {
            segments_to_ops(&sc.beam.out, &sc.r, &sc.h, self.ref_raw, self.hyp_raw, out);
        }
        sc.trim();
        found
    }
}

// ------------------------------------------------------------------------------------------
// Word-level passes
// ------------------------------------------------------------------------------------------

/// Dense ids of the normalized tokens into `w.r` / `w.h`; returns the number of distinct
/// reference ids (every ref id is below it). A hyp token absent from the reference gets that
/// number (ids are only ever compared across the two sides, so those need not differ).
fn token_ids(rt: &Toks, ht: &Toks, w: &mut WordBufs) -> usize {
    let mut map: FxMap<&[char], u32> =
        FxMap::with_capacity_and_hasher(rt.len(), Default::default());
    w.r.clear();
    for i in 0..rt.len() {
        let n = map.len() as u32;
        w.r.push(*map.entry(rt.norm(i)).or_insert(n));
    }
    let n_ref = map.len();
    w.h.clear();
    w.h.extend((0..ht.len()).map(|i| map.get(ht.norm(i)).copied().unwrap_or(n_ref as u32)));
    n_ref
}

/// Anchors `(hyp_idx, ref_idx)` from the complement of RapidFuzz's editops, into `w.anchors`.
fn rapidfuzz_anchors(rt: &Toks, ht: &Toks, w: &mut WordBufs) {
    let n_ref = token_ids(rt, ht, w);
    editops_ids_in(&w.r, &w.h, n_ref, &mut w.edit);
    w.ref_edit.clear();
    w.ref_edit.resize(w.r.len(), false);
    w.hyp_edit.clear();
    w.hyp_edit.resize(w.h.len(), false);
    for op in &w.edit.ops {
        if op.tag != EditTag::Insert {
            if let Some(x) = w.ref_edit.get_mut(op.src_pos) {
                *x = true;
            }
        }
        if op.tag != EditTag::Delete {
            if let Some(x) = w.hyp_edit.get_mut(op.dest_pos) {
                *x = true;
            }
        }
    }
    let rm = w.ref_edit.iter().enumerate().filter(|e| !e.1).map(|e| e.0);
    let hm = w.hyp_edit.iter().enumerate().filter(|e| !e.1).map(|e| e.0);
    w.anchors.clear();
    w.anchors.extend(rm.zip(hm).map(|(ri, hi)| (hi, ri)));
}

/// Anchors shared by all optimal word alignments (error-align `get_unambiguous_node_matches`).
fn unambiguous_anchors(rt: &Toks, ht: &Toks, wb: &mut WordBufs) {
    token_ids(rt, ht, wb);
    let (r, h) = (&wb.r, &wb.h);
    let (n, m) = (r.len(), h.len());
    let w = n + 1;
    // Forward and backward unit-cost distances over hyp rows × ref columns.
    let mut f = vec![0u32; (m + 1) * w];
    for i in 0..=m {
        for j in 0..=n {
            f[i * w + j] = if i == 0 {
                j as u32
            } else if j == 0 {
                i as u32
            } else {
                let d = f[(i - 1) * w + j - 1] + u32::from(h[i - 1] != r[j - 1]);
                d.min(f[(i - 1) * w + j] + 1).min(f[i * w + j - 1] + 1)
            };
        }
    }
    let mut b = vec![0u32; (m + 1) * w];
    for i in (0..=m).rev() {
        for j in (0..=n).rev() {
            b[i * w + j] = if i == m {
                (n - j) as u32
            } else if j == n {
                (m - i) as u32
            } else {
                let d = b[(i + 1) * w + j + 1] + u32::from(h[i] != r[j]);
                d.min(b[(i + 1) * w + j] + 1).min(b[i * w + j + 1] + 1)
            };
        }
    }
    let total = f[m * w + n];
    let on = |i: usize, j: usize| f[i * w + j] + b[i * w + j] == total;
    // Parent op sets (only for cells on the graph): match, insert (hyp), delete (ref), substitute.
    let mut ref_count = vec![0u32; n + 1];
    let mut hyp_count = vec![0u32; m + 1];
    let mut candidates = Vec::new();
    for i in 0..=m {
        for j in 0..=n {
            if !on(i, j) || (i == 0 && j == 0) {
                continue;
            }
            let v = f[i * w + j];
            let (mut mat, mut ins, mut del, mut sub) = (false, false, false, false);
            if i == 0 {
                del = true;
            } else if j == 0 {
                ins = true;
            } else {
                let eq = h[i - 1] == r[j - 1];
                let dv = f[(i - 1) * w + j - 1] + u32::from(!eq);
                if dv == v {
                    if eq {
                        mat = true;
                    } else {
                        sub = true;
                    }
                }
                ins = f[(i - 1) * w + j] + 1 == v;
                del = f[i * w + j - 1] + 1 == v;
            }
            if mat && !ins && !del && !sub {
                candidates.push((i, j));
            }
            if mat || sub || del {
                ref_count[j] += 1;
            }
            if mat || sub || ins {
                hyp_count[i] += 1;
            }
        }
    }
    let out = &mut wb.anchors;
    out.clear();
    out.extend(
        candidates
            .into_iter()
            .filter(|&(i, j)| ref_count[j] == 1 && hyp_count[i] == 1)
            .map(|(i, j)| (i - 1, j - 1)),
    );
    out.sort_by_key(|&(_, rj)| rj);
}

// ------------------------------------------------------------------------------------------
// Character level
// ------------------------------------------------------------------------------------------
//
// Speed notes. The beam search is where error-align spends its time; this port keeps its
// semantics exactly (same children in the same order, same pruning map, same sort key, same
// greedy commit, checked op for op on the fixtures) but removes the bookkeeping cost:
// * every buffer (embedded strings, DP matrix, flags, beam, candidates, segment arena, the
//   pruning table) lives in a per-thread `Scratch` reused across gaps and pairs (trimmed after
//   a very long gap);
// * paths share their segment lists through an arena of back-linked segments (the C++ copies
//   the list on every expansion);
// * the pruning map and the per-iteration candidate map are ONE table (`KeyTable`): entries
//   carry iteration stamps, so "clear" is an assignment and each child costs one probe;
// * the beam is never sorted: only the `beam_size` smallest `(norm_cost, sort_id)` keys are
//   selected (O(n)), plus the minimum for the greedy commit. The one place where the
//   reference's order matters, "first child wins a tie", is decided by comparing the parents'
//   keys (see `Offer::offer`). When nothing is cut (the usual case) the candidate buffer
//   becomes the beam by a swap, without copying;
// * a path is 32 bytes (every child is a copy): error-align's `last_ref_idx` is not stored,
//   being a function of the ref position, which also drops it from the pruning key; the cost
//   lives beside the candidate, and the greedy-commit flag in the top bit of the segment link;
// * the pruning table keeps its values in the probed slots (one load per probe);
// * the text side (code points, tokens, word ids, anchors, RapidFuzz work buffers) is reused
//   per thread too, and an all-ASCII text is tokenized in one pass and sliced by bytes.

const START: char = '<';
const END: char = '>';

/// `<tok1><tok2>…` with per-character class, raw offset (-1 for delimiters) and a prefix count
/// of non-delimiters (to test "does this range hold a real character" in O(1)).
#[derive(Default)]
struct Embedded {
    chars: Vec<char>,
    class: Vec<u8>,
    map: Vec<i64>,
    nondelim_prefix: Vec<u32>,
}

impl Embedded {
    /// Refills the buffers from tokens `range` of `toks` (reusing their allocations).
    fn fill(&mut self, toks: &Toks, range: std::ops::Range<usize>) {
        self.chars.clear();
        self.class.clear();
        self.map.clear();
        self.nondelim_prefix.clear();
        let mut acc = 0u32;
        self.nondelim_prefix.push(0);
        for t in range {
            let start = toks.start(t);
            self.chars.push(START);
            self.class.push(0);
            self.map.push(-1);
            self.nondelim_prefix.push(acc);
            for (k, &c) in toks.norm(t).iter().enumerate() {
                self.chars.push(c);
                // A normalized token may itself contain '<' or '>' only if a custom normalizer
                // produced them; the default tokenizer never does (they are not \p{L}/\p{N}).
                self.class.push(if c == START || c == END {
                    0
                } else {
                    char_class(c)
                });
                self.map.push((start + k) as i64);
                acc += 1;
                self.nondelim_prefix.push(acc);
            }
            self.chars.push(END);
            self.class.push(0);
            self.map.push(-1);
            self.nondelim_prefix.push(acc);
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    /// Embedded positions `a..b` (with `a >= 0`) contain a non-delimiter.
    #[inline]
    fn has_real(&self, a: i32, b: i32) -> bool {
        if b <= a || a < 0 {
            return false;
        }
        match (
            self.nondelim_prefix.get(b as usize),
            self.nondelim_prefix.get(a as usize),
        ) {
            (Some(x), Some(y)) => x > y,
            _ => false,
        }
    }

    /// error-align `translate_slice`: raw span of the non-delimiters in `a..b`.
    fn translate(&self, a: usize, b: usize) -> Option<[usize; 2]> {
        let slice = self.map.get(a..b)?;
        let first = slice.iter().find(|&&x| x >= 0)?;
        let last = slice.iter().rev().find(|&&x| x >= 0)?;
        Some([*first as usize, *last as usize + 1])
    }
}

const ON_PATH: u8 = 1;
const UNAMBIGUOUS_END: u8 = 2;

/// Per-gap cell flags: on some optimal path of the character DP; end of an unambiguous token-span
/// match. Cell `(i, j)` = path position `(i - 1, j - 1)`.
#[derive(Default)]
struct GapGraph {
    width: usize,
    flags: Vec<u8>,
    // Work buffers (kept for reuse).
    f: Vec<u32>,
    next: Vec<u32>,
    cur: Vec<u32>,
    ends: Vec<(usize, usize)>,
    row_count: Vec<u32>,
    col_count: Vec<u32>,
}

impl GapGraph {
    fn build(&mut self, r: &Embedded, h: &Embedded) {
        let (nr, nh) = (r.len(), h.len());
        let w = nr + 1;
        self.width = w;
        let cost = |hc: char, rc: char| -> u32 {
            if hc == rc {
                0
            } else if hc == START || hc == END || rc == START || rc == END {
                3
            } else {
                2
            }
        };
        let f = &mut self.f;
        f.clear();
        f.resize((nh + 1) * w, 0);
        for (j, v) in f.iter_mut().take(w).enumerate() {
            *v = j as u32;
        }
        for i in 1..=nh {
            let hc = h.chars[i - 1];
            let (prev_rows, cur_rows) = f.split_at_mut(i * w);
            let prev = &prev_rows[(i - 1) * w..];
            let cur = &mut cur_rows[..w];
            cur[0] = i as u32;
            for j in 1..=nr {
                let d = prev[j - 1] + cost(hc, r.chars[j - 1]);
                cur[j] = d.min(prev[j] + 1).min(cur[j - 1] + 1);
            }
        }
        let total = f[nh * w + nr];
        self.flags.clear();
        self.flags.resize((nh + 1) * w, 0);
        // Backward distances, two rolling rows.
        self.next.clear();
        self.next.resize(w, 0);
        self.cur.clear();
        self.cur.resize(w, 0);
        for i in (0..=nh).rev() {
            for j in (0..=nr).rev() {
                self.cur[j] = if i == nh {
                    (nr - j) as u32
                } else if j == nr {
                    (nh - i) as u32
                } else {
                    let d = self.next[j + 1] + cost(h.chars[i], r.chars[j]);
                    d.min(self.next[j] + 1).min(self.cur[j + 1] + 1)
                };
                if f[i * w + j] + self.cur[j] == total {
                    self.flags[i * w + j] = ON_PATH;
                }
            }
            std::mem::swap(&mut self.next, &mut self.cur);
        }
        self.mark_unambiguous_span_ends(r, h);
    }

    #[inline]
    fn on_path(&self, i: usize, j: usize) -> bool {
        self.flags
            .get(i * self.width + j)
            .is_some_and(|&x| x & ON_PATH != 0)
    }

    /// error-align `get_unambiguous_token_span_matches`.
    fn mark_unambiguous_span_ends(&mut self, r: &Embedded, h: &Embedded) {
        let w = self.width;
        let (nr, nh) = (r.len(), h.len());
        let f = &self.f;
        let flags = &self.flags;
        let match_parent = |i: usize, j: usize| -> bool {
            i >= 1
                && j >= 1
                && i <= nh
                && j <= nr
                && flags[i * w + j] & ON_PATH != 0
                && h.chars[i - 1] == r.chars[j - 1]
                && f[(i - 1) * w + j - 1] == f[i * w + j]
        };
        self.ends.clear();
        self.row_count.clear();
        self.row_count.resize(nh + 2, 0);
        self.col_count.clear();
        self.col_count.resize(nr + 2, 0);
        for j in 1..=nr {
            if r.chars[j - 1] != START {
                continue;
            }
            for i in 1..=nh {
                if !match_parent(i, j) {
                    continue;
                }
                let (mut ii, mut jj) = (i + 1, j + 1);
                while ii <= nh && jj <= nr && match_parent(ii, jj) {
                    if r.chars[jj - 1] == END {
                        self.ends.push((ii, jj));
                        self.row_count[ii] += 1;
                        self.col_count[jj] += 1;
                        break;
                    }
                    ii += 1;
                    jj += 1;
                }
            }
        }
        for &(i, j) in &self.ends {
            if self.row_count[i] == 1 && self.col_count[j] == 1 {
                self.flags[i * w + j] |= UNAMBIGUOUS_END;
            }
        }
    }

    #[inline]
    fn unambiguous_end(&self, i: usize, j: usize) -> bool {
        self.flags
            .get(i * self.width + j)
            .is_some_and(|&x| x & UNAMBIGUOUS_END != 0)
    }
}

/// A closed segment: end positions and open cost at close, linked to the previous one.
#[derive(Clone, Copy)]
struct Segment {
    hyp_end: i32,
    ref_end: i32,
    open_cost: i32,
    prev: u32,
}

/// Top bit of [`Path::seg`]: the path's last step closed an unambiguous match segment.
const UNAMBIGUOUS_BIT: u32 = 1 << 31;
/// "No segment" in the low 31 bits of [`Path::seg`] (and [`Segment::prev`]).
const NO_SEG: u32 = UNAMBIGUOUS_BIT - 1;

/// A beam path (error-align `Path`), 32 bytes (copied for every child, so kept small).
/// Positions are embedded indices (-1 = before the first character); costs are integers (the
/// reference's f64 costs are always integral); segments are a linked list in the arena
/// `BeamBufs::segs` (shared prefixes, no copying). Not stored, because they follow from the
/// rest: error-align's `last_ref_idx`, which is always the last '>' at or before `refi` (see
/// `Search::expand`), and the cost (computed once per child and kept beside the candidate).
#[derive(Clone, Copy)]
struct Path {
    hyp: i32,
    refi: i32,
    last_hyp: i32,
    closed: i32,
    open: i32,
    /// Last segment's index in the arena (low 31 bits; an arena of 2^31 segments would take
    /// 32 GiB, far past any real gap) and error-align's `at_unambiguous_match_node` flag
    /// ([`UNAMBIGUOUS_BIT`]).
    seg: u32,
    sort_id: u64,
}

const SORT_ID_BASE: u64 = 146_527;

impl Path {
    #[inline]
    /// `ref_boundary`: `refi` is the path's last segment's ref end (see [`Path`]).
    fn compute_cost(&self, ref_boundary: bool) -> i32 {
        let extra = if !(ref_boundary || self.hyp == self.last_hyp) {
            self.open
        } else {
            0
        };
        self.closed + self.open + extra
    }
    /// error-align `norm_cost` (of this path with cost `c`) as f64 bits. Costs are >= 0, so
    /// the IEEE bit pattern orders exactly like the f64 value (0.0 is +0.0 here, never -0.0).
    #[inline]
    fn norm_cost_bits(&self, c: i32) -> u64 {
        if c == 0 {
            0
        } else {
            (f64::from(c) / f64::from(self.refi + self.hyp + 3)).to_bits()
        }
    }
    #[inline]
    fn child(&self, ref_step: i32, hyp_step: i32) -> Path {
        let mut c = *self;
        c.refi += ref_step;
        c.hyp += hyp_step;
        c.seg &= NO_SEG;
        c.sort_id = c
            .sort_id
            .wrapping_mul(SORT_ID_BASE)
            .wrapping_add((ref_step + ref_step + hyp_step) as u64);
        c
    }
    #[inline]
    /// Closes the open segment at hyp `h`; `sub`: it was a substitution (error-align
    /// `_is_substitution` at the reset).
    fn reset(&mut self, h: i32, sub: bool) {
        self.closed += self.open;
        if sub {
            self.closed += self.open;
        }
        self.last_hyp = h;
        self.open = 0;
    }
}

/// One slot of [`KeyTable`]: a key and its values, stored in place (one load per probe).
#[derive(Clone, Copy, Default)]
struct Slot {
    /// `(hyp + 1) * (ref len + 1) + (ref + 1)`.
    cell: u32,
    last_hyp: i32,
    /// Lowest cost seen for this key since the last clear (error-align's `prune_map`).
    best: i32,
    /// Iteration of the last write of `best`. Every such write also makes (or keeps) this
    /// key's candidate of that iteration (see `beam_search`), so `stamp == iteration` means
    /// "has a candidate now, at `idx`". The first write is the key's insertion, and stamps
    /// only grow, so `stamp <= KeyTable::cleared_at` also means "empty slot".
    stamp: u32,
    /// Index of this key's candidate in iteration `stamp`.
    idx: u32,
}

/// Map from a path's pruning key to the persistent best cost and this iteration's candidate
/// index. error-align's key is `(hyp, ref, last_hyp, last_ref)`; `last_ref` is a function of
/// `ref` (see [`Path`]), so `(hyp, ref, last_hyp)` identifies it. Open addressing (linear
/// probing) with the values in the slots. The table stays small (cache-resident) and clearing
/// is O(1): a slot written at or before `cleared_at` is empty. That is sound for linear probing
/// because every live slot was written after the last clear, so no live probe chain runs
/// through a slot that went stale after the chain was built.
struct KeyTable {
    slots: Vec<Slot>,
    shift: u32,
    width: usize,
    /// Live keys (written after `cleared_at`).
    live: usize,
    cleared_at: u32,
}

impl Default for KeyTable {
    fn default() -> Self {
        Self {
            slots: vec![Slot::default(); 1 << 10],
            shift: 64 - 10,
            width: 0,
            live: 0,
            cleared_at: 0,
        }
    }
}

impl KeyTable {
    /// Empties the table for a gap whose ref side has `width - 1` embedded characters. A
    /// table that a long gap grew past 2^14 slots goes back to 2^10 (small gaps run faster
    /// with a cache-resident table; typical gaps reuse their size without reallocating).
    fn reset(&mut self, width: usize, iter: u32) {
        const BITS: u32 = 10;
        if self.slots.len() > 1 << 14 {
            self.slots = vec![Slot::default(); 1 << BITS];
            self.shift = 64 - BITS;
        }
        self.width = width;
        self.clear(iter);
    }

    /// Forgets every key (error-align's `prune_map = dict()`) as of iteration `iter`.
    fn clear(&mut self, iter: u32) {
        self.live = 0;
        self.cleared_at = iter;
    }

    #[inline]
    fn hash(&self, cell: u32, lh: i32) -> usize {
        let x = (u64::from(cell) << 32) ^ u64::from(lh as u32);
        (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// Slot index for the key of `p`, inserting a fresh one (stamped `iter`; the caller makes
    /// its candidate at once) if new. Returns `(slot, existed)`.
    #[inline(always)]
    fn entry(&mut self, p: &Path, iter: u32) -> (usize, bool) {
        if 2 * (self.live + 1) > self.slots.len() {
            self.grow();
        }
        let cell = ((p.hyp + 1) as usize * self.width + (p.refi + 1) as usize) as u32;
        let mask = self.slots.len() - 1;
        let mut i = self.hash(cell, p.last_hyp);
        loop {
            let x = &self.slots[i];
            if x.stamp <= self.cleared_at {
                break;
            }
            if x.cell == cell && x.last_hyp == p.last_hyp {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot {
            cell,
            last_hyp: p.last_hyp,
            best: 0,
            stamp: iter,
            idx: 0,
        };
        self.live += 1;
        (i, false)
    }

    /// Doubles the table and re-inserts every live key.
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); n]);
        self.shift -= 1;
        let mask = n - 1;
        for x in old.into_iter().filter(|x| x.stamp > self.cleared_at) {
            let mut i = self.hash(x.cell, x.last_hyp);
            while self.slots[i].stamp > self.cleared_at {
                i = (i + 1) & mask;
            }
            self.slots[i] = x;
        }
    }
}

/// Beam-search buffers, reused across gaps.
#[derive(Default)]
struct BeamBufs {
    beam: Vec<Path>,
    cands: Vec<Path>,
    /// Sort keys `(norm_cost bits << 64) | sort_id` of `beam`, same order.
    beam_keys: Vec<u128>,
    /// Parent and cost of each candidate.
    cand_meta: Vec<Meta>,
    /// Cost of each beam path (and its parent, unused), same order as `beam`.
    beam_meta: Vec<Meta>,
    /// `(sort key, candidate index)` for the selection.
    sel: Vec<(u128, u32)>,
    segs: Vec<Segment>,
    table: KeyTable,
    /// Iteration counter, increasing across gaps (stamps in `table`; 0 = never written).
    iter: u32,
    /// Result: segment triples `(hyp_end, ref_end, open_cost)` of the best path, in order.
    out: Vec<(i32, i32, i32)>,
}

/// Everything one `error_align` call needs besides its inputs and outputs.
#[derive(Default)]
struct Scratch {
    text: TextBufs,
    gap: GapScratch,
}

/// Buffers of the character-level search of one gap.
#[derive(Default)]
struct GapScratch {
    r: Embedded,
    h: Embedded,
    graph: GapGraph,
    beam: BeamBufs,
}

impl GapScratch {
    /// Frees buffers that a very long gap grew (the scratch lives as long as its thread, so
    /// one huge `word_level_pass = false` alignment must not pin hundreds of MB).
    fn trim(&mut self) {
        const MAX_CELLS: usize = 1 << 22;
        const MAX_ITEMS: usize = 1 << 20;
        let g = &mut self.graph;
        if g.f.capacity() > MAX_CELLS || g.flags.capacity() > MAX_CELLS {
            g.f = Vec::new();
            g.flags = Vec::new();
        }
        let b = &mut self.beam;
        if b.segs.capacity() > MAX_ITEMS {
            b.segs = Vec::new();
        }
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch (a fresh one if it is already in use, e.g. re-entrantly).
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

struct Search<'a> {
    r: &'a Embedded,
    h: &'a Embedded,
    g: &'a GapGraph,
    segs: &'a mut Vec<Segment>,
}

impl Search<'_> {
    #[inline]
    fn push_seg(&mut self, p: &mut Path, h: i32, r: i32) {
        self.segs.push(Segment {
            hyp_end: h,
            ref_end: r,
            open_cost: p.open,
            prev: p.seg & NO_SEG,
        });
        p.seg = (self.segs.len() - 1) as u32;
    }

    #[inline]
    /// `at_last_ref`: `r` is the path's last segment's ref end (error-align's
    /// `ref_idx == last_ref_idx`), so the closed segment is an insertion.
    fn end_insertion_segment(&mut self, p: &mut Path, h: i32, r: i32, at_last_ref: bool) {
        if at_last_ref && self.h.has_real(p.last_hyp + 1, h + 1) {
            self.push_seg(p, h, r);
            p.reset(h, false);
        }
    }

    /// Returns false when the path must be dropped (hyp covered only delimiters).
    #[inline]
    fn end_segment(&mut self, p: &mut Path) -> bool {
        let (h, r) = (p.hyp, p.refi);
        if h != p.last_hyp {
            if !self.h.has_real(p.last_hyp + 1, h + 1) {
                return false;
            }
            let unambiguous =
                p.open == 0 && self.g.unambiguous_end((h + 1) as usize, (r + 1) as usize);
            self.push_seg(p, h, r);
            if unambiguous {
                p.seg |= UNAMBIGUOUS_BIT;
            }
        } else {
            self.push_seg(p, h, r);
        }
        // `r` is a new '>' (ref moved past the previous segment end), so the segment is a
        // substitution unless the hyp did not move.
        p.reset(h, h != p.last_hyp);
        true
    }

    /// Children in error-align's order: hyp step ("delete"), ref step ("insert"), diagonal.
    /// Each complete child (with its cost cached) is handed to `emit`.
    #[inline(always)]
    fn expand(&mut self, p: &Path, emit: &mut Offer<'_>) {
        let hyp_max = self.h.len() as i32 - 1;
        let ref_max = self.r.len() as i32 - 1;
        let backtrace = self.g.on_path((p.hyp + 1) as usize, (p.refi + 1) as usize);
        // The path's `last_ref` is the last '>' at or before `refi` (-1 before the first):
        // segments close on the ref side only at a '>', and every '>' the ref side reaches
        // closes one (or the path is dropped). So "refi == last_ref" is "refi is on a '>'".
        let at_last_ref = p.refi < 0 || self.r.chars.get(p.refi as usize) == Some(&END);
        // hyp step
        if p.hyp < hyp_max {
            let mut c = p.child(0, 1);
            let k = c.hyp as usize;
            let delim = self.h.class[k] == 0;
            c.open += if delim { 1 } else { 2 };
            if !(backtrace || delim) {
                c.open += 1;
            }
            if self.h.chars[k] == END {
                let (ch, cr) = (c.hyp, c.refi);
                self.end_insertion_segment(&mut c, ch, cr, at_last_ref);
            }
            let cost = c.compute_cost(at_last_ref);
            emit.offer(c, cost);
        }
        // ref step
        if p.refi < ref_max {
            let mut c = p.child(1, 0);
            let k = c.refi as usize;
            let rc = self.r.chars[k];
            if rc == START {
                self.end_insertion_segment(&mut c, p.hyp, p.refi, at_last_ref);
            }
            let delim = self.r.class[k] == 0;
            c.open += if delim { 1 } else { 2 };
            if !(backtrace || delim) {
                c.open += 1;
            }
            if rc != END || self.end_segment(&mut c) {
                let cost = c.compute_cost(rc == END);
                emit.offer(c, cost);
            }
        }
        // diagonal
        if p.refi < ref_max && p.hyp < hyp_max {
            let mut c = p.child(1, 1);
            let (kr, kh) = (c.refi as usize, c.hyp as usize);
            let rc = self.r.chars[kr];
            let is_match = rc == self.h.chars[kh];
            let (rcl, hcl) = (self.r.class[kr], self.h.class[kh]);
            if !is_match && (rcl == 0 || hcl == 0) {
                return;
            }
            if rc == START {
                self.end_insertion_segment(&mut c, p.hyp, p.refi, at_last_ref);
            }
            if !is_match {
                c.open += if rcl == hcl { 2 } else { 3 };
                if !backtrace {
                    c.open += 1;
                }
            }
            if rc != END || self.end_segment(&mut c) {
                let cost = c.compute_cost(rc == END);
                emit.offer(c, cost);
            }
        }
    }
}

/// A candidate's parent (index in the beam) and cost, kept beside the candidate.
#[derive(Clone, Copy)]
struct Meta {
    parent: u32,
    cost: i32,
}

/// Where `Search::expand` sends children: the pruning map and this iteration's candidates
/// (a struct with an always-inlined method, so each child stays in registers).
struct Offer<'a> {
    table: &'a mut KeyTable,
    cands: &'a mut Vec<Path>,
    cand_meta: &'a mut Vec<Meta>,
    beam_keys: &'a [u128],
    iter: u32,
    /// Index of the parent in the beam.
    pi: usize,
}

impl Offer<'_> {
    /// Offers child `c` of beam path `pi` to the pruning map and this iteration's candidates.
    #[inline(always)]
    fn offer(&mut self, c: Path, cost: i32) {
        let Offer {
            table,
            cands,
            cand_meta,
            beam_keys,
            iter,
            pi,
        } = self;
        let (iter, pi) = (*iter, *pi);
        // prune_map: drop if a strictly cheaper path had this key; else record cost.
        let (i, existed) = table.entry(&c, iter);
        let slot = &mut table.slots[i];
        if existed && cost > slot.best {
            return;
        }
        slot.best = cost;
        // new_beam: one candidate per key, the cheapest; among equal costs the one
        // expanded first. error-align expands the beam in sorted order; this beam is
        // kept unsorted, so "expanded first" = "parent with the smaller sort key"
        // (keys are unique, see below). Within one iteration the outcome of both maps
        // does not depend on the visiting order otherwise: `best` ends as the minimum
        // and the candidate as the first minimal child.
        if existed && slot.stamp == iter {
            let k = slot.idx as usize;
            // Here `best` equaled the stored candidate's cost, so cost <= it.
            let m = &mut cand_meta[k];
            if cost < m.cost || beam_keys[pi] < beam_keys[m.parent as usize] {
                cands[k] = c;
                *m = Meta {
                    parent: pi as u32,
                    cost,
                };
            }
        } else {
            slot.stamp = iter;
            slot.idx = cands.len() as u32;
            cands.push(c);
            cand_meta.push(Meta {
                parent: pi as u32,
                cost,
            });
        }
    }
}

/// error-align `error_align_beam_search`; leaves the best path's segment triples in `b.out`.
fn beam_search(
    r: &Embedded,
    h: &Embedded,
    g: &GapGraph,
    beam_size: usize,
    b: &mut BeamBufs,
) -> Result<()> {
    let hyp_max = h.len() as i32 - 1;
    let ref_max = r.len() as i32 - 1;
    b.segs.clear();
    if b.iter >= u32::MAX.saturating_sub((h.len() + r.len() + 2) as u32) {
        // Iteration stamps would wrap during this gap: start them again from 0.
        b.table.slots.fill(Slot::default());
        b.iter = 0;
    }
    b.table.reset(r.len() + 1, b.iter);
    b.beam.clear();
    b.beam.push(Path {
        hyp: -1,
        refi: -1,
        last_hyp: -1,
        closed: 0,
        open: 0,
        seg: NO_SEG,
        sort_id: 0,
    });
    b.beam_meta.clear();
    b.beam_meta.push(Meta { parent: 0, cost: 0 });
    b.beam_keys.clear();
    b.beam_keys.push(0);
    let mut s = Search {
        r,
        h,
        g,
        segs: &mut b.segs,
    };
    // Only the minimum of `ended` by (cost, sort_id) is ever used; sort ids of distinct paths
    // differ (they encode the move sequence), so a running minimum equals the sorted first.
    let mut best_end: Option<(i32, Path)> = None;
    let table = &mut b.table;
    let cands = &mut b.cands;
    let cand_meta = &mut b.cand_meta;
    while !b.beam.is_empty() {
        // Each iteration consumes at least one character, so this cannot pass the check above.
        b.iter += 1;
        let iter = b.iter;
        cands.clear();
        cand_meta.clear();
        let beam_keys = &b.beam_keys;
        for (pi, (p, m)) in b.beam.iter().zip(&b.beam_meta).enumerate() {
            if p.hyp == hyp_max && p.refi == ref_max {
                if best_end.is_none_or(|(ec, e)| (m.cost, p.sort_id) < (ec, e.sort_id)) {
                    best_end = Some((m.cost, *p));
                }
                continue;
            }
            let mut sink = Offer {
                table: &mut *table,
                cands: &mut *cands,
                cand_meta: &mut *cand_meta,
                beam_keys,
                iter,
                pi,
            };
            s.expand(p, &mut sink);
        }
        // Keep the `beam_size` smallest by (norm_cost, sort_id), packed into one u128 (f64
        // bits of a non-negative value order like the value). The key is unique per candidate
        // (distinct paths have distinct sort ids), so selection picks exactly the set the
        // reference's sort-and-truncate keeps; their order is not needed (see above), only
        // the first one.
        let key = |c: &Path, m: &Meta| {
            (u128::from(c.norm_cost_bits(m.cost)) << 64) | u128::from(c.sort_id)
        };
        let mut first = 0;
        if cands.len() <= beam_size {
            // Everything survives (the usual case): the candidates become the beam as they are.
            b.beam_keys.clear();
            for (j, (c, m)) in cands.iter().zip(cand_meta.iter()).enumerate() {
                let k = key(c, m);
                if b.beam_keys.get(first).is_some_and(|&f| k < f) {
                    first = j;
                }
                b.beam_keys.push(k);
            }
            std::mem::swap(&mut b.beam, cands);
            std::mem::swap(&mut b.beam_meta, cand_meta);
        } else {
            b.sel.clear();
            b.sel.extend(
                cands
                    .iter()
                    .zip(cand_meta.iter())
                    .enumerate()
                    .map(|(i, (c, m))| (key(c, m), i as u32)),
            );
            b.sel.select_nth_unstable(beam_size - 1);
            b.sel.truncate(beam_size);
            b.beam.clear();
            b.beam_meta.clear();
            b.beam_keys.clear();
            for (j, &(k, i)) in b.sel.iter().enumerate() {
                if k < b.sel[first].0 {
                    first = j;
                }
                b.beam.push(cands[i as usize]);
                b.beam_meta.push(cand_meta[i as usize]);
                b.beam_keys.push(k);
            }
        }
        if b.beam
            .get(first)
            .is_some_and(|p| p.seg & UNAMBIGUOUS_BIT != 0)
        {
            b.beam.swap(0, first);
            b.beam.truncate(1);
            b.beam_meta.swap(0, first);
            b.beam_meta.truncate(1);
            b.beam_keys.swap(0, first);
            b.beam_keys.truncate(1);
            table.clear(iter);
        }
    }
    let (_, best_end) = best_end.ok_or(Error::BeamSearchFailed)?;
    b.out.clear();
    let mut k = best_end.seg & NO_SEG;
    while let Some(sg) = b.segs.get(k as usize) {
        b.out.push((sg.hyp_end, sg.ref_end, sg.open_cost));
        k = sg.prev;
    }
    b.out.reverse();
    Ok(())
}

fn segments_to_ops(
    segs: &[(i32, i32, i32)],
    r: &Embedded,
    h: &Embedded,
    ref_raw: Raw<'_>,
    hyp_raw: Raw<'_>,
    out: &mut Vec<AlignOp>,
) {
    let (mut sh, mut sr) = (0usize, 0usize);
    let text = |raw: Raw<'_>, span: Option<[usize; 2]>| span.map(|[a, b]| raw.sub(a, b));
    for &(eh, er, score) in segs {
        let (eh, er) = ((eh + 1) as usize, (er + 1) as usize);
        let compound = |k: usize| h.map.get(k).is_some_and(|&x| x >= 0);
        let op = if sh == eh {
            let rs = r.translate(sr, er);
            AlignOp {
                op_type: OpType::Delete,
                ref_text: text(ref_raw, rs),
                hyp_text: None,
                ref_span: rs,
                hyp_span: None,
                left_compound: false,
                right_compound: false,
            }
        } else if sr == er {
            let hs = h.translate(sh, eh);
            AlignOp {
                op_type: OpType::Insert,
                ref_text: None,
                hyp_text: text(hyp_raw, hs),
                ref_span: None,
                hyp_span: hs,
                left_compound: compound(sh),
                right_compound: compound(eh - 1),
            }
        } else {
            let hs = h.translate(sh, eh);
            let rs = r.translate(sr, er);
            let is_match = score == 0;
            AlignOp {
                op_type: if is_match {
                    OpType::Match
                } else {
                    OpType::Substitute
                },
                ref_text: text(ref_raw, rs),
                hyp_text: text(hyp_raw, hs),
                ref_span: rs,
                hyp_span: hs,
                // A zero-cost segment starts and ends on hyp delimiters, so MATCH never carries
                // compound flags (error-align would reject one).
                left_compound: !is_match && compound(sh),
                right_compound: !is_match && compound(eh - 1),
            }
        };
        out.push(op);
        sh = eh;
        sr = er;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(ops: &[AlignOp]) -> Vec<(OpType, Option<String>, Option<String>)> {
        ops.iter()
            .map(|o| (o.op_type, o.ref_text.clone(), o.hyp_text.clone()))
            .collect()
    }

    #[test]
    fn compound_merge_is_one_substitute() {
        let ops = error_align(
            "I like icecream",
            "I like ice cream",
            &AlignOptions::default(),
        )
        .unwrap();
        let s = show(&ops);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[2],
            (
                OpType::Substitute,
                Some("icecream".into()),
                Some("ice cream".into())
            )
        );
    }

    #[test]
    fn ascii_tokens_match_generic_path() {
        let texts = [
            "3.14 x 3.14. 1.2.3-beta 1,000,000 7, 8 9.",
            "'tis students' rock'n'roll don't '' a'' 12ab ab12 1.2a",
            "  Hello,\tWORLD!\n\x0b42\x1c 5\x1f 6\x0c7\r",
            "",
            "...",
        ];
        for t in texts {
            let chars: Vec<char> = t.chars().collect();
            let mut fast = Toks::default();
            fast.fill(&chars, t);
            let mut slow = Toks::default();
            // A non-ASCII `s` of the same text forces the generic path.
            tokenize_spans_into(&chars, &mut slow.spans);
            for &(a, b) in &slow.spans {
                slow.off.push(slow.norm.len());
                normalize_into(&chars[a..b], &mut slow.norm);
            }
            assert_eq!(fast.spans, slow.spans, "{t:?}");
            assert_eq!(fast.norm, slow.norm, "{t:?}");
            assert_eq!(fast.off, slow.off, "{t:?}");
        }
    }

    #[test]
    fn zero_beam_rejected() {
        let e = error_align("a", "b", &AlignOptions::default().beam_size(0));
        assert!(matches!(e, Err(Error::InvalidBeamSize)));
    }
}
