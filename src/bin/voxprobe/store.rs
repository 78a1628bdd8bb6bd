//! Output files: atomic writes, per-utterance parts (resume), shard manifests and `merge`.
//!
//! Layout of `--out DIR` for a job with stem `S` (e.g. `embeddings`) and shard `I/N`:
//!
//! * `DIR/S{sfx}.json` — the manifest, written last: it doubles as the shard's done marker.
//! * `DIR/S{sfx}.safetensors` / `.tsv` — the data named in the manifest.
//! * `DIR/.parts/S{sfx}/` — one part per finished utterance while the shard runs, plus
//!   `options.json`; removed once the shard's outputs are written.
//!
//! `{sfx}` is empty for an unsharded run and `.shard-I-of-N` otherwise, so `merge` writes
//! exactly the files (and bytes) of an unsharded run. Nothing here records time or host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use crate::input::{Entry, Shard};

/// Manifest `format` tag.
pub const FORMAT: &str = "voxprobe-shard";
/// Manifest format version.
pub const VERSION: u32 = 1;

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// killed job never leaves a truncated file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Where a shard's position in the whole job is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// I.
    pub index: usize,
    /// N.
    pub count: usize,
}

/// One utterance in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UttRecord {
    /// Index in the whole input manifest.
    pub index: usize,
    /// Utterance id.
    pub id: String,
    /// Input path as given.
    pub source: String,
    /// Duration of the decoded audio in seconds.
    pub duration: f64,
    /// First row in the data tensor (matrix kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Rows in the data tensor (matrix kinds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<usize>,
    /// Output file relative to the manifest (decode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Transcript (transcribe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What a manifest describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `[frames, dim]` rows per utterance in one safetensors (`embed`, `features`).
    Matrix,
    /// One transcript per utterance, also written as `id<TAB>text` TSV.
    Text,
    /// One audio file per utterance, also written as a `wav.scp`.
    Audio,
}

/// A shard manifest (and done marker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Output stem (`embeddings`, `features`, `transcripts`, `decoded`).
    pub stem: String,
    /// Data kind.
    pub kind: Kind,
    /// This file's shard (0 of 1 for unsharded and merged output).
    pub shard: ShardInfo,
    /// Utterances in the whole input manifest.
    pub total_utterances: usize,
    /// The options the job ran with; shards of one job must agree.
    pub options: serde_json::Value,
    /// Data file written next to the manifest.
    pub data: String,
    /// Columns of the matrix (matrix kind; 0 when the shard is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// The utterances, in manifest order.
    pub utterances: Vec<UttRecord>,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a voxprobe manifest", path.display()))?;
        ensure!(
            m.format == FORMAT && m.version == VERSION,
            "{}: format {:?} version {} (expected {FORMAT:?} version {VERSION})",
            path.display(),
            m.format,
            m.version
        );
        Ok(m)
    }

    fn write(&self, path: &Path) -> Result<()> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        write_atomic(path, s.as_bytes())
    }
}

/// A finished utterance handed to [`finish`].
pub struct Done {
    /// Its manifest record (offset filled in by [`finish`]).
    pub record: UttRecord,
    /// Its rows (matrix kind): `frames × dim`, row-major.
    pub rows: Option<(usize, Vec<f32>)>,
}

/// Per-utterance part files of one running shard.
pub struct Parts {
    dir: PathBuf,
}

/// Result of [`Parts::open`].
pub enum Opened {
    /// The shard's manifest exists: nothing to do.
    Complete(Box<Manifest>),
    /// Run (or resume) it.
    Run(Parts),
}

impl Parts {
    /// Opens the part directory of `stem` + shard in `out`, checking that an existing one was
    /// made with the same options (resuming with other options would mix results).
    pub fn open(
        out: &Path,
        stem: &str,
        shard: Shard,
        options: &serde_json::Value,
    ) -> Result<Opened> {
        let manifest = out.join(format!("{stem}{}.json", shard.suffix()));
        if manifest.is_file() {
            let m = Manifest::read(&manifest)?;
            if &m.options != options {
                bail!(
                    "{} was written with other options ({}); remove it or use another --out",
                    manifest.display(),
                    m.options
                );
            }
            return Ok(Opened::Complete(Box::new(m)));
        }
        let dir = out.join(".parts").join(format!("{stem}{}", shard.suffix()));
        let opts_path = dir.join("options.json");
        let want = serde_json::to_string_pretty(options)?;
        // Options of a run that finished no utterance may change (e.g. a typo fixed).
        let has_parts = std::fs::read_dir(&dir).is_ok_and(|mut it| {
            it.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "part")))
        });
        if opts_path.is_file() && has_parts {
            let have = std::fs::read_to_string(&opts_path)
                .with_context(|| format!("reading {}", opts_path.display()))?;
            if have != want {
                bail!(
                    "{} holds unfinished work made with other options:\n{have}\nnow:\n{want}\n\
                     remove that directory to start over, or rerun with the same options",
                    dir.display()
                );
            }
        } else {
            write_atomic(&opts_path, want.as_bytes())?;
        }
        Ok(Opened::Run(Parts { dir }))
    }

    fn path(&self, index: usize) -> PathBuf {
        self.dir.join(format!("{index:010}.part"))
    }

    /// A finished part, if this utterance was done by an earlier (interrupted) run.
    pub fn load(&self, index: usize) -> Result<Option<Done>> {
        let p = self.path(index);
        if !p.is_file() {
            return Ok(None);
        }
        let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        decode_part(&bytes)
            .with_context(|| {
                format!(
                    "{} is damaged; delete it to redo that utterance",
                    p.display()
                )
            })
            .map(Some)
    }

    /// Stores a finished utterance.
    pub fn save(&self, index: usize, done: &Done) -> Result<()> {
        write_atomic(&self.path(index), &encode_part(done)?)
    }

    /// Removes the part directory after the shard's outputs are written.
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))
    }
}

// A part is a safetensors file: the utterance record as JSON metadata and, for matrices, the
// rows as tensor "x".
fn encode_part(done: &Done) -> Result<Vec<u8>> {
    let mut meta = std::collections::HashMap::new();
    meta.insert("record".to_string(), serde_json::to_string(&done.record)?);
    let bytes;
    let mut tensors = Vec::new();
    if let Some((frames, rows)) = &done.rows {
        let dim = rows.len().checked_div(*frames).unwrap_or(0);
        bytes = f32_bytes(rows);
        tensors.push((
            "x".to_string(),
            TensorView::new(Dtype::F32, vec![*frames, dim], &bytes)?,
        ));
    }
    Ok(safetensors::serialize(tensors, Some(meta))?)
}

fn decode_part(bytes: &[u8]) -> Result<Done> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)?;
    let record = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("record"))
        .context("no record")?;
    let record: UttRecord = serde_json::from_str(record)?;
    let st = safetensors::SafeTensors::deserialize(bytes)?;
    let rows = match st.tensor("x") {
        Ok(t) => {
            ensure!(
                t.dtype() == Dtype::F32 && t.shape().len() == 2,
                "bad tensor"
            );
            Some((t.shape()[0], f32_from_bytes(t.data())?))
        }
        Err(_) => None,
    };
    Ok(Done { record, rows })
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_from_bytes(b: &[u8]) -> Result<Vec<f32>> {
    ensure!(b.len().is_multiple_of(4), "f32 data of {} bytes", b.len());
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Everything [`finish`] needs to name and describe a shard's output.
pub struct JobInfo<'a> {
    /// Output directory.
    pub out: &'a Path,
    /// Output stem.
    pub stem: &'a str,
    /// Data kind.
    pub kind: Kind,
    /// This shard.
    pub shard: Shard,
    /// Utterances in the whole input.
    pub total: usize,
    /// Job options (fingerprint).
    pub options: &'a serde_json::Value,
}

/// Writes a shard's data file, then its manifest (the done marker). `done` is in manifest order.
pub fn finish(job: &JobInfo<'_>, done: Vec<Done>) -> Result<Manifest> {
    let sfx = job.shard.suffix();
    let mut m = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        stem: job.stem.into(),
        kind: job.kind,
        shard: ShardInfo {
            index: job.shard.index,
            count: job.shard.count,
        },
        total_utterances: job.total,
        options: job.options.clone(),
        data: String::new(),
        dim: None,
        utterances: Vec::with_capacity(done.len()),
    };
    match job.kind {
        Kind::Matrix => {
            m.data = format!("{}{sfx}.safetensors", job.stem);
            let mut rows: Vec<(usize, Vec<f32>)> = Vec::with_capacity(done.len());
            for d in done {
                let r = d.rows.context("internal: matrix job produced no rows")?;
                m.utterances.push(d.record);
                rows.push(r);
            }
            let (bytes, dim) = write_matrix(&mut m.utterances, &rows)?;
            m.dim = Some(dim);
            write_atomic(&job.out.join(&m.data), &bytes)?;
        }
        Kind::Text | Kind::Audio => {
            m.utterances = done.into_iter().map(|d| d.record).collect();
            let (name, body) = table(job.stem, &sfx, job.kind, &m.utterances)?;
            m.data = name;
            write_atomic(&job.out.join(&m.data), body.as_bytes())?;
        }
    }
    m.write(&job.out.join(format!("{}{sfx}.json", job.stem)))?;
    Ok(m)
}

// Text kinds: `id<TAB>text` (a Kaldi `text` / hyps file) or `id<TAB>path` (a `wav.scp`).
fn table(stem: &str, sfx: &str, kind: Kind, utts: &[UttRecord]) -> Result<(String, String)> {
    let (name, col): (String, fn(&UttRecord) -> Option<&String>) = match kind {
        Kind::Text => (format!("{stem}{sfx}.tsv"), |u| u.text.as_ref()),
        _ => (format!("{stem}{sfx}.scp"), |u| u.path.as_ref()),
    };
    let mut body = String::new();
    for u in utts {
        let v = col(u).with_context(|| format!("internal: no column for {}", u.id))?;
        body.push_str(&u.id);
        body.push('\t');
        body.push_str(v);
        body.push('\n');
    }
    Ok((name, body))
}

/// Serialises `[total_frames, dim]` f32 `embeddings` and `[n + 1]` i64 `offsets` (row ranges
/// per utterance), filling each record's offset and frames. Returns the bytes and dim.
fn write_matrix(utts: &mut [UttRecord], rows: &[(usize, Vec<f32>)]) -> Result<(Vec<u8>, usize)> {
    let dim = rows
        .iter()
        .find(|(f, _)| *f > 0)
        .map(|(f, v)| v.len() / f)
        .unwrap_or(0);
    let mut data = Vec::new();
    let mut offsets: Vec<i64> = vec![0];
    let mut total = 0usize;
    for (u, (frames, v)) in utts.iter_mut().zip(rows) {
        ensure!(
            v.len() == frames * dim,
            "utterance {} has {} values for {frames} frames of dim {dim}",
            u.id,
            v.len()
        );
        u.offset = Some(total);
        u.frames = Some(*frames);
        total += frames;
        offsets.push(i64::try_from(total)?);
        data.extend(f32_bytes(v));
    }
    let off_bytes: Vec<u8> = offsets.iter().flat_map(|x| x.to_le_bytes()).collect();
    let tensors = vec![
        (
            "embeddings".to_string(),
            TensorView::new(Dtype::F32, vec![total, dim], &data)?,
        ),
        (
            "offsets".to_string(),
            TensorView::new(Dtype::I64, vec![offsets.len()], &off_bytes)?,
        ),
    ];
    // No metadata: the manifest carries it, and the bytes must not depend on anything else.
    Ok((safetensors::serialize(tensors, None)?, dim))
}

/// A matrix output read back: per utterance, its record and `frames × dim` rows.
pub struct MatrixStore {
    /// The manifest.
    pub manifest: Manifest,
    /// Row-major `[total_frames, dim]`.
    pub data: Vec<f32>,
}

impl MatrixStore {
    /// Reads `path` (a manifest `.json`, or a directory holding `embeddings.json`).
    pub fn read(path: &Path) -> Result<Self> {
        let path = if path.is_dir() {
            path.join("embeddings.json")
        } else {
            path.to_path_buf()
        };
        let manifest = Manifest::read(&path)?;
        ensure!(
            manifest.kind == Kind::Matrix,
            "{} describes {:?} output, not embeddings/features",
            path.display(),
            manifest.kind
        );
        ensure!(
            manifest.shard.count == 1,
            "{} is shard {}/{}; run `voxprobe merge` first",
            path.display(),
            manifest.shard.index,
            manifest.shard.count
        );
        let dpath = path.with_file_name(&manifest.data);
        let bytes =
            std::fs::read(&dpath).with_context(|| format!("reading {}", dpath.display()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not safetensors", dpath.display()))?;
        let t = st
            .tensor("embeddings")
            .with_context(|| format!("{} has no `embeddings` tensor", dpath.display()))?;
        let data = f32_from_bytes(t.data())?;
        let dim = manifest.dim.unwrap_or(0);
        let total: usize = manifest.utterances.iter().filter_map(|u| u.frames).sum();
        ensure!(
            t.shape() == [total, dim],
            "{}: tensor shape {:?} but the manifest says [{total}, {dim}]",
            dpath.display(),
            t.shape()
        );
        Ok(Self { manifest, data })
    }

    /// Columns.
    pub fn dim(&self) -> usize {
        self.manifest.dim.unwrap_or(0)
    }

    /// Rows of utterance `k` (manifest position).
    pub fn rows(&self, k: usize) -> Result<&[f32]> {
        let u = self
            .manifest
            .utterances
            .get(k)
            .context("utterance out of range")?;
        let (o, f) = (u.offset.unwrap_or(0), u.frames.unwrap_or(0));
        let d = self.dim();
        self.data
            .get(o * d..(o + f) * d)
            .with_context(|| format!("rows of {} out of range", u.id))
    }

    /// Mean over frames of utterance `k` (an utterance embedding), in f64.
    pub fn pooled(&self, k: usize) -> Result<Vec<f64>> {
        let d = self.dim();
        let rows = self.rows(k)?;
        let f = rows.len().checked_div(d).unwrap_or(0);
        ensure!(f > 0, "utterance {k} has no frames");
        let mut m = vec![0f64; d];
        for r in rows.chunks_exact(d) {
            for (a, &b) in m.iter_mut().zip(r) {
                *a += f64::from(b);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let n = f as f64;
        m.iter_mut().for_each(|v| *v /= n);
        Ok(m)
    }
}

/// Merges every complete set of shard manifests in `dir` (`S.shard-I-of-N.json`, all I) into
/// `S.json` + data, byte-identical to an unsharded run. Returns the merged stems.
pub fn merge_dir(dir: &Path) -> Result<Vec<(String, usize)>> {
    let mut groups: BTreeMap<(String, usize), BTreeMap<usize, PathBuf>> = BTreeMap::new();
    let rd = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in rd {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some((stem, i, n)) = parse_shard_name(name) {
            groups.entry((stem, n)).or_default().insert(i, p.clone());
        }
    }
    ensure!(
        !groups.is_empty(),
        "no shard manifests (*.shard-I-of-N.json) in {}",
        dir.display()
    );
    let mut merged = Vec::new();
    for ((stem, n), files) in groups {
        let missing: Vec<usize> = (0..n).filter(|i| !files.contains_key(i)).collect();
        ensure!(
            missing.is_empty(),
            "{stem}: shards {missing:?} of {n} are not finished (no {stem}.shard-I-of-{n}.json); \
             rerun them, then merge"
        );
        let mut shards = Vec::new();
        for p in files.values() {
            shards.push((Manifest::read(p)?, p.clone()));
        }
        merge_one(dir, &stem, n, shards)?;
        merged.push((stem, n));
    }
    Ok(merged)
}

fn parse_shard_name(name: &str) -> Option<(String, usize, usize)> {
    let base = name.strip_suffix(".json")?;
    let (stem, rest) = base.rsplit_once(".shard-")?;
    let (i, n) = rest.split_once("-of-")?;
    Some((stem.to_string(), i.parse().ok()?, n.parse().ok()?))
}

fn merge_one(dir: &Path, stem: &str, n: usize, shards: Vec<(Manifest, PathBuf)>) -> Result<()> {
    let (first, first_path) = shards.first().context("no shards")?;
    let (kind, total, options) = (first.kind, first.total_utterances, first.options.clone());
    let mut all: Vec<Done> = Vec::with_capacity(total);
    for (m, p) in &shards {
        ensure!(
            m.kind == kind && m.total_utterances == total && m.options == options,
            "{} and {} come from different jobs (kind, input size or options differ)",
            first_path.display(),
            p.display()
        );
        ensure!(
            m.shard.count == n,
            "{}: manifest says {} shards, file name says {n}",
            p.display(),
            m.shard.count
        );
        let store = if kind == Kind::Matrix {
            let bytes = std::fs::read(p.with_file_name(&m.data))
                .with_context(|| format!("reading data of {}", p.display()))?;
            let st = safetensors::SafeTensors::deserialize(&bytes)?;
            Some(f32_from_bytes(st.tensor("embeddings")?.data())?)
        } else {
            None
        };
        let dim = m.dim.unwrap_or(0);
        for u in &m.utterances {
            ensure!(
                u.index % n == m.shard.index,
                "{}: utterance {} (index {}) does not belong to shard {}/{n}",
                p.display(),
                u.id,
                u.index,
                m.shard.index
            );
            let rows = match &store {
                Some(d) => {
                    let (o, f) = (u.offset.unwrap_or(0), u.frames.unwrap_or(0));
                    let r = d.get(o * dim..(o + f) * dim).with_context(|| {
                        format!("{}: rows of {} out of range", p.display(), u.id)
                    })?;
                    Some((f, r.to_vec()))
                }
                None => None,
            };
            let mut record = u.clone();
            record.offset = None;
            record.frames = None;
            all.push(Done { record, rows });
        }
    }
    all.sort_by_key(|d| d.record.index);
    for (k, d) in all.iter().enumerate() {
        ensure!(
            d.record.index == k,
            "{stem}: utterance index {k} is missing or duplicated across shards (found {} at position {k})",
            d.record.index
        );
    }
    ensure!(
        all.len() == total,
        "{stem}: shards hold {} utterances, the input had {total}",
        all.len()
    );
    let job = JobInfo {
        out: dir,
        stem,
        kind,
        shard: Shard::default(),
        total,
        options: &options,
    };
    finish(&job, all)?;
    Ok(())
}

/// Entries of this shard, and how many utterances the whole input has.
pub fn select(entries: Vec<Entry>, shard: Shard) -> (Vec<Entry>, usize) {
    let total = entries.len();
    (
        entries
            .into_iter()
            .filter(|e| shard.owns(e.index))
            .collect(),
        total,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_parse() {
        assert_eq!(
            parse_shard_name("embeddings.shard-2-of-4.json"),
            Some(("embeddings".into(), 2, 4))
        );
        assert_eq!(parse_shard_name("embeddings.json"), None);
    }

    #[test]
    fn parts_roundtrip() {
        let d = Done {
            record: UttRecord {
                index: 3,
                id: "a".into(),
                source: "a.wav".into(),
                duration: 1.5,
                offset: None,
                frames: None,
                path: None,
                text: Some("hi".into()),
            },
            rows: Some((2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        };
        let back = decode_part(&encode_part(&d).unwrap()).unwrap();
        assert_eq!(back.record, d.record);
        assert_eq!(back.rows, d.rows);
    }
}
