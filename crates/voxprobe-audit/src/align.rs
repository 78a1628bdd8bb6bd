//! Port of error-align 0.1.0b10 (`error_align.error_align`): word-level anchors, character-level
//! beam search, segments → ops with compound flags. Output is op-for-op identical to the Python
//! package (checked on committed fixtures for four variants).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::levenshtein::{editops, EditTag};
use crate::text::{char_class, tokenize, Token};
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
    let rc: Vec<char> = reference.chars().collect();
    let hc: Vec<char> = hypothesis.chars().collect();
    let rt = tokenize(&rc);
    let ht = tokenize(&hc);
    let input = Input {
        ref_raw: &rc,
        hyp_raw: &hc,
        ref_tokens: &rt,
        hyp_tokens: &ht,
    };
    let identical = rt.len() == ht.len() && rt.iter().zip(ht.iter()).all(|(a, b)| a.norm == b.norm);
    if identical {
        return Ok((0..rt.len()).map(|i| input.match_op(i, i)).collect());
    }
    if !opts.word_level_pass {
        return input.beam_gap(0, rt.len(), 0, ht.len(), opts.beam_size);
    }
    let anchors = match opts.word_level_method {
        WordLevelMethod::Rapidfuzz => rapidfuzz_anchors(&rt, &ht),
        WordLevelMethod::Unambiguous => unambiguous_anchors(&rt, &ht),
    };
    input.align_from_anchors(&anchors, opts.beam_size)
}

struct Input<'a> {
    ref_raw: &'a [char],
    hyp_raw: &'a [char],
    ref_tokens: &'a [Token],
    hyp_tokens: &'a [Token],
}

fn substr(chars: &[char], a: usize, b: usize) -> String {
    chars.get(a..b).unwrap_or(&[]).iter().collect()
}

impl Input<'_> {
    fn match_op(&self, r: usize, h: usize) -> AlignOp {
        let rt = &self.ref_tokens[r];
        let ht = &self.hyp_tokens[h];
        AlignOp {
            op_type: OpType::Match,
            ref_text: Some(substr(self.ref_raw, rt.start, rt.end)),
            hyp_text: Some(substr(self.hyp_raw, ht.start, ht.end)),
            ref_span: Some([rt.start, rt.end]),
            hyp_span: Some([ht.start, ht.end]),
            left_compound: false,
            right_compound: false,
        }
    }

    fn align_from_anchors(&self, anchors: &[(usize, usize)], beam: usize) -> Result<Vec<AlignOp>> {
        let mut out = Vec::new();
        let (mut hs, mut rs) = (0usize, 0usize);
        let terminal = (self.hyp_tokens.len(), self.ref_tokens.len());
        for (k, &(he, re)) in anchors.iter().chain(std::iter::once(&terminal)).enumerate() {
            let ref_empty = rs == re;
            let hyp_empty = hs == he;
            if !ref_empty && !hyp_empty {
                out.extend(self.beam_gap(rs, re, hs, he, beam)?);
            } else if ref_empty && !hyp_empty {
                for t in &self.hyp_tokens[hs..he] {
                    out.push(AlignOp {
                        op_type: OpType::Insert,
                        ref_text: None,
                        hyp_text: Some(substr(self.hyp_raw, t.start, t.end)),
                        ref_span: None,
                        hyp_span: Some([t.start, t.end]),
                        left_compound: false,
                        right_compound: false,
                    });
                }
            } else if hyp_empty && !ref_empty {
                for t in &self.ref_tokens[rs..re] {
                    out.push(AlignOp {
                        op_type: OpType::Delete,
                        ref_text: Some(substr(self.ref_raw, t.start, t.end)),
                        hyp_text: None,
                        ref_span: Some([t.start, t.end]),
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

    fn beam_gap(
        &self,
        rs: usize,
        re: usize,
        hs: usize,
        he: usize,
        beam: usize,
    ) -> Result<Vec<AlignOp>> {
        let r = Embedded::new(&self.ref_tokens[rs..re]);
        let h = Embedded::new(&self.hyp_tokens[hs..he]);
        let g = GapGraph::new(&r, &h);
        let segs = beam_search(&r, &h, &g, beam)?;
        Ok(segments_to_ops(&segs, &r, &h, self.ref_raw, self.hyp_raw))
    }
}

// ------------------------------------------------------------------------------------------
// Word-level passes
// ------------------------------------------------------------------------------------------

fn token_ids(rt: &[Token], ht: &[Token]) -> (Vec<u32>, Vec<u32>) {
    let mut map: HashMap<&[char], u32> = HashMap::new();
    let mut r = Vec::with_capacity(rt.len());
    for t in rt {
        let n = map.len() as u32;
        r.push(*map.entry(t.norm.as_slice()).or_insert(n));
    }
    let mut h = Vec::with_capacity(ht.len());
    for t in ht {
        let n = map.len() as u32;
        h.push(*map.entry(t.norm.as_slice()).or_insert(n));
    }
    (r, h)
}

/// Anchors `(hyp_idx, ref_idx)` from the complement of RapidFuzz's editops.
fn rapidfuzz_anchors(rt: &[Token], ht: &[Token]) -> Vec<(usize, usize)> {
    let (r, h) = token_ids(rt, ht);
    let ops = editops(&r, &h);
    let mut ref_edit = vec![false; r.len()];
    let mut hyp_edit = vec![false; h.len()];
    for op in &ops {
        if op.tag != EditTag::Insert {
            if let Some(x) = ref_edit.get_mut(op.src_pos) {
                *x = true;
            }
        }
        if op.tag != EditTag::Delete {
            if let Some(x) = hyp_edit.get_mut(op.dest_pos) {
                *x = true;
            }
        }
    }
    let rm = (0..r.len()).filter(|&i| !ref_edit[i]);
    let hm = (0..h.len()).filter(|&i| !hyp_edit[i]);
    rm.zip(hm).map(|(ri, hi)| (hi, ri)).collect()
}

/// Anchors shared by all optimal word alignments (error-align `get_unambiguous_node_matches`).
fn unambiguous_anchors(rt: &[Token], ht: &[Token]) -> Vec<(usize, usize)> {
    let (r, h) = token_ids(rt, ht);
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
    let mut out: Vec<(usize, usize)> = candidates
        .into_iter()
        .filter(|&(i, j)| ref_count[j] == 1 && hyp_count[i] == 1)
        .map(|(i, j)| (i - 1, j - 1))
        .collect();
    out.sort_by_key(|&(_, rj)| rj);
    out
}

// ------------------------------------------------------------------------------------------
// Character level
// ------------------------------------------------------------------------------------------

const START: char = '<';
const END: char = '>';

/// `<tok1><tok2>…` with per-character class, raw offset (-1 for delimiters) and a prefix count
/// of non-delimiters (to test "does this range hold a real character" in O(1)).
struct Embedded {
    chars: Vec<char>,
    class: Vec<u8>,
    map: Vec<i64>,
    nondelim_prefix: Vec<u32>,
}

impl Embedded {
    fn new(tokens: &[Token]) -> Self {
        let len: usize = tokens.iter().map(|t| t.norm.len() + 2).sum();
        let mut chars = Vec::with_capacity(len);
        let mut map = Vec::with_capacity(len);
        for t in tokens {
            chars.push(START);
            map.push(-1);
            for (k, &c) in t.norm.iter().enumerate() {
                chars.push(c);
                map.push((t.start + k) as i64);
            }
            chars.push(END);
            map.push(-1);
        }
        let class: Vec<u8> = chars
            .iter()
            .map(|&c| {
                if c == START || c == END {
                    0
                } else {
                    char_class(c)
                }
            })
            .collect();
        let mut nondelim_prefix = Vec::with_capacity(len + 1);
        let mut acc = 0u32;
        nondelim_prefix.push(0);
        for &m in &map {
            acc += u32::from(m >= 0);
            nondelim_prefix.push(acc);
        }
        Self {
            chars,
            class,
            map,
            nondelim_prefix,
        }
    }

    fn len(&self) -> usize {
        self.chars.len()
    }

    /// Embedded positions `a..b` contain a non-delimiter.
    fn has_real(&self, a: i64, b: i64) -> bool {
        if b <= a || a < 0 {
            return false;
        }
        let (a, b) = (a as usize, b as usize);
        match (self.nondelim_prefix.get(b), self.nondelim_prefix.get(a)) {
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
struct GapGraph {
    width: usize,
    flags: Vec<u8>,
}

impl GapGraph {
    fn new(r: &Embedded, h: &Embedded) -> Self {
        let (nr, nh) = (r.len(), h.len());
        let w = nr + 1;
        let cost = |hc: char, rc: char| -> u32 {
            if hc == rc {
                0
            } else if hc == START || hc == END || rc == START || rc == END {
                3
            } else {
                2
            }
        };
        let mut f = vec![0u32; (nh + 1) * w];
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
        let mut flags = vec![0u8; (nh + 1) * w];
        // Backward distances, two rolling rows.
        let mut next = vec![0u32; w];
        let mut cur = vec![0u32; w];
        for i in (0..=nh).rev() {
            for j in (0..=nr).rev() {
                cur[j] = if i == nh {
                    (nr - j) as u32
                } else if j == nr {
                    (nh - i) as u32
                } else {
                    let d = next[j + 1] + cost(h.chars[i], r.chars[j]);
                    d.min(next[j] + 1).min(cur[j + 1] + 1)
                };
                if f[i * w + j] + cur[j] == total {
                    flags[i * w + j] = ON_PATH;
                }
            }
            std::mem::swap(&mut next, &mut cur);
        }
        let mut g = Self { width: w, flags };
        g.mark_unambiguous_span_ends(r, h, &f);
        g
    }

    fn on_path(&self, i: usize, j: usize) -> bool {
        self.flags
            .get(i * self.width + j)
            .is_some_and(|&x| x & ON_PATH != 0)
    }

    /// error-align `get_unambiguous_token_span_matches`.
    fn mark_unambiguous_span_ends(&mut self, r: &Embedded, h: &Embedded, f: &[u32]) {
        let w = self.width;
        let (nr, nh) = (r.len(), h.len());
        let match_parent = |g: &Self, i: usize, j: usize| -> bool {
            i >= 1
                && j >= 1
                && i <= nh
                && j <= nr
                && g.on_path(i, j)
                && h.chars[i - 1] == r.chars[j - 1]
                && f[(i - 1) * w + j - 1] == f[i * w + j]
        };
        let mut ends = Vec::new();
        let mut row_count = vec![0u32; nh + 2];
        let mut col_count = vec![0u32; nr + 2];
        for j in 1..=nr {
            if r.chars[j - 1] != START {
                continue;
            }
            for i in 1..=nh {
                if !match_parent(self, i, j) {
                    continue;
                }
                let (mut ii, mut jj) = (i + 1, j + 1);
                while ii <= nh && jj <= nr && match_parent(self, ii, jj) {
                    if r.chars[jj - 1] == END {
                        ends.push((ii, jj));
                        row_count[ii] += 1;
                        col_count[jj] += 1;
                        break;
                    }
                    ii += 1;
                    jj += 1;
                }
            }
        }
        for (i, j) in ends {
            if row_count[i] == 1 && col_count[j] == 1 {
                self.flags[i * w + j] |= UNAMBIGUOUS_END;
            }
        }
    }

    fn unambiguous_end(&self, i: usize, j: usize) -> bool {
        self.flags
            .get(i * self.width + j)
            .is_some_and(|&x| x & UNAMBIGUOUS_END != 0)
    }
}

/// A closed segment: end positions and open cost at close, linked to the previous one.
#[derive(Clone, Copy)]
struct Segment {
    hyp_end: i64,
    ref_end: i64,
    open_cost: i64,
    prev: u32,
}

const NO_SEG: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Path {
    hyp: i64,
    refi: i64,
    last_hyp: i64,
    last_ref: i64,
    closed: i64,
    open: i64,
    at_unambiguous: bool,
    seg: u32,
    sort_id: u64,
}

const SORT_ID_BASE: u64 = 146_527;

fn is_sub(h: i64, r: i64, lh: i64, lr: i64) -> bool {
    !(r == lr || h == lh)
}

impl Path {
    fn cost(&self) -> i64 {
        let extra = if is_sub(self.hyp, self.refi, self.last_hyp, self.last_ref) {
            self.open
        } else {
            0
        };
        self.closed + self.open + extra
    }
    fn norm_cost(&self) -> f64 {
        let c = self.cost();
        if c == 0 {
            0.0
        } else {
            c as f64 / (self.refi + self.hyp + 3) as f64
        }
    }
    fn key(&self) -> (i64, i64, i64, i64) {
        (self.hyp, self.refi, self.last_hyp, self.last_ref)
    }
    fn child(&self, ref_step: i64, hyp_step: i64) -> Path {
        let mut c = *self;
        c.refi += ref_step;
        c.hyp += hyp_step;
        c.at_unambiguous = false;
        c.sort_id = c
            .sort_id
            .wrapping_mul(SORT_ID_BASE)
            .wrapping_add((ref_step + ref_step + hyp_step) as u64);
        c
    }
    fn reset(&mut self, h: i64, r: i64) {
        self.closed += self.open;
        if is_sub(h, r, self.last_hyp, self.last_ref) {
            self.closed += self.open;
        }
        self.last_hyp = h;
        self.last_ref = r;
        self.open = 0;
    }
}

struct Search<'a> {
    r: &'a Embedded,
    h: &'a Embedded,
    g: &'a GapGraph,
    segs: Vec<Segment>,
}

impl Search<'_> {
    fn push_seg(&mut self, p: &mut Path, h: i64, r: i64) {
        self.segs.push(Segment {
            hyp_end: h,
            ref_end: r,
            open_cost: p.open,
            prev: p.seg,
        });
        p.seg = (self.segs.len() - 1) as u32;
    }

    fn end_insertion_segment(&mut self, p: &mut Path, h: i64, r: i64) {
        if self.h.has_real(p.last_hyp + 1, h + 1) && r == p.last_ref {
            self.push_seg(p, h, r);
            p.reset(h, r);
        }
    }

    /// Returns false when the path must be dropped (hyp covered only delimiters).
    fn end_segment(&mut self, p: &mut Path) -> bool {
        let (h, r) = (p.hyp, p.refi);
        if h != p.last_hyp {
            if !self.h.has_real(p.last_hyp + 1, h + 1) {
                return false;
            }
            p.at_unambiguous =
                p.open == 0 && self.g.unambiguous_end((h + 1) as usize, (r + 1) as usize);
        }
        self.push_seg(p, h, r);
        p.reset(h, r);
        true
    }

    fn on_path(&self, p: &Path) -> bool {
        self.g.on_path((p.hyp + 1) as usize, (p.refi + 1) as usize)
    }

    /// Children in error-align's order: hyp step ("delete"), ref step ("insert"), diagonal.
    fn expand(&mut self, p: &Path, out: &mut [Option<Path>; 3]) {
        let hyp_max = self.h.len() as i64 - 1;
        let ref_max = self.r.len() as i64 - 1;
        let backtrace = self.on_path(p);
        *out = [None, None, None];
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
                self.end_insertion_segment(&mut c, ch, cr);
            }
            out[0] = Some(c);
        }
        // ref step
        if p.refi < ref_max {
            let mut c = p.child(1, 0);
            let k = c.refi as usize;
            if self.r.chars[k] == START {
                self.end_insertion_segment(&mut c, p.hyp, p.refi);
            }
            let delim = self.r.class[k] == 0;
            c.open += if delim { 1 } else { 2 };
            if !(backtrace || delim) {
                c.open += 1;
            }
            let keep = if self.r.chars[k] == END {
                self.end_segment(&mut c)
            } else {
                true
            };
            if keep {
                out[1] = Some(c);
            }
        }
        // diagonal
        if p.refi < ref_max && p.hyp < hyp_max {
            let mut c = p.child(1, 1);
            let (kr, kh) = (c.refi as usize, c.hyp as usize);
            let rc = self.r.chars[kr];
            let is_match = rc == self.h.chars[kh];
            if !is_match && (self.r.class[kr] == 0 || self.h.class[kh] == 0) {
                return;
            }
            if rc == START {
                self.end_insertion_segment(&mut c, p.hyp, p.refi);
            }
            if !is_match {
                c.open += if self.r.class[kr] == self.h.class[kh] {
                    2
                } else {
                    3
                };
                if !backtrace {
                    c.open += 1;
                }
            }
            let keep = if rc == END {
                self.end_segment(&mut c)
            } else {
                true
            };
            if keep {
                out[2] = Some(c);
            }
        }
    }
}

/// FxHash-style hasher: the beam's keys are small integer tuples, SipHash is needlessly slow.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Segment triples `(hyp_end, ref_end, open_cost)` of the best path, in order.
fn beam_search(
    r: &Embedded,
    h: &Embedded,
    g: &GapGraph,
    beam_size: usize,
) -> Result<Vec<(i64, i64, i64)>> {
    let mut s = Search {
        r,
        h,
        g,
        segs: Vec::new(),
    };
    let hyp_max = h.len() as i64 - 1;
    let ref_max = r.len() as i64 - 1;
    let mut beam = vec![Path {
        hyp: -1,
        refi: -1,
        last_hyp: -1,
        last_ref: -1,
        closed: 0,
        open: 0,
        at_unambiguous: false,
        seg: NO_SEG,
        sort_id: 0,
    }];
    let mut best: FxMap<(i64, i64, i64, i64), i64> = FxMap::default();
    let mut cand_idx: FxMap<(i64, i64, i64, i64), usize> = FxMap::default();
    let mut cands: Vec<(f64, u64, i64, Path)> = Vec::new();
    let mut ended: Vec<Path> = Vec::new();
    let mut children = [None, None, None];
    while !beam.is_empty() {
        cands.clear();
        cand_idx.clear();
        for p in &beam {
            if p.hyp == hyp_max && p.refi == ref_max {
                ended.push(*p);
                continue;
            }
            s.expand(p, &mut children);
            for c in children.iter().flatten() {
                let cost = c.cost();
                let key = c.key();
                if let Some(&b) = best.get(&key) {
                    if cost > b {
                        continue;
                    }
                }
                best.insert(key, cost);
                match cand_idx.get(&key) {
                    None => {
                        cand_idx.insert(key, cands.len());
                        cands.push((c.norm_cost(), c.sort_id, cost, *c));
                    }
                    Some(&i) => {
                        if let Some(slot) = cands.get_mut(i) {
                            if cost < slot.2 {
                                *slot = (c.norm_cost(), c.sort_id, cost, *c);
                            }
                        }
                    }
                }
            }
        }
        cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        cands.truncate(beam_size);
        beam.clear();
        beam.extend(cands.iter().map(|c| c.3));
        if beam.first().is_some_and(|p| p.at_unambiguous) {
            beam.truncate(1);
            best.clear();
        }
    }
    let best_end = ended
        .iter()
        .min_by(|a, b| a.cost().cmp(&b.cost()).then(a.sort_id.cmp(&b.sort_id)))
        .ok_or(Error::BeamSearchFailed)?;
    let mut out = Vec::new();
    let mut k = best_end.seg;
    while let Some(sg) = s.segs.get(k as usize) {
        out.push((sg.hyp_end, sg.ref_end, sg.open_cost));
        k = sg.prev;
    }
    out.reverse();
    Ok(out)
}

fn segments_to_ops(
    segs: &[(i64, i64, i64)],
    r: &Embedded,
    h: &Embedded,
    ref_raw: &[char],
    hyp_raw: &[char],
) -> Vec<AlignOp> {
    let mut out = Vec::with_capacity(segs.len());
    let (mut sh, mut sr) = (0usize, 0usize);
    let text = |raw: &[char], span: Option<[usize; 2]>| span.map(|[a, b]| substr(raw, a, b));
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
    out
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
    fn zero_beam_rejected() {
        let e = error_align("a", "b", &AlignOptions::default().beam_size(0));
        assert!(matches!(e, Err(Error::InvalidBeamSize)));
    }
}
