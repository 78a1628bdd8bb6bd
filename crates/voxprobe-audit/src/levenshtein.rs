//! Unit-cost Levenshtein alignment with RapidFuzz 3.14's choice among co-optimal alignments.
//!
//! jiwer 4.0 counts hits/substitutions/deletions/insertions from `Levenshtein.opcodes`, and
//! error-align's default word-level pass anchors on the matches of `Levenshtein.editops`, so
//! both depend on which optimal path RapidFuzz's backtrace prefers. This is that backtrace on a
//! plain DP matrix (RapidFuzz uses Hyyrö bit vectors; the vertical deltas it reads are the same).

use serde::{Deserialize, Serialize};

/// Kind of one edit operation (turning the first sequence into the second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EditTag {
    /// Item of sequence 1 deleted.
    Delete,
    /// Item of sequence 2 inserted.
    Insert,
    /// Item of sequence 1 replaced by an item of sequence 2.
    Replace,
}

/// One edit op: tag, position in sequence 1 and position in sequence 2 (RapidFuzz `Editop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditOp {
    /// What the op does.
    pub tag: EditTag,
    /// Position in sequence 1 (reference).
    pub src_pos: usize,
    /// Position in sequence 2 (hypothesis).
    pub dest_pos: usize,
}

/// Kind of an opcode block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpcodeTag {
    /// Equal items.
    Equal,
    /// Replaced items.
    Replace,
    /// Deleted items (sequence 1 only).
    Delete,
    /// Inserted items (sequence 2 only).
    Insert,
}

/// One opcode block `(tag, src_start, src_end, dest_start, dest_end)` (RapidFuzz `Opcode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opcode {
    /// Block kind.
    pub tag: OpcodeTag,
    /// Start in sequence 1.
    pub src_start: usize,
    /// End (exclusive) in sequence 1.
    pub src_end: usize,
    /// Start in sequence 2.
    pub dest_start: usize,
    /// End (exclusive) in sequence 2.
    pub dest_end: usize,
}

/// FxHash (rustc's hasher): items here are short strings, chars and small integers, for which
/// SipHash's DoS resistance is not needed and its cost dominated the word-level pass.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_K);
    }
}

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// RapidFuzz `Levenshtein.editops(s1, s2)`.
///
/// Items are mapped to dense ids (equality is all that matters), then the id-based routine runs.
pub fn editops<T: Eq + std::hash::Hash>(s1: &[T], s2: &[T]) -> Vec<EditOp> {
    let mut ids: FxMap<&T, u32> = FxMap::default();
    let a: Vec<u32> = s1
        .iter()
        .map(|x| {
            let n = ids.len() as u32;
            *ids.entry(x).or_insert(n)
        })
        .collect();
    let n_ids = ids.len();
    // Items only in `s2` never equal an `s1` item; they share the id `n_ids` (it is only
    // ever compared with `s1` ids) and get an all-zero match row.
    let b: Vec<u32> = s2
        .iter()
        .map(|x| ids.get(x).copied().unwrap_or(n_ids as u32))
        .collect();
    editops_ids(&a, &b, n_ids)
}

/// [`editops`] on dense ids: every id of `s1` is `< n_ids`; ids of `s2` may be larger (they
/// then match nothing).
///
/// Hyyrö's bit-parallel DP (as RapidFuzz: O(⌈n/64⌉·m) time, vertical delta bit vectors per
/// column) followed by RapidFuzz's backtrace, which reads exactly those bits.
pub(crate) fn editops_ids(s1: &[u32], s2: &[u32], n_ids: usize) -> Vec<EditOp> {
    let mut bufs = EditBufs::default();
    editops_ids_in(s1, s2, n_ids, &mut bufs);
    bufs.ops
}

/// Work buffers of [`editops_ids_in`] (reusable across calls); `ops` holds the result.
#[derive(Default)]
pub(crate) struct EditBufs {
    pm: Vec<u64>,
    vp: Vec<u64>,
    vn: Vec<u64>,
    all_vp: Vec<u64>,
    all_vn: Vec<u64>,
    /// The editops of the last call.
    pub(crate) ops: Vec<EditOp>,
}

/// [`editops_ids`] into `bufs.ops`, reusing the buffers' allocations.
pub(crate) fn editops_ids_in(s1: &[u32], s2: &[u32], n_ids: usize, bufs: &mut EditBufs) {
    let EditBufs {
        pm,
        vp,
        vn,
        all_vp,
        all_vn,
        ops,
    } = bufs;
    ops.clear();
    let mut prefix = 0;
    while prefix < s1.len() && prefix < s2.len() && s1[prefix] == s2[prefix] {
        prefix += 1;
    }
    let mut suffix = 0;
    while suffix < s1.len() - prefix
        && suffix < s2.len() - prefix
        && s1[s1.len() - 1 - suffix] == s2[s2.len() - 1 - suffix]
    {
        suffix += 1;
    }
    let a = &s1[prefix..s1.len() - suffix];
    let b = &s2[prefix..s2.len() - suffix];
    let n = a.len();
    let m = b.len();
    let (mut col, mut row) = (n, m);
    if n > 0 && m > 0 {
        let words = n.div_ceil(64);
        // Pattern-match masks: one row of `words` u64 per id (ids are dense, no hashing).
        // Plus one all-zero row at `n_ids` for the s2 ids that match nothing.
        pm.clear();
        pm.resize((n_ids + 1) * words, 0);
        for (i, &x) in a.iter().enumerate() {
            if let Some(w) = pm.get_mut(x as usize * words + i / 64) {
                *w |= 1u64 << (i % 64);
            }
        }
        vp.clear();
        vp.resize(words, u64::MAX);
        let last_bits = n % 64;
        if last_bits != 0 {
            vp[words - 1] = (1u64 << last_bits) - 1;
        }
        vn.clear();
        vn.resize(words, 0);
        all_vp.clear();
        all_vp.resize(m * words, 0);
        all_vn.clear();
        all_vn.resize(m * words, 0);
        for (j, y) in b.iter().enumerate() {
            let y = (*y as usize).min(n_ids);
            let x_row = pm.get(y * words..(y + 1) * words).unwrap_or(&[]);
            let mut add_carry = 0u64;
            let mut hp_carry = 1u64;
            let mut hn_carry = 0u64;
            for k in 0..words {
                let x = x_row.get(k).copied().unwrap_or(0);
                let (v_p, v_n) = (vp[k], vn[k]);
                let (s1_, c1) = (x & v_p).overflowing_add(v_p);
                let (sum, c2) = s1_.overflowing_add(add_carry);
                add_carry = u64::from(c1 || c2);
                let d0 = (sum ^ v_p) | x | v_n;
                let hp = v_n | !(d0 | v_p);
                let hn = d0 & v_p;
                let hp_s = (hp << 1) | hp_carry;
                hp_carry = hp >> 63;
                let hn_s = (hn << 1) | hn_carry;
                hn_carry = hn >> 63;
                vp[k] = hn_s | !(d0 | hp_s);
                vn[k] = hp_s & d0;
            }
            all_vp[j * words..(j + 1) * words].copy_from_slice(vp);
            all_vn[j * words..(j + 1) * words].copy_from_slice(vn);
        }
        let bit = |v: &[u64], r: usize, c: usize| v[r * words + c / 64] >> (c % 64) & 1 == 1;
        while row != 0 && col != 0 {
            if bit(all_vp, row - 1, col - 1) {
                col -= 1;
                ops.push(EditOp {
                    tag: EditTag::Delete,
                    src_pos: col + prefix,
                    dest_pos: row + prefix,
                });
            } else {
                row -= 1;
                if row != 0 && bit(all_vn, row - 1, col - 1) {
                    ops.push(EditOp {
                        tag: EditTag::Insert,
                        src_pos: col + prefix,
                        dest_pos: row + prefix,
                    });
                } else {
                    col -= 1;
                    if a[col] != b[row] {
                        ops.push(EditOp {
                            tag: EditTag::Replace,
                            src_pos: col + prefix,
                            dest_pos: row + prefix,
                        });
                    }
                }
            }
        }
    }
    while col != 0 {
        col -= 1;
        ops.push(EditOp {
            tag: EditTag::Delete,
            src_pos: col + prefix,
            dest_pos: row + prefix,
        });
    }
    while row != 0 {
        row -= 1;
        ops.push(EditOp {
            tag: EditTag::Insert,
            src_pos: col + prefix,
            dest_pos: row + prefix,
        });
    }
    ops.reverse();
}

/// RapidFuzz `Editops.as_opcodes()` for sequences of lengths `src_len`, `dest_len`.
pub fn opcodes_from_editops(ops: &[EditOp], src_len: usize, dest_len: usize) -> Vec<Opcode> {
    let mut blocks = Vec::new();
    let (mut src, mut dest) = (0, 0);
    let mut i = 0;
    while i < ops.len() {
        let op = ops[i];
        if src < op.src_pos || dest < op.dest_pos {
            blocks.push(Opcode {
                tag: OpcodeTag::Equal,
                src_start: src,
                src_end: op.src_pos,
                dest_start: dest,
                dest_end: op.dest_pos,
            });
            src = op.src_pos;
            dest = op.dest_pos;
        }
        let (sb, db, tag) = (src, dest, op.tag);
        while i < ops.len() && ops[i].tag == tag && src == ops[i].src_pos && dest == ops[i].dest_pos
        {
            match tag {
                EditTag::Replace => {
                    src += 1;
                    dest += 1;
                }
                EditTag::Insert => dest += 1,
                EditTag::Delete => src += 1,
            }
            i += 1;
        }
        let tag = match tag {
            EditTag::Replace => OpcodeTag::Replace,
            EditTag::Insert => OpcodeTag::Insert,
            EditTag::Delete => OpcodeTag::Delete,
        };
        blocks.push(Opcode {
            tag,
            src_start: sb,
            src_end: src,
            dest_start: db,
            dest_end: dest,
        });
    }
    if src < src_len || dest < dest_len {
        blocks.push(Opcode {
            tag: OpcodeTag::Equal,
            src_start: src,
            src_end: src_len,
            dest_start: dest,
            dest_end: dest_len,
        });
    }
    blocks
}

/// RapidFuzz `Levenshtein.opcodes(s1, s2)`.
pub fn opcodes<T: Eq + std::hash::Hash>(s1: &[T], s2: &[T]) -> Vec<Opcode> {
    opcodes_from_editops(&editops(s1, s2), s1.len(), s2.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rapidfuzz_doc_example() {
        let a: Vec<char> = "qabxcd".chars().collect();
        let b: Vec<char> = "abycdf".chars().collect();
        let got: Vec<(OpcodeTag, usize, usize, usize, usize)> = opcodes(&a, &b)
            .iter()
            .map(|o| (o.tag, o.src_start, o.src_end, o.dest_start, o.dest_end))
            .collect();
        use OpcodeTag::*;
        assert_eq!(
            got,
            vec![
                (Delete, 0, 1, 0, 0),
                (Equal, 1, 3, 0, 2),
                (Replace, 3, 4, 2, 3),
                (Equal, 4, 6, 3, 5),
                (Insert, 6, 6, 5, 6)
            ]
        );
    }
}
