//! Inputs: Kaldi `wav.scp`-style manifests, plain file lists, or paths on the command line, and
//! the deterministic `--shard I/N` split.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};

/// One utterance of the input, in manifest order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the whole manifest (0-based); shards and merges order by it.
    pub index: usize,
    /// Utterance id (first column of a `wav.scp`, or the file stem).
    pub id: String,
    /// Audio path as written in the manifest (relative paths resolve against the working
    /// directory, as in Kaldi).
    pub path: PathBuf,
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

/// Reads a Kaldi `wav.scp`: `<id><space or tab><path>` per line. Blank lines are skipped;
/// pipes (`cmd |`), missing paths and duplicate ids are errors naming the line.
pub fn parse_scp(text: &str, name: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (lineno, line) in text.lines().enumerate() {
        let lineno = lineno + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((id, path)) = line.split_once(|c: char| c.is_whitespace()) else {
            bail!("{name}:{lineno}: expected `<id> <path>`, found only {line:?}");
        };
        let path = path.trim();
        if path.is_empty() {
            bail!("{name}:{lineno}: utterance {id:?} has no path");
        }
        if path.ends_with('|') {
            bail!(
                "{name}:{lineno}: utterance {id:?} is a command pipe ({path:?}); pipes are not \
                 supported, write the audio to files first (e.g. with sox or ffmpeg) and list \
                 the files"
            );
        }
        if path.starts_with('-') && path.len() == 1 {
            bail!("{name}:{lineno}: utterance {id:?} reads stdin (`-`), which is not supported");
        }
        push(&mut out, &mut seen, id, PathBuf::from(path), name, lineno)?;
    }
    if out.is_empty() {
        bail!("{name}: no utterances");
    }
    Ok(out)
}

/// Reads a list of audio paths, one per line; the id is the file stem.
pub fn parse_list(text: &str, name: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (lineno, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let path = PathBuf::from(line);
        push(&mut out, &mut seen, &stem(&path)?, path, name, lineno + 1)?;
    }
    if out.is_empty() {
        bail!("{name}: no utterances");
    }
    Ok(out)
}

/// Paths given on the command line; the id is the file stem.
pub fn from_paths(paths: &[PathBuf]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, p) in paths.iter().enumerate() {
        push(&mut out, &mut seen, &stem(p)?, p.clone(), "argument", i + 1)?;
    }
    if out.is_empty() {
        bail!("no input files");
    }
    Ok(out)
}

fn stem(p: &Path) -> Result<String> {
    p.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no usable file name for an id", p.display()))
}

fn push(
    out: &mut Vec<Entry>,
    seen: &mut HashSet<String>,
    id: &str,
    path: PathBuf,
    name: &str,
    lineno: usize,
) -> Result<()> {
    check_id(id).with_context(|| format!("{name}:{lineno}"))?;
    if !seen.insert(id.to_string()) {
        bail!("{name}:{lineno}: duplicate utterance id {id:?}");
    }
    out.push(Entry {
        index: out.len(),
        id: id.to_string(),
        path,
    });
    Ok(())
}

/// Ids become file names (`decode`) and TSV fields: no separators, tabs or control chars.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." {
        bail!("invalid utterance id {id:?}");
    }
    if let Some(c) = id
        .chars()
        .find(|c| matches!(c, '/' | '\\') || c.is_control() || c.is_whitespace())
    {
        bail!("utterance id {id:?} contains {c:?}; ids must not contain path separators, whitespace or control characters");
    }
    Ok(())
}

/// Where the utterances come from (exactly one of the three).
#[derive(clap::Args, Debug, Clone)]
pub struct InputArgs {
    /// Kaldi `wav.scp`-style manifest: `<id> <path>` (space or tab) per line.
    #[arg(long, conflicts_with_all = ["list", "files"])]
    pub scp: Option<PathBuf>,
    /// File with one audio path per line (id = file stem).
    #[arg(long, conflicts_with = "files")]
    pub list: Option<PathBuf>,
    /// This process's part of the manifest: `I/N` takes every utterance whose 0-based
    /// manifest index i has i % N == I. `merge` joins the N outputs.
    #[arg(long, default_value = "0/1")]
    pub shard: Shard,
    /// Audio files (id = file stem), instead of --scp / --list.
    pub files: Vec<PathBuf>,
}

impl InputArgs {
    /// The whole manifest, in order.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
        };
        match (&self.scp, &self.list) {
            (Some(p), _) => parse_scp(&read(p)?, &p.display().to_string()),
            (None, Some(p)) => parse_list(&read(p)?, &p.display().to_string()),
            (None, None) => {
                if self.files.is_empty() {
                    bail!("no input: give --scp, --list or audio files");
                }
                from_paths(&self.files)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_accepts_space_and_tab() {
        let e = parse_scp("a x.wav\nb\ty z.wav\n\n", "t").unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].id, "b");
        assert_eq!(e[1].path, PathBuf::from("y z.wav"));
    }

    #[test]
    fn scp_rejects_pipes_and_duplicates() {
        let err = parse_scp("a sox x.wav -t wav - |\n", "t").unwrap_err();
        assert!(err.to_string().contains("pipe"), "{err}");
        let err = parse_scp("a x.wav\na y.wav\n", "t").unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
        let err = parse_scp("a\n", "t").unwrap_err();
        assert!(err.to_string().contains("t:1"), "{err}");
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
