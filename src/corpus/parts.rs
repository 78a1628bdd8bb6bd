//! Part files: a running shard's finished work, crash-safe.
//!
//! A part holds a run of consecutive shard positions `[first, first + count)` and is named
//! `{first:010}-{count:08}.part`. It is written under a temporary name and renamed, and ends
//! with a footer recording the payload's length and CRC-32: a part that is truncated, corrupt
//! or holds another count than its name says is deleted and its utterances are redone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::output::{write_atomic, FailedRecord, Faults, Item, Source, UttRecord};
use super::{Error, Result};

const MAGIC: &[u8; 4] = b"VXP1";
const FOOTER: usize = 8 + 4 + 4;

/// One entry of a part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum PartEntry {
    /// A finished utterance with its row width.
    Done {
        /// Its record.
        rec: UttRecord,
        /// Columns of its rows.
        dim: usize,
    },
    /// A bad input (`--skip-bad`).
    Failed(FailedRecord),
}

impl PartEntry {
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::Done { rec, .. } => &rec.id,
            Self::Failed(f) => &f.id,
        }
    }
}

/// A part being filled.
pub(crate) struct PartWriter {
    pub(crate) first: usize,
    pub(crate) count: usize,
    buf: Vec<u8>,
}

impl PartWriter {
    pub(crate) fn new(first: usize) -> Self {
        Self {
            first,
            count: 0,
            buf: Vec::new(),
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn push(&mut self, e: &PartEntry, rows: &[f32]) -> Result<()> {
        let j = serde_json::to_vec(e).map_err(|e| Error::Invalid(e.to_string()))?;
        let jl = u32::try_from(j.len()).map_err(|_| Error::Invalid("record too large".into()))?;
        self.buf.extend_from_slice(&jl.to_le_bytes());
        self.buf.extend_from_slice(&j);
        self.buf
            .extend_from_slice(&((rows.len() * 4) as u64).to_le_bytes());
        self.buf.extend(rows.iter().flat_map(|x| x.to_le_bytes()));
        self.count += 1;
        Ok(())
    }

    /// Writes the part (if it holds anything) and starts an empty one at `next`.
    pub(crate) fn flush(&mut self, dir: &Path, next: usize, faults: &Faults) -> Result<()> {
        if self.count > 0 {
            let crc = crc32fast::hash(&self.buf);
            let len = self.buf.len() as u64;
            self.buf.extend_from_slice(&len.to_le_bytes());
            self.buf.extend_from_slice(&crc.to_le_bytes());
            self.buf.extend_from_slice(MAGIC);
            write_atomic(
                &dir.join(part_name(self.first, self.count)),
                &self.buf,
                faults,
            )?;
        }
        self.buf.clear();
        self.first = next;
        self.count = 0;
        Ok(())
    }
}

fn part_name(first: usize, count: usize) -> String {
    format!("{first:010}-{count:08}.part")
}

fn parse_name(name: &str) -> Option<(usize, usize)> {
    let (a, b) = name.strip_suffix(".part")?.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Checks a part's footer and decodes its entries.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<(PartEntry, Vec<f32>)>, String> {
    if bytes.len() < FOOTER || &bytes[bytes.len() - 4..] != MAGIC {
        return Err("truncated (no footer)".into());
    }
    let f = &bytes[bytes.len() - FOOTER..];
    let len = u64::from_le_bytes(f[..8].try_into().map_err(|_| "footer")?);
    let crc = u32::from_le_bytes(f[8..12].try_into().map_err(|_| "footer")?);
    let payload = &bytes[..bytes.len() - FOOTER];
    if payload.len() as u64 != len {
        return Err(format!("length {} but {len} recorded", payload.len()));
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    let mut out = Vec::new();
    let mut p = payload;
    while !p.is_empty() {
        let take = |p: &mut &[u8], n: usize| -> Result<Vec<u8>, String> {
            if p.len() < n {
                return Err("entry runs past the end".into());
            }
            let (a, b) = p.split_at(n);
            *p = b;
            Ok(a.to_vec())
        };
        let jl = u32::from_le_bytes(take(&mut p, 4)?.try_into().map_err(|_| "len")?);
        let j = take(&mut p, jl as usize)?;
        let e: PartEntry = serde_json::from_slice(&j).map_err(|e| e.to_string())?;
        let rl = u64::from_le_bytes(take(&mut p, 8)?.try_into().map_err(|_| "len")?);
        let rl = usize::try_from(rl).map_err(|_| "rows too large")?;
        if rl % 4 != 0 {
            return Err("row bytes not a multiple of 4".into());
        }
        let rows: Vec<f32> = take(&mut p, rl)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.push((e, rows));
    }
    Ok(out)
}

/// A valid part found on disk.
pub(crate) struct Found {
    pub(crate) first: usize,
    pub(crate) count: usize,
    pub(crate) path: PathBuf,
}

/// Lists the valid parts in `dir` (sorted by first position), deleting invalid ones and
/// leftover temporary files; returns the parts and the names of the deleted ones.
pub(crate) fn scan(dir: &Path, positions: usize) -> Result<(Vec<Found>, Vec<String>)> {
    let mut found = Vec::new();
    let mut redone = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((found, redone)),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in rd {
        let path = e.map_err(|e| Error::io(dir, e))?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if name.starts_with('.') && name.contains(".tmp-") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        let Some((first, count)) = parse_name(&name) else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let problem = match decode(&bytes) {
            Ok(v) if v.len() != count => Some(format!("{} entries, name says {count}", v.len())),
            Ok(_) if first + count > positions => Some("beyond the shard".to_string()),
            Ok(_) => None,
            Err(p) => Some(p),
        };
        match problem {
            None => found.push(Found { first, count, path }),
            Some(p) => {
                tracing::warn!(part = %path.display(), problem = %p, "damaged part file: redoing its utterances");
                std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                redone.push(format!("{name} ({p})"));
            }
        }
    }
    found.sort_by_key(|f| f.first);
    // Overlaps cannot come from this runner; drop the later part rather than trust either.
    let mut keep: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        if keep.last().is_some_and(|l| l.first + l.count > f.first) {
            std::fs::remove_file(&f.path).map_err(|e| Error::io(&f.path, e))?;
            redone.push(format!("{} (overlaps another part)", f.path.display()));
            continue;
        }
        keep.push(f);
    }
    Ok((keep, redone))
}

/// The parts of a finished shard as an output source, in position (= manifest) order.
pub(crate) struct PartsSource {
    pub(crate) parts: Vec<Found>,
}

impl Source for PartsSource {
    fn pass(&mut self, rows: bool, f: &mut dyn FnMut(Item<'_>) -> Result<()>) -> Result<()> {
        for p in &self.parts {
            let bytes = std::fs::read(&p.path).map_err(|e| Error::io(&p.path, e))?;
            let entries = decode(&bytes).map_err(|problem| Error::Corrupt {
                path: p.path.display().to_string(),
                problem: format!("{problem}; rerun the same command to redo it"),
            })?;
            for (e, v) in &entries {
                match e {
                    PartEntry::Done { rec, dim } => {
                        f(Item::Done(rec, *dim, if rows { v } else { &[] }))?;
                    }
                    PartEntry::Failed(x) => f(Item::Failed(x))?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> PartEntry {
        PartEntry::Done {
            rec: UttRecord {
                index: i,
                id: format!("u{i}"),
                source: "x.wav".into(),
                start: None,
                end: None,
                duration: 0.5,
                offset: None,
                frames: Some(1),
                path: None,
                text: Some("hi".into()),
            },
            dim: 2,
        }
    }

    #[test]
    fn parts_roundtrip_and_damage_is_detected() {
        let d = std::env::temp_dir().join(format!("vp-parts-{}", std::process::id()));
        let faults = Faults::default();
        let mut w = PartWriter::new(0);
        w.push(&entry(0), &[1.0, 2.0]).unwrap();
        w.push(&entry(3), &[3.0, 4.0]).unwrap();
        w.flush(&d, 2, &faults).unwrap();
        w.push(&entry(6), &[5.0, 6.0]).unwrap();
        w.flush(&d, 3, &faults).unwrap();
        let (found, redone) = scan(&d, 3).unwrap();
        assert_eq!(found.len(), 2);
        assert!(redone.is_empty());
        let back = decode(&std::fs::read(&found[0].path).unwrap()).unwrap();
        assert_eq!(back[1], (entry(3), vec![3.0, 4.0]));
        // Truncate one part, flip a byte in the other: both are redone.
        let b = std::fs::read(&found[0].path).unwrap();
        std::fs::write(&found[0].path, &b[..b.len() - 5]).unwrap();
        let mut b = std::fs::read(&found[1].path).unwrap();
        b[3] ^= 0x40;
        std::fs::write(&found[1].path, &b).unwrap();
        let (found, redone) = scan(&d, 3).unwrap();
        assert!(found.is_empty());
        assert_eq!(redone.len(), 2, "{redone:?}");
        assert!(redone.iter().any(|r| r.contains("checksum")), "{redone:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
