//! Pre-flight checks that keep hostile headers away from symphonia 0.5.5 allocations.
//!
//! symphonia 0.5.5's isomp4 reader allocates `Vec::with_capacity(entry_count)` for sample
//! tables straight from the file, so a 100-byte file claiming 2^32 chunk offsets aborts the
//! process with an out-of-memory (found by `fuzz/fuzz_targets/decode.rs`). Before handing an
//! MP4 to symphonia we walk its box tree and refuse tables whose entry count cannot fit in
//! the box that holds them.

use std::io::{Read, Seek, SeekFrom};

/// Boxes that only contain other boxes, on the path to the sample tables.
const CONTAINERS: &[&[u8; 4]] = &[
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf",
];

/// Nesting deeper than this is not a real file.
const MAX_DEPTH: usize = 16;

/// `Err(description)` when a table claims more entries than its box can hold.
pub(crate) fn check<R: Read + Seek>(r: &mut R, len: u64) -> Result<(), String> {
    let mut head = [0u8; 8];
    if r.seek(SeekFrom::Start(0)).is_err() || r.read_exact(&mut head).is_err() {
        return Ok(());
    }
    let result = if &head[4..8] == b"ftyp" {
        walk(r, 0, len, 0, len)
    } else {
        Ok(())
    };
    // Leave the reader where symphonia expects it.
    let _ = r.seek(SeekFrom::Start(0));
    result
}

fn read_u32<R: Read>(r: &mut R) -> Option<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b).ok()?;
    Some(u32::from_be_bytes(b))
}

fn walk<R: Read + Seek>(
    r: &mut R,
    start: u64,
    end: u64,
    depth: usize,
    file_len: u64,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let mut pos = start;
    while pos.saturating_add(8) <= end {
        if r.seek(SeekFrom::Start(pos)).is_err() {
            return Ok(());
        }
        let Some(size32) = read_u32(r) else {
            return Ok(());
        };
        let mut kind = [0u8; 4];
        if r.read_exact(&mut kind).is_err() {
            return Ok(());
        }
        let (size, header) = match size32 {
            0 => (end - pos, 8),
            1 => {
                let (Some(hi), Some(lo)) = (read_u32(r), read_u32(r)) else {
                    return Ok(());
                };
                ((u64::from(hi) << 32) | u64::from(lo), 16)
            }
            s => (u64::from(s), 8),
        };
        if size < header || pos.saturating_add(size) > end {
            // Malformed framing: symphonia reports it as a decode error itself.
            return Ok(());
        }
        let body = pos + header;
        let body_len = size - header;
        if CONTAINERS.contains(&&kind) {
            walk(r, body, pos + size, depth + 1, file_len)?;
        } else if let Some(entry) = entry_size(&kind) {
            check_table(r, &kind, body_len, entry, file_len)?;
        }
        pos += size;
    }
    Ok(())
}

/// Bytes per entry of the full boxes whose entry count symphonia trusts.
fn entry_size(kind: &[u8; 4]) -> Option<u64> {
    Some(match kind {
        b"stco" | b"stss" => 4,
        b"co64" | b"stts" | b"ctts" => 8,
        b"stsc" => 12,
        b"stsz" => 4,
        b"elst" => 12,
        b"trun" => 0,
        _ => return None,
    })
}

fn check_table<R: Read>(
    r: &mut R,
    kind: &[u8; 4],
    body_len: u64,
    entry: u64,
    file_len: u64,
) -> Result<(), String> {
    let Some(version_flags) = read_u32(r) else {
        return Ok(());
    };
    let version = version_flags >> 24;
    let flags = version_flags & 0x00ff_ffff;
    let (count, fixed, entry) = match kind {
        b"stsz" => {
            let Some(sample_size) = read_u32(r) else {
                return Ok(());
            };
            // symphonia reads each packet into a buffer of its declared size.
            if u64::from(sample_size) > file_len {
                return Err(format!(
                    "mp4 'stsz' declares samples of {sample_size} bytes in a {file_len}-byte file"
                ));
            }
            if sample_size == 0 {
                let count = u64::from(read_u32(r).unwrap_or(0));
                if count.saturating_mul(4) > body_len.saturating_sub(12) {
                    return Err(format!("mp4 'stsz' box claims {count} entries"));
                }
                for _ in 0..count {
                    let Some(n) = read_u32(r) else { break };
                    if u64::from(n) > file_len {
                        return Err(format!(
                            "mp4 'stsz' declares a {n}-byte sample in a {file_len}-byte file"
                        ));
                    }
                }
                return Ok(());
            }
            // With a constant sample size there is no table to allocate... but symphonia
            // still expands it per sample, so bound the count by the file either way.
            let per = if sample_size == 0 { 4 } else { 0 };
            (read_u32(r), 12, per)
        }
        b"elst" => (read_u32(r), 8, if version == 1 { 20 } else { entry }),
        b"trun" => {
            let per: u64 = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|&&f| flags & f != 0)
                .count() as u64
                * 4;
            (read_u32(r), 8, per)
        }
        _ => (read_u32(r), 8, entry),
    };
    let Some(count) = count else {
        return Ok(());
    };
    let count = u64::from(count);
    let room = body_len.saturating_sub(fixed);
    // Tables without per-entry bytes (constant sample size, bare trun) still make symphonia
    // allocate per entry: allow at most one entry per byte of the whole box as a sane bound.
    let fits = if entry == 0 {
        count <= body_len.max(1) * 1024
    } else {
        count.saturating_mul(entry) <= room
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "mp4 '{}' box claims {count} entries but holds only {room} bytes",
            String::from_utf8_lossy(kind)
        ))
    }
}

/// Bytes at the start of a file searched for FLAC/Ogg comment headers.
pub(crate) const COMMENT_PREFIX: usize = 1 << 16;

fn u32_le(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 4)?;
    Some(u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])))
}

fn u32_be(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 4)?;
    Some(u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
}

/// Vorbis-comment and FLAC-picture lengths: symphonia 0.5.5 allocates `vec![0; len]` for each
/// length read from the file before reading the bytes (a 2.9 GB allocation from a 5 kB FLAC
/// was found by the fuzzer). `prefix` is the start of the file, `total` its full length;
/// lengths that exceed what is left of their block (FLAC) or of the file (Ogg) are refused.
pub(crate) fn check_comments(prefix: &[u8], total: u64) -> Result<(), String> {
    let bad = |what: &str, len: u64| {
        Err(format!(
            "{what} claims {len} bytes, more than the data holds"
        ))
    };
    // symphonia's prober finds stream markers after leading junk (e.g. an ID3 tag), so
    // search for them instead of requiring them at offset 0.
    let flac_at = prefix.windows(4).position(|w| w == b"fLaC");
    if let Some(flac_at) = flac_at {
        let mut pos = flac_at + 4;
        while let Some(h) = prefix.get(pos..pos + 4) {
            let kind = h[0] & 0x7f;
            let last = h[0] & 0x80 != 0;
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            let body = pos + 4;
            let end = body + len;
            let block = &prefix[body.min(prefix.len())..end.min(prefix.len())];
            let room = len as u64;
            if kind == 4 {
                // vendor length, vendor, count, then (length, text) pairs, all little endian
                let Some(vendor) = u32_le(block, 0) else {
                    break;
                };
                if vendor + 8 > room {
                    return bad("flac vorbis comment vendor string", vendor);
                }
                let mut at = 4 + vendor as usize;
                let Some(count) = u32_le(block, at) else {
                    break;
                };
                if count.saturating_mul(4) > room {
                    return bad("flac vorbis comment count", count);
                }
                at += 4;
                for _ in 0..count {
                    let Some(n) = u32_le(block, at) else { break };
                    if (at as u64) + 4 + n > room {
                        return bad("flac vorbis comment", n);
                    }
                    at += 4 + n as usize;
                }
            } else if kind == 6 {
                // picture: type, mime length + mime, description length + text, 4 u32s, data length
                let mut at = 4usize;
                for what in ["mime", "description"] {
                    let Some(n) = u32_be(block, at) else { break };
                    if (at as u64) + 4 + n > room {
                        return bad(&format!("flac picture {what}"), n);
                    }
                    at += 4 + n as usize;
                }
                at += 16;
                if let Some(n) = u32_be(block, at) {
                    if (at as u64) + 4 + n > room {
                        return bad("flac picture data", n);
                    }
                }
            }
            if last {
                break;
            }
            pos = end;
        }
    }
    if prefix.windows(4).any(|w| w == b"OggS") {
        if let Some(start) = prefix.windows(7).position(|w| w == b"\x03vorbis") {
            let at0 = start + 7;
            let Some(vendor) = u32_le(prefix, at0) else {
                return Ok(());
            };
            if vendor > total {
                return bad("ogg vorbis comment vendor string", vendor);
            }
            let mut at = at0 + 4 + vendor as usize;
            let Some(count) = u32_le(prefix, at) else {
                return Ok(());
            };
            if count.saturating_mul(4) > total {
                return bad("ogg vorbis comment count", count);
            }
            at += 4;
            // Lengths are only meaningful up to the next page header (a packet may continue
            // on the next page, with the page header in between).
            let page_end = prefix[at0..]
                .windows(4)
                .position(|w| w == b"OggS")
                .map_or(prefix.len(), |p| at0 + p);
            for _ in 0..count {
                if at + 4 > page_end {
                    break;
                }
                let Some(n) = u32_le(prefix, at) else { break };
                if n > total {
                    return bad("ogg vorbis comment", n);
                }
                at += 4 + n as usize;
            }
        }
    }
    Ok(())
}

/// Sample rate and channel count of WAV (`fmt `) and AIFF (`COMM`) headers: symphonia 0.5.5
/// panics on a zero sample rate (`TimeBase::new(1, 0)`; found by the fuzzer).
/// `Ok(Some(0))` reports zero channels so the caller can name that error precisely.
pub(crate) fn check_pcm_header(prefix: &[u8]) -> Result<Option<u16>, String> {
    let riff = prefix.starts_with(b"RIFF") && prefix.get(8..12) == Some(b"WAVE");
    let aiff =
        prefix.starts_with(b"FORM") && matches!(prefix.get(8..12), Some(b"AIFF") | Some(b"AIFC"));
    if !riff && !aiff {
        return Ok(None);
    }
    let mut pos = 12usize;
    while let Some(h) = prefix.get(pos..pos + 8) {
        let id = &h[0..4];
        let len = if riff {
            u32::from_le_bytes([h[4], h[5], h[6], h[7]])
        } else {
            u32::from_be_bytes([h[4], h[5], h[6], h[7]])
        } as usize;
        let body = pos + 8;
        if riff && id == b"fmt " {
            let (Some(c), Some(r)) = (prefix.get(body + 2..body + 4), u32_le(prefix, body + 4))
            else {
                return Ok(None);
            };
            let channels = u16::from_le_bytes([c[0], c[1]]);
            if r == 0 {
                return Err("wav header declares a sample rate of 0 Hz".into());
            }
            return Ok(Some(channels));
        }
        if aiff && id == b"COMM" {
            let Some(b) = prefix.get(body..body + 18) else {
                return Ok(None);
            };
            let channels = u16::from_be_bytes([b[0], b[1]]);
            // 80-bit extended float: sign+exponent (15 bits, bias 16383), 64-bit mantissa.
            let exp = i32::from(u16::from_be_bytes([b[8], b[9]]) & 0x7fff);
            let mant = u64::from_be_bytes([b[10], b[11], b[12], b[13], b[14], b[15], b[16], b[17]]);
            let sign = b[8] & 0x80 != 0;
            // Value = mantissa * 2^(exp - 16383 - 63); symphonia truncates it to an integer.
            #[allow(clippy::cast_precision_loss)]
            let rate = mant as f64 * 2f64.powi(exp - 16383 - 63);
            if sign || rate < 1.0 {
                return Err("aiff header declares a sample rate below 1 Hz".into());
            }
            return Ok(Some(channels));
        }
        // Chunks are padded to even length.
        pos = body.saturating_add(len).saturating_add(len & 1);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_oversized_stco_and_accepts_small_one() {
        let mut f = Vec::new();
        f.extend_from_slice(&16u32.to_be_bytes());
        f.extend_from_slice(b"ftypM4A ");
        f.extend_from_slice(&[0; 4]);
        let stco = |count: u32| {
            let mut b = Vec::new();
            b.extend_from_slice(&20u32.to_be_bytes());
            b.extend_from_slice(b"stco");
            b.extend_from_slice(&[0; 4]);
            b.extend_from_slice(&count.to_be_bytes());
            b.extend_from_slice(&[0; 4]);
            b
        };
        for (count, ok) in [(1u32, true), (0xa1a1_a1a1, false)] {
            let mut file = f.clone();
            let s = stco(count);
            file.extend_from_slice(&(8 + s.len() as u32).to_be_bytes());
            file.extend_from_slice(b"stbl");
            file.extend_from_slice(&s);
            let len = file.len() as u64;
            let r = check(&mut std::io::Cursor::new(file), len);
            assert_eq!(r.is_ok(), ok, "{r:?}");
        }
    }
}
