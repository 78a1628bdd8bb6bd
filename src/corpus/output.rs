//! Output files: records, crash-safe writes, the streamed shard outputs and `merge`.
//!
//! Layout of `--out DIR` for a job with stem `S` (e.g. `embeddings`) and shard `I/N`
//! (`{sfx}` is empty for an unsharded run and `.shard-I-of-N` otherwise, so `merge` writes
//! exactly the files — and bytes — of an unsharded run):
//!
//! * `S{sfx}.json` — the manifest ([`Manifest`]), written last: the shard's done marker.
//! * `S{sfx}.jsonl` — one [`UttRecord`] per finished utterance, in manifest order.
//! * `S{sfx}.safetensors` (matrix jobs: `offsets` `[n + 1]` i64, then `embeddings`
//!   `[rows, dim]` f32), `S{sfx}.tsv` (`id<TAB>text`) or `S{sfx}.scp` (`id<TAB>path`).
//! * `failed{sfx}.jsonl` — with `--skip-bad`, one [`FailedRecord`] per bad input.
//! * `.parts/S{sfx}/` — part files and the lock while the shard runs.
//!
//! Every file is written to a temporary name and renamed, so a killed process never leaves a
//! truncated file under a final name. Outputs are streamed from their sources (parts, or shard
//! outputs for `merge`) in a few passes; memory does not depend on the corpus size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Error, Result, Shard};

/// Manifest `format` tag.
pub const FORMAT: &str = "voxprobe-shard";
/// Manifest format version (2: records in a JSONL file next to the manifest).
pub const VERSION: u32 = 2;

/// One finished utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UttRecord {
    /// Index in the whole input manifest.
    pub index: usize,
    /// Utterance id.
    pub id: String,
    /// Input path as given.
    pub source: String,
    /// Segment start (s), for segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// Segment end (s), for segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Duration of the decoded audio in seconds.
    pub duration: f64,
    /// First row in the data tensor (matrix jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Rows in the data tensor (matrix jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<usize>,
    /// Output file (decode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Transcript (transcribe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One bad input (`--skip-bad`), a line of `failed.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRecord {
    /// Utterance id.
    pub id: String,
    /// Its path.
    pub path: String,
    /// `missing` (checked before work starts), `load` (decoding) or `process`.
    pub stage: String,
    /// What went wrong.
    pub error: String,
    /// Index in the whole input manifest.
    pub index: usize,
    /// `file:line` of the manifest entry.
    pub manifest: String,
}

/// What a job writes per utterance.
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

/// Where a shard's position in the whole job is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// I.
    pub index: usize,
    /// N.
    pub count: usize,
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
    /// The per-utterance records (JSONL) next to the manifest.
    pub records: String,
    /// Finished utterances (lines of `records`).
    pub utterances: usize,
    /// Bad inputs skipped with `--skip-bad`.
    pub failed: usize,
    /// The list of bad inputs, when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_list: Option<String>,
    /// Columns of the matrix (matrix kind; 0 when no utterance has rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// Rows of the matrix (matrix kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
}

impl Manifest {
    /// Reads and checks a manifest file.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Corrupt`] (not a voxprobe manifest of this version).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.display().to_string(),
            problem: format!("not a voxprobe manifest ({e})"),
        })?;
        if m.format != FORMAT || m.version != VERSION {
            return Err(Error::Corrupt {
                path: path.display().to_string(),
                problem: format!(
                    "format {:?} version {} (expected {FORMAT:?} version {VERSION})",
                    m.format, m.version
                ),
            });
        }
        Ok(m)
    }

    /// Streams the records file next to `manifest_path`.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Corrupt`].
    pub fn for_each_record(
        &self,
        manifest_path: &Path,
        mut f: impl FnMut(UttRecord) -> Result<()>,
    ) -> Result<()> {
        let p = manifest_path.with_file_name(&self.records);
        let r = BufReader::new(File::open(&p).map_err(|e| Error::io(&p, e))?);
        for (k, line) in r.lines().enumerate() {
            let line = line.map_err(|e| Error::io(&p, e))?;
            let rec: UttRecord = serde_json::from_str(&line).map_err(|e| Error::Corrupt {
                path: p.display().to_string(),
                problem: format!("line {}: {e}", k + 1),
            })?;
            f(rec)?;
        }
        Ok(())
    }
}

/// Test-only fault injection (hidden CLI flags): a crash (abort, like SIGKILL: no cleanup) at a
/// numbered point, or a write failure after a byte budget, as a full disk gives.
#[derive(Debug, Clone, Default)]
#[doc(hidden)]
pub struct Faults {
    crash: Option<(String, u64)>,
    fail_after: Option<u64>,
    counters: Arc<[AtomicU64; 3]>,
}

impl Faults {
    /// `spec`: `commit:N` (abort after the N-th file is renamed into place) or `write:N`
    /// (abort once N bytes were written in this process, mid-file).
    ///
    /// # Errors
    /// [`Error::Invalid`] for another spec.
    pub fn crash_at(mut self, spec: &str) -> Result<Self> {
        let (k, n) = spec
            .split_once(':')
            .and_then(|(k, n)| Some((k, n.parse::<u64>().ok()?)))
            .filter(|(k, _)| matches!(*k, "commit" | "write"))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "crash point {spec:?}: expected commit:N or write:N"
                ))
            })?;
        self.crash = Some((k.into(), n));
        Ok(self)
    }

    /// Every write fails with "no space left" once `bytes` were written in this process.
    pub fn fail_writes_after(mut self, bytes: u64) -> Self {
        self.fail_after = Some(bytes);
        self
    }

    fn on_write(&self, n: usize) -> std::io::Result<()> {
        let total = self.counters[0].fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if let Some(limit) = self.fail_after {
            if total > limit {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device (injected)",
                ));
            }
        }
        if let Some((k, at)) = &self.crash {
            if k == "write" && total > *at {
                std::process::abort();
            }
        }
        Ok(())
    }

    fn on_commit(&self) {
        let c = self.counters[1].fetch_add(1, Ordering::SeqCst) + 1;
        if let Some((k, at)) = &self.crash {
            if k == "commit" && c >= *at {
                std::process::abort();
            }
        }
    }
}

struct Counting {
    f: File,
    faults: Faults,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Write half, then fail or crash: what a full disk or a kill mid-write leaves.
        if let Err(e) = self.faults.on_write(buf.len()) {
            let half = buf.len() / 2;
            self.f.write_all(&buf[..half])?;
            return Err(e);
        }
        self.f.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

/// A file written under a temporary name and renamed into place by [`Pending::commit`];
/// dropped uncommitted, the temporary file is removed.
pub(crate) struct Pending {
    w: Option<BufWriter<Counting>>,
    tmp: PathBuf,
    path: PathBuf,
    faults: Faults,
}

/// The temporary name of `path` in this process.
fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

impl Pending {
    pub(crate) fn create(path: &Path, faults: &Faults) -> Result<Self> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = tmp_name(path);
        let f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        Ok(Self {
            w: Some(BufWriter::with_capacity(
                1 << 16,
                Counting {
                    f,
                    faults: faults.clone(),
                },
            )),
            tmp,
            path: path.to_path_buf(),
            faults: faults.clone(),
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.w {
            Some(w) => w.write_all(bytes).map_err(|e| Error::io(&self.path, e)),
            None => Err(Error::Invalid("internal: write after commit".into())),
        }
    }

    pub(crate) fn commit(mut self) -> Result<()> {
        let w = self
            .w
            .take()
            .ok_or_else(|| Error::Invalid("internal: double commit".into()))?;
        let c = w
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        c.f.sync_data().map_err(|e| Error::io(&self.path, e))?;
        drop(c);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
        self.faults.on_commit();
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.w.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a whole file atomically.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], faults: &Faults) -> Result<()> {
    let mut p = Pending::create(path, faults)?;
    p.write(bytes)?;
    p.commit()
}

/// Removes temporary files a killed process left in `dir` (`.<name>.tmp-<pid>`) whose name
/// starts with one of `prefixes`.
fn remove_stale_tmp(dir: &Path, prefixes: &[&str]) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for e in rd {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.contains(".tmp-") && prefixes.iter().any(|x| name.starts_with(x)) {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

/// Writes a whole file atomically (temporary name + rename), through the test-only fault
/// injection.
///
/// # Errors
/// [`Error::Io`], [`Error::DiskFull`].
pub fn write_file(path: &Path, bytes: &[u8], faults: &Faults) -> Result<()> {
    write_atomic(path, bytes, faults)
}

/// One item a source yields, in manifest order.
pub(crate) enum Item<'a> {
    /// A finished utterance, its row width (matrix jobs) and, in a pass with rows, its
    /// `frames × dim` rows.
    Done(&'a UttRecord, usize, &'a [f32]),
    /// A bad input.
    Failed(&'a FailedRecord),
}

/// Something the outputs can be streamed from, more than once.
pub(crate) trait Source {
    /// Calls `f` for every item in manifest order; rows only when `rows`.
    fn pass(&mut self, rows: bool, f: &mut dyn FnMut(Item<'_>) -> Result<()>) -> Result<()>;
}

/// What the outputs describe.
pub(crate) struct Head<'a> {
    pub stem: &'a str,
    pub kind: Kind,
    pub shard: Shard,
    pub total: usize,
    pub options: &'a serde_json::Value,
}

fn json_line(v: &impl Serialize) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec(v).map_err(|e| Error::Invalid(e.to_string()))?;
    b.push(b'\n');
    Ok(b)
}

/// The safetensors header of `offsets` `[n + 1]` i64 then `embeddings` `[rows, dim]` f32,
/// padded with spaces to 8 bytes, as the format asks.
fn safetensors_header(n: usize, rows: usize, dim: usize) -> Vec<u8> {
    let ob = (n + 1) * 8;
    let eb = rows * dim * 4;
    let mut h = format!(
        "{{\"offsets\":{{\"dtype\":\"I64\",\"shape\":[{}],\"data_offsets\":[0,{ob}]}},\
         \"embeddings\":{{\"dtype\":\"F32\",\"shape\":[{rows},{dim}],\"data_offsets\":[{ob},{}]}}}}",
        n + 1,
        ob + eb
    );
    while h.len() % 8 != 0 {
        h.push(' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out
}

/// Streams `src` into the outputs of `head` in `out`, manifest last. Checks that the items
/// are exactly this shard's indices in order.
pub(crate) fn write_outputs(
    out: &Path,
    head: &Head<'_>,
    src: &mut dyn Source,
    faults: &Faults,
) -> Result<Manifest> {
    let sfx = head.shard.suffix();
    let stem = head.stem;
    let mut m = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        stem: stem.into(),
        kind: head.kind,
        shard: ShardInfo {
            index: head.shard.index,
            count: head.shard.count,
        },
        total_utterances: head.total,
        options: head.options.clone(),
        data: match head.kind {
            Kind::Matrix => format!("{stem}{sfx}.safetensors"),
            Kind::Text => format!("{stem}{sfx}.tsv"),
            Kind::Audio => format!("{stem}{sfx}.scp"),
        },
        records: format!("{stem}{sfx}.jsonl"),
        utterances: 0,
        failed: 0,
        failed_list: None,
        dim: None,
        rows: None,
    };
    remove_stale_tmp(out, &[&format!(".{stem}{sfx}."), &format!(".failed{sfx}.")])?;
    // Pass 1: records, the failed list, the table; totals for the matrix header.
    let mut records = Pending::create(&out.join(&m.records), faults)?;
    let failed_name = format!("failed{sfx}.jsonl");
    let mut failed = Pending::create(&out.join(&failed_name), faults)?;
    let mut table = match head.kind {
        Kind::Matrix => None,
        _ => Some(Pending::create(&out.join(&m.data), faults)?),
    };
    let mut expect = head.shard.index;
    let (mut n_ok, mut n_failed, mut rows, mut dim) = (0usize, 0usize, 0usize, None::<usize>);
    src.pass(false, &mut |item| {
        let index = match &item {
            Item::Done(r, _, _) => r.index,
            Item::Failed(f) => f.index,
        };
        if index != expect {
            return Err(Error::Merge(format!(
                "{stem}: expected utterance index {expect} next, found {index} (missing or \
                 duplicated across shards)"
            )));
        }
        expect += head.shard.count;
        match item {
            Item::Done(r, d, _) => {
                let mut r = r.clone();
                if head.kind == Kind::Matrix {
                    let f = r.frames.ok_or_else(|| {
                        Error::Invalid(format!("internal: matrix record {} has no frames", r.id))
                    })?;
                    if f > 0 {
                        match dim {
                            None => dim = Some(d),
                            Some(x) if x != d => {
                                return Err(Error::Invalid(format!(
                                    "utterance {} has {d} columns, earlier ones {x}; every \
                                     utterance must have the same dim",
                                    r.id
                                )))
                            }
                            _ => {}
                        }
                    }
                    r.offset = Some(rows);
                    rows += f;
                }
                records.write(&json_line(&r)?)?;
                if let Some(t) = &mut table {
                    let col = if head.kind == Kind::Text {
                        &r.text
                    } else {
                        &r.path
                    };
                    let col = col.as_deref().ok_or_else(|| {
                        Error::Invalid(format!("internal: no output column for {}", r.id))
                    })?;
                    t.write(format!("{}\t{col}\n", r.id).as_bytes())?;
                }
                n_ok += 1;
            }
            Item::Failed(f) => {
                failed.write(&json_line(f)?)?;
                n_failed += 1;
            }
        }
        Ok(())
    })?;
    let want = (0..head.total).filter(|&i| head.shard.owns(i)).count();
    if n_ok + n_failed != want {
        return Err(Error::Merge(format!(
            "{stem}: {} utterances for shard {}, the input has {want}",
            n_ok + n_failed,
            head.shard
        )));
    }
    records.commit()?;
    if n_failed > 0 {
        failed.commit()?;
        m.failed_list = Some(failed_name);
    } else {
        drop(failed);
        let stale = out.join(format!("failed{sfx}.jsonl"));
        if stale.is_file() {
            std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
        }
    }
    if let Some(t) = table {
        t.commit()?;
    }
    if head.kind == Kind::Matrix {
        // Pass 2: header and offsets; pass 3: rows.
        let d = dim.unwrap_or(0);
        let mut data = Pending::create(&out.join(&m.data), faults)?;
        data.write(&safetensors_header(n_ok, rows, d))?;
        let mut acc = 0i64;
        data.write(&acc.to_le_bytes())?;
        src.pass(false, &mut |item| {
            if let Item::Done(r, _, _) = item {
                acc += i64::try_from(r.frames.unwrap_or(0))
                    .map_err(|_| Error::Invalid("row count overflows i64".into()))?;
                data.write(&acc.to_le_bytes())?;
            }
            Ok(())
        })?;
        let mut buf = Vec::new();
        src.pass(true, &mut |item| {
            if let Item::Done(r, _, v) = item {
                let f = r.frames.unwrap_or(0);
                if v.len() != f * d {
                    return Err(Error::Invalid(format!(
                        "utterance {} has {} values for {f} frames of dim {d} (every utterance \
                         must have the same dim)",
                        r.id,
                        v.len()
                    )));
                }
                buf.clear();
                buf.extend(v.iter().flat_map(|x| x.to_le_bytes()));
                data.write(&buf)?;
            }
            Ok(())
        })?;
        data.commit()?;
        m.dim = Some(d);
        m.rows = Some(rows);
    }
    m.utterances = n_ok;
    m.failed = n_failed;
    let mut s = serde_json::to_string_pretty(&m).map_err(|e| Error::Invalid(e.to_string()))?;
    s.push('\n');
    write_atomic(&out.join(format!("{stem}{sfx}.json")), s.as_bytes(), faults)?;
    Ok(m)
}

/// A matrix output: reads rows of single utterances by seeking.
pub struct MatrixFile {
    f: File,
    path: PathBuf,
    data_start: u64,
    dim: usize,
}

impl MatrixFile {
    /// Opens the safetensors next to `manifest_path` described by `m`.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Corrupt`] when the header disagrees with the manifest.
    pub fn open(manifest_path: &Path, m: &Manifest) -> Result<Self> {
        let path = manifest_path.with_file_name(&m.data);
        let mut f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut n = [0u8; 8];
        f.read_exact(&mut n).map_err(|e| Error::io(&path, e))?;
        let hlen = u64::from_le_bytes(n);
        let (dim, rows) = (m.dim.unwrap_or(0), m.rows.unwrap_or(0));
        let expect = safetensors_header(m.utterances, rows, dim);
        let mut h = vec![0u8; expect.len().saturating_sub(8)];
        if hlen != h.len() as u64 {
            return Err(Error::Corrupt {
                path: path.display().to_string(),
                problem: "header does not match the manifest".into(),
            });
        }
        f.read_exact(&mut h).map_err(|e| Error::io(&path, e))?;
        if h != expect[8..] {
            return Err(Error::Corrupt {
                path: path.display().to_string(),
                problem: "header does not match the manifest".into(),
            });
        }
        let data_start = 8 + hlen + (m.utterances as u64 + 1) * 8;
        Ok(Self {
            f,
            path,
            data_start,
            dim,
        })
    }

    /// Columns.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows `offset..offset + frames` into `out` (cleared first).
    ///
    /// # Errors
    /// [`Error::Io`] (also for a file shorter than its header says).
    pub fn read_rows(&mut self, offset: usize, frames: usize, out: &mut Vec<f32>) -> Result<()> {
        let pos = self.data_start + (offset * self.dim * 4) as u64;
        self.f
            .seek(SeekFrom::Start(pos))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut b = vec![0u8; frames * self.dim * 4];
        self.f
            .read_exact(&mut b)
            .map_err(|e| Error::io(&self.path, e))?;
        out.clear();
        out.extend(
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        Ok(())
    }
}

/// A finished shard's outputs as a merge input.
struct ShardOut {
    path: PathBuf,
    m: Manifest,
}

/// The N finished shards of one job, streamed in manifest order.
struct Shards {
    dir: PathBuf,
    shards: Vec<ShardOut>,
}

struct Cursor {
    records: Option<std::io::Lines<BufReader<File>>>,
    failed: Option<std::io::Lines<BufReader<File>>>,
    next_rec: Option<UttRecord>,
    next_failed: Option<FailedRecord>,
    matrix: Option<MatrixFile>,
    dim: usize,
    name: PathBuf,
}

fn next_json<T: for<'de> Deserialize<'de>>(
    l: &mut Option<std::io::Lines<BufReader<File>>>,
    name: &Path,
) -> Result<Option<T>> {
    let Some(lines) = l else { return Ok(None) };
    match lines.next() {
        None => Ok(None),
        Some(line) => {
            let line = line.map_err(|e| Error::io(name, e))?;
            serde_json::from_str(&line)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    path: name.display().to_string(),
                    problem: e.to_string(),
                })
        }
    }
}

impl Source for Shards {
    fn pass(&mut self, rows: bool, f: &mut dyn FnMut(Item<'_>) -> Result<()>) -> Result<()> {
        let mut cur = Vec::with_capacity(self.shards.len());
        for s in &self.shards {
            let open = |name: &str| -> Result<_> {
                let p = self.dir.join(name);
                Ok(BufReader::new(File::open(&p).map_err(|e| Error::io(&p, e))?).lines())
            };
            let mut c = Cursor {
                records: Some(open(&s.m.records)?),
                failed: s.m.failed_list.as_deref().map(open).transpose()?,
                next_rec: None,
                next_failed: None,
                matrix: if rows && s.m.kind == Kind::Matrix {
                    Some(MatrixFile::open(&s.path, &s.m)?)
                } else {
                    None
                },
                dim: s.m.dim.unwrap_or(0),
                name: s.path.clone(),
            };
            c.next_rec = next_json(&mut c.records, &c.name)?;
            c.next_failed = next_json(&mut c.failed, &c.name)?;
            cur.push(c);
        }
        let mut buf = Vec::new();
        loop {
            // The smallest next index over all shards (round-robin: usually the next shard).
            let mut best: Option<(usize, usize, bool)> = None;
            for (k, c) in cur.iter().enumerate() {
                if let Some(r) = &c.next_rec {
                    if best.is_none_or(|(i, _, _)| r.index < i) {
                        best = Some((r.index, k, true));
                    }
                }
                if let Some(x) = &c.next_failed {
                    if best.is_none_or(|(i, _, _)| x.index < i) {
                        best = Some((x.index, k, false));
                    }
                }
            }
            let Some((_, k, is_rec)) = best else { break };
            let c = &mut cur[k];
            if is_rec {
                let r = c
                    .next_rec
                    .take()
                    .ok_or_else(|| Error::Invalid("internal".into()))?;
                if let Some(mf) = &mut c.matrix {
                    mf.read_rows(r.offset.unwrap_or(0), r.frames.unwrap_or(0), &mut buf)?;
                } else {
                    buf.clear();
                }
                f(Item::Done(&r, c.dim, &buf))?;
                c.next_rec = next_json(&mut c.records, &c.name)?;
            } else {
                let x = c
                    .next_failed
                    .take()
                    .ok_or_else(|| Error::Invalid("internal".into()))?;
                f(Item::Failed(&x))?;
                c.next_failed = next_json(&mut c.failed, &c.name)?;
            }
        }
        Ok(())
    }
}

fn parse_shard_name(name: &str) -> Option<(String, usize, usize)> {
    let base = name.strip_suffix(".json")?;
    let (stem, rest) = base.rsplit_once(".shard-")?;
    let (i, n) = rest.split_once("-of-")?;
    Some((stem.to_string(), i.parse().ok()?, n.parse().ok()?))
}

/// Merges every complete set of shard manifests in `dir` (`S.shard-I-of-N.json`, all I) into
/// `S.json` + data, byte-identical to an unsharded run, streaming (flat memory). Returns the
/// merged stems and their shard counts.
///
/// # Errors
/// [`Error::Merge`] (missing shards, shards of different jobs), [`Error::Io`],
/// [`Error::Corrupt`], [`Error::DiskFull`].
pub fn merge_dir(dir: &Path, faults: &Faults) -> Result<Vec<(String, usize)>> {
    let mut groups: BTreeMap<(String, usize), BTreeMap<usize, PathBuf>> = BTreeMap::new();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in rd {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some((stem, i, n)) = parse_shard_name(name) {
            groups.entry((stem, n)).or_default().insert(i, p.clone());
        }
    }
    if groups.is_empty() {
        return Err(Error::Merge(format!(
            "no shard manifests (*.shard-I-of-N.json) in {}",
            dir.display()
        )));
    }
    let mut merged = Vec::new();
    for ((stem, n), files) in groups {
        let missing: Vec<usize> = (0..n).filter(|i| !files.contains_key(i)).collect();
        if !missing.is_empty() {
            return Err(Error::Merge(format!(
                "{stem}: shards {missing:?} of {n} are not finished (no {stem}.shard-I-of-{n}.json); \
                 rerun them, then merge"
            )));
        }
        let mut shards = Vec::new();
        for p in files.values() {
            shards.push(ShardOut {
                m: Manifest::read(p)?,
                path: p.clone(),
            });
        }
        let first = &shards[0];
        let (kind, total, options) = (
            first.m.kind,
            first.m.total_utterances,
            first.m.options.clone(),
        );
        for s in &shards {
            if s.m.kind != kind || s.m.total_utterances != total || s.m.options != options {
                return Err(Error::Merge(format!(
                    "{} and {} come from different jobs (kind, input size or options differ)",
                    first.path.display(),
                    s.path.display()
                )));
            }
            if s.m.shard.count != n {
                return Err(Error::Merge(format!(
                    "{}: manifest says {} shards, file name says {n}",
                    s.path.display(),
                    s.m.shard.count
                )));
            }
        }
        let head = Head {
            stem: &stem,
            kind,
            shard: Shard::default(),
            total,
            options: &options,
        };
        let mut src = Shards {
            dir: dir.to_path_buf(),
            shards,
        };
        write_outputs(dir, &head, &mut src, faults)?;
        merged.push((stem, n));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(Vec<(UttRecord, Vec<f32>)>);

    impl Source for Mem {
        fn pass(&mut self, rows: bool, f: &mut dyn FnMut(Item<'_>) -> Result<()>) -> Result<()> {
            for (r, v) in &self.0 {
                f(Item::Done(r, 3, if rows { v } else { &[] }))?;
            }
            Ok(())
        }
    }

    fn rec(index: usize, frames: usize) -> UttRecord {
        UttRecord {
            index,
            id: format!("u{index}"),
            source: format!("u{index}.wav"),
            start: None,
            end: None,
            duration: 1.0,
            offset: None,
            frames: Some(frames),
            path: None,
            text: None,
        }
    }

    #[test]
    fn streamed_safetensors_is_valid_and_matches_rows() {
        let d = std::env::temp_dir().join(format!("vp-out-{}", std::process::id()));
        let mut src = Mem(vec![
            (rec(0, 2), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            (rec(1, 0), vec![]),
            (rec(2, 1), vec![7.0, 8.0, 9.0]),
        ]);
        let opts = serde_json::json!({"x": 1});
        let head = Head {
            stem: "embeddings",
            kind: Kind::Matrix,
            shard: Shard::default(),
            total: 3,
            options: &opts,
        };
        let m = write_outputs(&d, &head, &mut src, &Faults::default()).unwrap();
        assert_eq!((m.dim, m.rows, m.utterances), (Some(3), Some(3), 3));
        let bytes = std::fs::read(d.join("embeddings.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let e = st.tensor("embeddings").unwrap();
        assert_eq!(e.shape(), [3, 3]);
        let o = st.tensor("offsets").unwrap();
        let offs: Vec<i64> = o
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(offs, vec![0, 2, 2, 3]);
        let mp = d.join("embeddings.json");
        let mut mf = MatrixFile::open(&mp, &m).unwrap();
        let mut v = Vec::new();
        mf.read_rows(2, 1, &mut v).unwrap();
        assert_eq!(v, vec![7.0, 8.0, 9.0]);
        // A missing index is refused.
        let mut src = Mem(vec![(rec(0, 1), vec![1.0]), (rec(2, 1), vec![2.0])]);
        let err = write_outputs(&d, &head, &mut src, &Faults::default()).unwrap_err();
        assert!(matches!(err, Error::Merge(_)), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn injected_disk_full_is_typed_and_leaves_no_file() {
        let d = std::env::temp_dir().join(format!("vp-full-{}", std::process::id()));
        let f = Faults::default().fail_writes_after(10);
        let err = write_atomic(&d.join("x.bin"), &[0u8; 1 << 17], &f).unwrap_err();
        assert!(matches!(err, Error::DiskFull { .. }), "{err}");
        assert!(!d.join("x.bin").exists());
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "temporary file left behind"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shard_names_parse() {
        assert_eq!(
            parse_shard_name("embeddings.shard-2-of-4.json"),
            Some(("embeddings".into(), 2, 4))
        );
        assert_eq!(parse_shard_name("embeddings.json"), None);
    }
}
