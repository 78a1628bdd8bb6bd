//! Audio manifests: what to process, in order.
//!
//! Accepted inputs (see [`read`]):
//!
//! * a **Kaldi data directory**: `wav.scp` (`<recording> <path>`), optional `segments`
//!   (`<utt> <recording> <start> <end>` in seconds; `end` < 0 = to the end, as in Kaldi),
//!   optional `text` (`<utt> <words>`) and `utt2spk` (`<utt> <speaker>`);
//! * a **`wav.scp`** file (`<id> <path>`, space or tab);
//! * a **JSONL** manifest (first non-blank character `{`): `id`, `path` or `audio` (a string or
//!   a Hugging Face `datasets` audio object with `path`), optional `text`, `speaker`, `group`,
//!   `start`, `end` or `duration` (seconds); Lhotse cuts (`recording.sources[0].source`,
//!   `start`, `duration`, `supervisions[0].text|speaker`) are read too;
//! * a **CSV** manifest whose header names `id` and `path` or `audio` (and optionally the other
//!   fields above), RFC 4180 quoting;
//! * with [`read_list`], a plain list of paths (id = file stem).
//!
//! Kaldi `cmd |` pipes in `wav.scp` are refused with a typed error: voxprobe does not run shell
//! commands found in manifests.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value;

use super::{Error, Result};

/// Where an entry was read: manifest file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The manifest file as given.
    pub file: Arc<str>,
    /// 1-based line.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One utterance of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in the whole manifest (0-based); shards and merges order by it.
    pub index: usize,
    /// Utterance id.
    pub id: String,
    /// Audio file (relative paths resolve against the working directory, as in Kaldi).
    pub path: PathBuf,
    /// Segment start in seconds (Kaldi `segments`, Lhotse cuts); `None` = the whole file.
    pub start: Option<f64>,
    /// Segment end in seconds; `None` = to the end of the file.
    pub end: Option<f64>,
    /// Transcript, speaker and group, when the manifest has any (boxed: a manifest of audio
    /// only costs one pointer per entry).
    pub meta: Option<Box<Meta>>,
    /// Manifest file and line.
    pub origin: Origin,
}

/// What a manifest may say about an utterance besides its audio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Transcript.
    pub text: Option<String>,
    /// Speaker.
    pub speaker: Option<String>,
    /// Group label.
    pub group: Option<String>,
}

impl Entry {
    /// Transcript, when the manifest has one.
    pub fn text(&self) -> Option<&str> {
        self.meta.as_ref()?.text.as_deref()
    }

    /// Speaker, when the manifest has one.
    pub fn speaker(&self) -> Option<&str> {
        self.meta.as_ref()?.speaker.as_deref()
    }

    /// Group label, when the manifest has one.
    pub fn group(&self) -> Option<&str> {
        self.meta.as_ref()?.group.as_deref()
    }

    fn set_meta(&mut self, text: Option<String>, speaker: Option<String>, group: Option<String>) {
        if text.is_some() || speaker.is_some() || group.is_some() {
            let m = self.meta.get_or_insert_with(Box::default);
            m.text = text.or(m.text.take());
            m.speaker = speaker.or(m.speaker.take());
            m.group = group.or(m.group.take());
        }
    }

    /// Whether this entry is a time range of its file.
    pub fn is_segment(&self) -> bool {
        self.start.is_some() || self.end.is_some()
    }
}

/// `--shard I/N`: this process handles the utterances whose manifest index `i` has
/// `i % N == I` (round-robin, so a manifest sorted by length spreads evenly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I, in `0..count`.
    pub index: usize,
    /// N ≥ 1.
    pub count: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("expected I/N (e.g. 0/4), got {s:?}"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("shard index {i:?} is not a non-negative integer"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count {n:?} is not a positive integer"))?;
        if count == 0 {
            return Err("shard count N must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is out of range for {count} shards (valid: 0..={})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether manifest index `i` belongs to this shard.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index
    }

    /// File-name infix: empty for an unsharded run, `.shard-I-of-N` otherwise, so that an
    /// unsharded run writes the same names `merge` writes.
    pub fn suffix(&self) -> String {
        if self.count == 1 {
            String::new()
        } else {
            format!(".shard-{}-of-{}", self.index, self.count)
        }
    }
}

pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Reads a manifest: a Kaldi data directory, or a file whose format is detected from its
/// content (`wav.scp`, JSONL, CSV).
///
/// # Errors
/// [`Error::Io`], [`Error::Format`] (no format fits, or the file is ambiguous),
/// [`Error::BadLine`], [`Error::DuplicateId`].
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    if path.is_dir() {
        return read_kaldi_dir(path);
    }
    parse(&read_to_string(path)?, &path.display().to_string())
}

/// The detected format of a manifest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<id> <path>` lines.
    Scp,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated with a header.
    Csv,
}

/// Detects the format of a manifest file from its first non-blank line.
///
/// # Errors
/// [`Error::Format`] for a JSON array, an empty file, or a CSV header naming both `path` and
/// `audio`.
pub fn detect(content: &str, name: &str) -> Result<Format> {
    let Some(first) = content.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err(Error::Format {
            file: name.into(),
            problem: "no utterances (the file is empty)".into(),
        });
    };
    if first.starts_with('[') {
        return Err(Error::Format {
            file: name.into(),
            problem: "a JSON array; manifests are JSONL (one object per line, as \
                      `datasets.Dataset.to_json` and Lhotse write them)"
                .into(),
        });
    }
    if first.starts_with('{') {
        return Ok(Format::Jsonl);
    }
    if let Ok(header) = csv_fields(first) {
        if header.len() > 1 && header.iter().any(|h| h == "id") {
            let has_path = header.iter().any(|h| h == "path");
            let has_audio = header.iter().any(|h| h == "audio");
            if has_path && has_audio {
                return Err(Error::Format {
                    file: name.into(),
                    problem: "the CSV header names both `path` and `audio`; keep one".into(),
                });
            }
            if has_path || has_audio {
                return Ok(Format::Csv);
            }
        }
    }
    Ok(Format::Scp)
}

/// Parses manifest content, detecting its format (see [`detect`]).
///
/// # Errors
/// As [`read`].
pub fn parse(content: &str, name: &str) -> Result<Vec<Entry>> {
    let file: Arc<str> = Arc::from(name);
    let mut b = Builder::new(file.clone());
    match detect(content, name)? {
        Format::Scp => parse_scp(content, &mut b)?,
        Format::Jsonl => parse_jsonl(content, &mut b)?,
        Format::Csv => parse_csv(content, &mut b)?,
    }
    b.finish()
}

struct Builder {
    file: Arc<str>,
    out: Vec<Entry>,
}

impl Builder {
    fn new(file: Arc<str>) -> Self {
        Self {
            file,
            out: Vec::new(),
        }
    }

    fn bad(&self, line: usize, problem: impl Into<String>) -> Error {
        Error::BadLine {
            file: self.file.to_string(),
            line,
            problem: problem.into(),
        }
    }

    fn push(&mut self, line: usize, id: &str, path: PathBuf) -> Result<&mut Entry> {
        check_id(id).map_err(|p| self.bad(line, p))?;
        if path.as_os_str().is_empty() {
            return Err(self.bad(line, format!("utterance {id} has no path")));
        }
        let index = self.out.len();
        self.out.push(Entry {
            index,
            id: id.into(),
            path,
            start: None,
            end: None,
            meta: None,
            origin: Origin {
                file: self.file.clone(),
                line,
            },
        });
        let last = self.out.len() - 1;
        Ok(&mut self.out[last])
    }

    fn finish(self) -> Result<Vec<Entry>> {
        if self.out.is_empty() {
            return Err(Error::Format {
                file: self.file.to_string(),
                problem: "no utterances".into(),
            });
        }
        // Duplicate ids by sorting positions (4 bytes per entry, not a map of id copies): the
        // repeat reported is the earliest second occurrence in the file.
        let mut idx: Vec<u32> = (0..u32::try_from(self.out.len())
            .map_err(|_| Error::Invalid("more than 2^32 utterances in one manifest".into()))?)
            .collect();
        let id = |i: u32| self.out[i as usize].id.as_str();
        idx.sort_unstable_by(|&a, &b| id(a).cmp(id(b)).then(a.cmp(&b)));
        let dup = idx
            .windows(2)
            .filter(|w| id(w[0]) == id(w[1]))
            .min_by_key(|w| w[1]);
        if let Some(w) = dup {
            let (first, second) = (&self.out[w[0] as usize], &self.out[w[1] as usize]);
            return Err(Error::DuplicateId {
                file: self.file.to_string(),
                line: second.origin.line,
                first_line: first.origin.line,
                id: second.id.clone(),
            });
        }
        Ok(self.out)
    }
}

/// Ids become file names (`decode`) and TSV fields: no separators, whitespace or control chars.
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(format!("invalid utterance id {id:?}"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| matches!(c, '/' | '\\') || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "utterance id {id:?} contains {c:?}; ids must not contain path separators, \
             whitespace or control characters"
        ));
    }
    Ok(())
}

/// Splits `<id><whitespace><rest>`; `rest` trimmed.
fn split_id(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let (id, rest) = line.split_once(char::is_whitespace)?;
    Some((id, rest.trim()))
}

fn scp_path(b: &Builder, line: usize, id: &str, path: &str) -> Result<PathBuf> {
    if path.ends_with('|') {
        return Err(b.bad(
            line,
            format!(
                "utterance {id} is a command pipe ({path:?}); voxprobe does not run shell \
                 commands from manifests: write the audio to files first (sox, ffmpeg or \
                 `wav-copy`) and list the files"
            ),
        ));
    }
    if path == "-" {
        return Err(b.bad(
            line,
            format!("utterance {id} reads stdin (`-`), which is not supported"),
        ));
    }
    Ok(PathBuf::from(path))
}

fn parse_scp(content: &str, b: &mut Builder) -> Result<()> {
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let Some((id, path)) = split_id(raw) else {
            return Err(b.bad(
                line,
                format!(
                    "expected `<id> <path>` (wav.scp), found only {:?}; for a list of paths \
                     use --list",
                    raw.trim()
                ),
            ));
        };
        let p = scp_path(b, line, id, path)?;
        b.push(line, id, p)?;
    }
    Ok(())
}

/// Reads a list of audio paths, one per line; the id is the file stem.
///
/// # Errors
/// [`Error::Io`], [`Error::BadLine`], [`Error::DuplicateId`], [`Error::Format`] when empty.
pub fn read_list(path: &Path) -> Result<Vec<Entry>> {
    let content = read_to_string(path)?;
    let mut b = Builder::new(Arc::from(path.display().to_string()));
    for (k, raw) in content.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let p = PathBuf::from(line);
        let id = stem(&p).map_err(|e| b.bad(k + 1, e))?;
        b.push(k + 1, &id, p)?;
    }
    b.finish()
}

/// Paths given on the command line; the id is the file stem.
///
/// # Errors
/// [`Error::BadLine`] (file `argument`), [`Error::DuplicateId`], [`Error::Format`] when empty.
pub fn from_paths(paths: &[PathBuf]) -> Result<Vec<Entry>> {
    let mut b = Builder::new(Arc::from("argument"));
    for (i, p) in paths.iter().enumerate() {
        let id = stem(p).map_err(|e| b.bad(i + 1, e))?;
        b.push(i + 1, &id, p.clone())?;
    }
    b.finish()
}

fn stem(p: &Path) -> Result<String, String> {
    p.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .ok_or_else(|| format!("{} has no usable file name for an id", p.display()))
}

fn get_str(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn get_f64(b: &Builder, line: usize, v: &Value, key: &str) -> Result<Option<f64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(b.bad(line, format!("`{key}` is not a finite number"))),
        },
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| b.bad(line, format!("`{key}` = {s:?} is not a number of seconds"))),
        Some(_) => Err(b.bad(line, format!("`{key}` is not a number"))),
    }
}

/// `start`, `end` / `duration` checks shared by JSONL and CSV.
fn set_range(
    b: &Builder,
    line: usize,
    start: Option<f64>,
    end: Option<f64>,
    duration: Option<f64>,
) -> Result<(Option<f64>, Option<f64>)> {
    let end = match (end, duration) {
        (Some(_), Some(_)) => {
            return Err(b.bad(line, "both `end` and `duration` given; keep one"));
        }
        (Some(e), None) => Some(e),
        (None, Some(d)) => Some(start.unwrap_or(0.0) + d),
        (None, None) => None,
    };
    if let Some(s) = start {
        if s < 0.0 {
            return Err(b.bad(line, format!("negative start {s}")));
        }
    }
    if let Some(e) = end {
        if e <= start.unwrap_or(0.0) {
            return Err(b.bad(
                line,
                format!("end {e} is not after start {}", start.unwrap_or(0.0)),
            ));
        }
    }
    Ok((start.filter(|&s| s > 0.0 || end.is_some()), end))
}

fn parse_jsonl(content: &str, b: &mut Builder) -> Result<()> {
    for (k, raw) in content.lines().enumerate() {
        let line = k + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| b.bad(line, format!("not a JSON object: {e}")))?;
        if !v.is_object() {
            return Err(b.bad(line, "not a JSON object"));
        }
        let id = get_str(&v, "id").ok_or_else(|| b.bad(line, "no string `id`"))?;
        let audio = match v.get("audio") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(o @ Value::Object(_)) => Some(
                get_str(o, "path")
                    .ok_or_else(|| b.bad(line, "`audio` is an object without a string `path`"))?,
            ),
            Some(_) => return Err(b.bad(line, "`audio` is neither a path nor an object")),
        };
        let path = get_str(&v, "path");
        // Lhotse cut: recording.sources[0] of type file.
        let lhotse = v
            .get("recording")
            .and_then(|r| r.get("sources"))
            .and_then(|s| s.get(0));
        let lhotse_path = match lhotse {
            Some(src) => {
                if src.get("type").and_then(Value::as_str) != Some("file") {
                    return Err(b.bad(
                        line,
                        "the Lhotse recording source is not of type `file` (commands and URLs \
                         are not run)",
                    ));
                }
                get_str(src, "source")
            }
            None => None,
        };
        let path = match (path, audio, lhotse_path) {
            (Some(p), None, None) | (None, Some(p), None) | (None, None, Some(p)) => p,
            (None, None, None) => {
                return Err(b.bad(
                    line,
                    format!("utterance {id} has no `path`, `audio` or Lhotse `recording`"),
                ))
            }
            _ => {
                return Err(b.bad(
                    line,
                    format!(
                        "utterance {id} names its audio twice (`path`, `audio`, `recording`); \
                         keep one"
                    ),
                ))
            }
        };
        let start = get_f64(b, line, &v, "start")?;
        let end = get_f64(b, line, &v, "end")?;
        let duration = get_f64(b, line, &v, "duration")?;
        let sup = v.get("supervisions").and_then(|s| s.get(0));
        let text = get_str(&v, "text").or_else(|| sup.and_then(|s| get_str(s, "text")));
        let speaker = get_str(&v, "speaker").or_else(|| sup.and_then(|s| get_str(s, "speaker")));
        let group = get_str(&v, "group");
        // A Lhotse cut always has start + duration; a whole-file cut has start 0.
        let (start, end) = set_range(b, line, start, end, duration)?;
        let e = b.push(line, &id, PathBuf::from(path))?;
        (e.start, e.end) = (start, end);
        e.set_meta(text, speaker, group);
    }
    Ok(())
}

/// One CSV record (RFC 4180 quoting, no line breaks inside fields).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur).trim().to_string());
            at_start = true;
        } else {
            if !c.is_whitespace() {
                at_start = false;
            }
            cur.push(c);
        }
    }
    if quoted {
        return Err(
            "unterminated quoted field (line breaks inside fields are not supported)".into(),
        );
    }
    out.push(cur.trim().to_string());
    Ok(out)
}

fn parse_csv(content: &str, b: &mut Builder) -> Result<()> {
    let mut lines = content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hk, header)) = lines.next() else {
        return Ok(());
    };
    let header = csv_fields(header).map_err(|p| b.bad(hk + 1, p))?;
    let col = |name: &str| header.iter().position(|h| h == name);
    let (id_c, path_c) = (col("id"), col("path").or_else(|| col("audio")));
    let (Some(id_c), Some(path_c)) = (id_c, path_c) else {
        return Err(b.bad(hk + 1, "CSV header lacks `id` or `path`/`audio`"));
    };
    let (text_c, spk_c, grp_c) = (col("text"), col("speaker"), col("group"));
    let (start_c, end_c, dur_c) = (col("start"), col("end"), col("duration"));
    for (k, raw) in lines {
        let line = k + 1;
        let f = csv_fields(raw).map_err(|p| b.bad(line, p))?;
        if f.len() != header.len() {
            return Err(b.bad(
                line,
                format!("{} fields, the header has {}", f.len(), header.len()),
            ));
        }
        let get = |c: Option<usize>| c.and_then(|c| f.get(c)).filter(|s| !s.is_empty());
        let num = |c: Option<usize>, name: &str| -> Result<Option<f64>> {
            get(c)
                .map(|s| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| b.bad(line, format!("`{name}` = {s:?} is not a number")))
                })
                .transpose()
        };
        let (start, end, dur) = (
            num(start_c, "start")?,
            num(end_c, "end")?,
            num(dur_c, "duration")?,
        );
        let (start, end) = set_range(b, line, start, end, dur)?;
        let id = f.get(id_c).cloned().unwrap_or_default();
        let path = f.get(path_c).cloned().unwrap_or_default();
        let (text, speaker, group) = (
            get(text_c).cloned(),
            get(spk_c).cloned(),
            get(grp_c).cloned(),
        );
        let e = b.push(line, &id, PathBuf::from(path))?;
        (e.start, e.end) = (start, end);
        e.set_meta(text, speaker, group);
    }
    Ok(())
}

/// Reads a Kaldi data directory: `wav.scp`, and `segments`, `text`, `utt2spk` when present.
///
/// # Errors
/// As [`read`]; also a segment naming a recording that `wav.scp` lacks, or `text` / `utt2spk`
/// lines for utterances the directory does not have.
pub fn read_kaldi_dir(dir: &Path) -> Result<Vec<Entry>> {
    let scp_path = dir.join("wav.scp");
    let scp_name = scp_path.display().to_string();
    let scp = read_to_string(&scp_path)?;
    let mut rec = Builder::new(Arc::from(scp_name.as_str()));
    parse_scp(&scp, &mut rec)?;
    let seg_path = dir.join("segments");
    let mut entries = if seg_path.is_file() {
        let recordings: HashMap<&str, &Path> = rec
            .out
            .iter()
            .map(|e| (e.id.as_str(), e.path.as_path()))
            .collect();
        let name = seg_path.display().to_string();
        let mut b = Builder::new(Arc::from(name.as_str()));
        for (k, raw) in read_to_string(&seg_path)?.lines().enumerate() {
            let line = k + 1;
            let f: Vec<&str> = raw.split_whitespace().collect();
            if f.is_empty() {
                continue;
            }
            let [utt, r, s, e] = f.as_slice() else {
                return Err(b.bad(
                    line,
                    format!(
                        "expected `<utt> <recording> <start> <end>`, found {} fields",
                        f.len()
                    ),
                ));
            };
            let path = recordings
                .get(r)
                .ok_or_else(|| b.bad(line, format!("recording {r} is not in {scp_name}")))?;
            let num = |x: &str, what: &str| {
                x.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| b.bad(line, format!("{what} {x:?} is not a number")))
            };
            let (s, e) = (num(s, "start")?, num(e, "end")?);
            let end = (e >= 0.0).then_some(e);
            let (start, end) = set_range(&b, line, Some(s), end, None)?;
            let path = path.to_path_buf();
            let ent = b.push(line, utt, path)?;
            // A segment from 0 to the end still is a segment of a longer Kaldi recording.
            ent.start = start.or(Some(s));
            ent.end = end;
        }
        b.finish()?
    } else {
        rec.finish()?
    };
    let ids: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(k, e)| (e.id.clone(), k))
        .collect();
    for (file, set) in [
        (
            "text",
            &mut (|e: &mut Entry, v: String| e.set_meta(Some(v), None, None))
                as &mut dyn FnMut(&mut Entry, String),
        ),
        ("utt2spk", &mut |e: &mut Entry, v: String| {
            e.set_meta(None, Some(v), None)
        }),
    ] {
        let p = dir.join(file);
        if !p.is_file() {
            continue;
        }
        let name = p.display().to_string();
        for (k, raw) in read_to_string(&p)?.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            let (id, rest) = split_id(raw).unwrap_or((raw.trim(), ""));
            let Some(&i) = ids.get(id) else {
                return Err(Error::BadLine {
                    file: name,
                    line: k + 1,
                    problem: format!("utterance {id} is not in the data directory's manifest"),
                });
            };
            set(&mut entries[i], rest.to_string());
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_accepts_space_and_tab() {
        let e = parse("a x.wav\nb\ty z.wav\n\n", "t").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id, "b");
        assert_eq!(e[1].path, PathBuf::from("y z.wav"));
        assert_eq!(e[1].origin.to_string(), "t:2");
    }

    #[test]
    fn scp_rejects_pipes_and_duplicates() {
        let err = parse("a sox x.wav -t wav - |\n", "t").unwrap_err();
        assert!(matches!(err, Error::BadLine { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("command pipe"), "{err}");
        let err = parse("a x.wav\na y.wav\n", "t").unwrap_err();
        assert!(
            matches!(err, Error::DuplicateId { line: 2, first_line: 1, ref id, .. } if id == "a"),
            "{err}"
        );
        let err = parse("a\n", "t").unwrap_err();
        assert!(err.to_string().contains("t:1"), "{err}");
    }

    #[test]
    fn jsonl_reads_hf_and_lhotse_fields() {
        let m = concat!(
            r#"{"id": "a", "audio": {"path": "a.wav", "array": null}, "text": "hi", "speaker": "s1"}"#,
            "\n",
            r#"{"id": "b", "path": "b.flac", "start": 1.5, "end": 2.0, "group": "g"}"#,
            "\n",
            r#"{"id": "c", "start": 0.5, "duration": 1.0, "recording": {"id": "r", "sources": [{"type": "file", "channels": [0], "source": "r.wav"}], "sampling_rate": 16000}, "supervisions": [{"text": "yo", "speaker": "s2"}]}"#,
            "\n"
        );
        let e = parse(m, "m.jsonl").unwrap();
        assert_eq!(detect(m, "m").unwrap(), Format::Jsonl);
        assert_eq!(e[0].path, PathBuf::from("a.wav"));
        assert_eq!((e[0].text(), e[0].speaker()), (Some("hi"), Some("s1")));
        assert_eq!(
            (e[1].start, e[1].end, e[1].group()),
            (Some(1.5), Some(2.0), Some("g"))
        );
        assert_eq!(
            (e[2].path.to_str(), e[2].start, e[2].end),
            (Some("r.wav"), Some(0.5), Some(1.5))
        );
        assert_eq!(e[2].text(), Some("yo"));
        let err = parse(r#"{"id": "a", "path": "x", "audio": "y"}"#, "m").unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let err = parse(r#"{"id": "a", "path": "x", "start": 2, "end": 1}"#, "m").unwrap_err();
        assert!(err.to_string().contains("not after"), "{err}");
        let err = parse("[{\"id\": 1}]", "m").unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
    }

    #[test]
    fn csv_with_quotes_and_header_checks() {
        let m = "id,path,text,start,end\na,a.wav,\"hello, world\",,\nb,\"b c.wav\",\"say \"\"hi\"\"\",0.25,1\n";
        assert_eq!(detect(m, "m").unwrap(), Format::Csv);
        let e = parse(m, "m.csv").unwrap();
        assert_eq!(e[0].text(), Some("hello, world"));
        assert_eq!(e[0].start, None);
        assert_eq!(e[1].path, PathBuf::from("b c.wav"));
        assert_eq!(e[1].text(), Some("say \"hi\""));
        assert_eq!((e[1].start, e[1].end), (Some(0.25), Some(1.0)));
        let err = parse("id,path,audio\na,b,c\n", "m").unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
        let err = parse("id,path\na,b,c\n", "m").unwrap_err();
        assert!(matches!(err, Error::BadLine { line: 2, .. }), "{err}");
    }

    #[test]
    fn kaldi_dir_with_segments_text_and_utt2spk() {
        let d = std::env::temp_dir().join(format!("vp-kaldi-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("wav.scp"), "r1 /x/r1.wav\nr2 /x/r2.flac\n").unwrap();
        std::fs::write(
            d.join("segments"),
            "u1 r1 0.00 1.50\nu2 r1 1.50 -1\nu3 r2 0.5 0.75\n",
        )
        .unwrap();
        std::fs::write(d.join("text"), "u1 hello   world\nu3\tyes\n").unwrap();
        std::fs::write(d.join("utt2spk"), "u1 s1\nu2 s1\nu3 s2\n").unwrap();
        let e = read(&d).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].start, e[0].end), (Some(0.0), Some(1.5)));
        assert_eq!((e[1].start, e[1].end), (Some(1.5), None));
        assert_eq!(e[2].path, PathBuf::from("/x/r2.flac"));
        assert_eq!(e[0].text(), Some("hello   world"));
        assert_eq!(e[2].text(), Some("yes"));
        assert_eq!(e[2].speaker(), Some("s2"));
        assert!(e[0].origin.to_string().ends_with("segments:1"));
        std::fs::write(d.join("segments"), "u1 r9 0 1\n").unwrap();
        let err = read(&d).unwrap_err();
        assert!(err.to_string().contains("r9"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shard_parsing_and_ownership() {
        assert!("3/3".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("x/2".parse::<Shard>().is_err());
        let s: Shard = "1/3".parse().unwrap();
        let mine: Vec<usize> = (0..7).filter(|&i| s.owns(i)).collect();
        assert_eq!(mine, vec![1, 4]);
        assert_eq!(s.suffix(), ".shard-1-of-3");
        assert_eq!(Shard::default().suffix(), "");
    }
}
