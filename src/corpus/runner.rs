//! One runner for every per-utterance command.
//!
//! A [`Job`] turns one manifest [`Entry`] into an [`Output`] (rows, a transcript or an output
//! file). [`run`] owns the rest: this shard's entries, every path checked before work starts,
//! the shard lock, part files (resume), `--skip-bad`, `--max-new`, progress, and the shard's
//! outputs streamed from the parts (see [`super::output`]).

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::MissingInput;
use super::output::{
    write_atomic, write_outputs, FailedRecord, Faults, Head, Kind, Manifest, UttRecord,
};
use super::parts::{scan, PartEntry, PartWriter, PartsSource};
use super::{Entry, Error, Result, Shard};

/// Where a bad input failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// The file does not exist (found before work starts).
    Missing,
    /// Decoding the audio (undecodable, empty).
    Load,
    /// The job's computation (e.g. too short for the model).
    Process,
    /// The job could not start (a model that does not load): stops the run even with
    /// `skip_bad`, since every utterance would fail the same way.
    Setup,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing",
            Self::Load => "load",
            Self::Process => "process",
            Self::Setup => "setup",
        })
    }
}

/// A job's error for one utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where.
    pub stage: Stage,
    /// What (the full error chain).
    pub error: String,
}

impl Failure {
    /// A decoding failure.
    pub fn load(e: impl fmt::Display) -> Self {
        Self {
            stage: Stage::Load,
            error: e.to_string(),
        }
    }

    /// A failure to start the job (see [`Stage::Setup`]).
    pub fn setup(e: impl fmt::Display) -> Self {
        Self {
            stage: Stage::Setup,
            error: e.to_string(),
        }
    }

    /// A computation failure.
    pub fn process(e: impl fmt::Display) -> Self {
        Self {
            stage: Stage::Process,
            error: e.to_string(),
        }
    }
}

/// What a job produced for one utterance.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Output {
    /// Decoded audio duration in seconds.
    pub duration: f64,
    /// Matrix jobs: `(frames, dim, frames × dim row-major values)`.
    pub rows: Option<(usize, usize, Vec<f32>)>,
    /// Text jobs: the transcript (tabs and newlines are replaced by spaces).
    pub text: Option<String>,
    /// Audio jobs: the file written.
    pub path: Option<String>,
}

impl Output {
    /// An output of `duration` seconds with nothing else yet.
    pub fn new(duration: f64) -> Self {
        Self {
            duration,
            ..Self::default()
        }
    }

    /// Sets the rows.
    pub fn rows(mut self, frames: usize, dim: usize, values: Vec<f32>) -> Self {
        self.rows = Some((frames, dim, values));
        self
    }

    /// Sets the transcript.
    pub fn text(mut self, t: impl Into<String>) -> Self {
        self.text = Some(t.into().replace(['\t', '\n', '\r'], " "));
        self
    }

    /// Sets the output path.
    pub fn path(mut self, p: impl Into<String>) -> Self {
        self.path = Some(p.into());
        self
    }
}

/// A per-utterance command.
pub trait Job {
    /// Output file stem (`embeddings`, `features`, `transcripts`, `decoded`).
    fn stem(&self) -> &str;
    /// What it writes.
    fn kind(&self) -> Kind;
    /// Its options, recorded in the manifest: shards and resumed runs must agree on them.
    fn options(&self) -> &serde_json::Value;
    /// Processes one utterance (load models lazily: this is only called when work is left).
    ///
    /// # Errors
    /// A [`Failure`] for this utterance; the runner stops or skips it (`skip_bad`).
    fn process(&mut self, entry: &Entry) -> std::result::Result<Output, Failure>;
}

/// Progress, reported after each utterance.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Utterances of this shard finished (this run and earlier runs).
    pub done: usize,
    /// Utterances in this shard.
    pub total: usize,
    /// The utterance just finished.
    pub id: &'a str,
}

/// Runner options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// Output directory. Default: `.`.
    pub out: PathBuf,
    /// This process's shard. Default: `0/1`.
    pub shard: Shard,
    /// Go on past bad inputs, listing them in `failed.jsonl`. Default: false.
    pub skip_bad: bool,
    /// Stop (resumably) after this many newly processed utterances. Default: none.
    pub max_new: Option<usize>,
    /// Utterances per part file at most. Default: 64.
    pub part_items: usize,
    /// Bytes per part file before it is written. Default: 4 MiB.
    pub part_bytes: usize,
    #[doc(hidden)]
    pub faults: Faults,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("."),
            shard: Shard::default(),
            skip_bad: false,
            max_new: None,
            part_items: 64,
            part_bytes: 4 << 20,
            faults: Faults::default(),
        }
    }
}

impl RunOptions {
    /// Options writing to `out`.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            ..Self::default()
        }
    }
    /// Sets the shard.
    pub fn shard(mut self, s: Shard) -> Self {
        self.shard = s;
        self
    }
    /// Sets skip-bad.
    pub fn skip_bad(mut self, on: bool) -> Self {
        self.skip_bad = on;
        self
    }
    /// Sets the new-utterance limit.
    pub fn max_new(mut self, n: Option<usize>) -> Self {
        self.max_new = n;
        self
    }
    /// Sets the utterances per part.
    pub fn part_items(mut self, n: usize) -> Self {
        self.part_items = n.max(1);
        self
    }
    /// Sets the bytes per part.
    pub fn part_bytes(mut self, n: usize) -> Self {
        self.part_bytes = n;
        self
    }
    #[doc(hidden)]
    pub fn faults(mut self, f: Faults) -> Self {
        self.faults = f;
        self
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Utterances in this shard.
    pub shard_utterances: usize,
    /// Computed in this run (including bad ones).
    pub processed: usize,
    /// Taken from an earlier run (parts or a finished shard).
    pub resumed: usize,
    /// Bad inputs skipped (`skip_bad`), this run and earlier ones.
    pub failed: usize,
    /// Damaged part files deleted and redone.
    pub redone_parts: Vec<String>,
    /// Whether the shard's outputs are written.
    pub complete: bool,
    /// The shard's manifest (written when complete).
    pub manifest: PathBuf,
}

/// The work directory of a shard's parts.
pub fn parts_dir(out: &Path, stem: &str, shard: Shard) -> PathBuf {
    out.join(".parts").join(format!("{stem}{}", shard.suffix()))
}

/// Holds the shard's lock file; released when dropped or when the process dies.
struct Lock {
    _file: File,
}

fn lock(dir: &Path) -> Result<Lock> {
    let p = dir.join("lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    match f.try_lock() {
        Ok(()) => Ok(Lock { _file: f }),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: p.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&p, e)),
    }
}

fn record(e: &Entry, o: &Output) -> UttRecord {
    UttRecord {
        index: e.index,
        id: e.id.clone(),
        source: e.path.display().to_string(),
        start: e.start,
        end: e.end,
        duration: o.duration,
        offset: None,
        frames: o.rows.as_ref().map(|r| r.0),
        path: o.path.clone(),
        text: o.text.clone(),
    }
}

fn failed(e: &Entry, f: &Failure) -> FailedRecord {
    FailedRecord {
        id: e.id.clone(),
        path: e.path.display().to_string(),
        stage: f.stage.to_string(),
        error: f.error.clone(),
        index: e.index,
        manifest: e.origin.to_string(),
    }
}

/// Runs `job` over this shard of `entries` (the whole manifest, in order), resuming from
/// earlier runs' parts, then writes the shard's outputs.
///
/// # Errors
/// [`Error::Locked`] (another process runs this shard), [`Error::Conflict`] (outputs or parts
/// of other options or another manifest), [`Error::MissingInputs`] (all missing paths at
/// once, without `skip_bad`), [`Error::BadInput`] (the first bad input, without `skip_bad`),
/// [`Error::DiskFull`], [`Error::Io`].
pub fn run(
    entries: &[Entry],
    job: &mut dyn Job,
    opts: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Outcome> {
    let shard = opts.shard;
    let stem = job.stem().to_string();
    let options = job.options().clone();
    let mine: Vec<&Entry> = entries.iter().filter(|e| shard.owns(e.index)).collect();
    let manifest = opts.out.join(format!("{stem}{}.json", shard.suffix()));
    let mut outcome = Outcome {
        shard_utterances: mine.len(),
        processed: 0,
        resumed: 0,
        failed: 0,
        redone_parts: Vec::new(),
        complete: false,
        manifest: manifest.clone(),
    };
    if manifest.is_file() {
        let m = Manifest::read(&manifest)?;
        if m.options != options {
            return Err(Error::Conflict(format!(
                "{} was written with other options ({}); remove it or use another --out",
                manifest.display(),
                m.options
            )));
        }
        // Killed after the manifest was written but before the parts were removed.
        let dir = parts_dir(&opts.out, &stem, shard);
        if dir.is_dir() {
            let _lock = lock(&dir)?;
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let _ = std::fs::remove_dir(opts.out.join(".parts"));
        }
        outcome.resumed = mine.len();
        outcome.failed = m.failed;
        outcome.complete = true;
        return Ok(outcome);
    }
    let dir = parts_dir(&opts.out, &stem, shard);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let _lock = lock(&dir)?;
    let opts_path = dir.join("options.json");
    let want = serde_json::to_string_pretty(&options).map_err(|e| Error::Invalid(e.to_string()))?;
    let (found, redone) = scan(&dir, mine.len())?;
    outcome.redone_parts = redone;
    if opts_path.is_file() && !found.is_empty() {
        let have = std::fs::read_to_string(&opts_path).map_err(|e| Error::io(&opts_path, e))?;
        if have != want {
            return Err(Error::Conflict(format!(
                "{} holds unfinished work made with other options:\n{have}\nnow:\n{want}\n\
                 remove that directory to start over, or rerun with the same options",
                dir.display()
            )));
        }
    } else {
        write_atomic(&opts_path, want.as_bytes(), &opts.faults)?;
    }
    // Positions already done; a part belongs to manifest positions, and if the manifest was
    // edited since, it would silently stand for other files.
    let mut done = vec![false; mine.len()];
    for f in &found {
        let bytes = std::fs::read(&f.path).map_err(|e| Error::io(&f.path, e))?;
        let entries = super::parts::decode(&bytes).map_err(|problem| Error::Corrupt {
            path: f.path.display().to_string(),
            problem,
        })?;
        for (k, (pe, _)) in entries.iter().enumerate() {
            let pos = f.first + k;
            let e = mine[pos];
            if pe.id() != e.id {
                return Err(Error::Conflict(format!(
                    "a finished part for manifest line {} holds utterance {}, but the manifest \
                     now lists {} there; the input changed since the interrupted run: remove {}",
                    e.origin,
                    pe.id(),
                    e.id,
                    dir.display()
                )));
            }
            if matches!(pe, PartEntry::Failed(_)) {
                outcome.failed += 1;
            }
            done[pos] = true;
        }
    }
    outcome.resumed = done.iter().filter(|&&d| d).count();
    // Every path of the work left, checked before work starts.
    let missing: Vec<usize> = (0..mine.len())
        .filter(|&p| !done[p] && !mine[p].path.is_file())
        .collect();
    if !missing.is_empty() && !opts.skip_bad {
        return Err(Error::MissingInputs(
            missing
                .iter()
                .map(|&p| MissingInput {
                    origin: mine[p].origin.to_string(),
                    id: mine[p].id.clone(),
                    path: mine[p].path.display().to_string(),
                })
                .collect(),
        ));
    }
    let mut is_missing = vec![false; mine.len()];
    missing.iter().for_each(|&p| is_missing[p] = true);
    let mut w = PartWriter::new(0);
    let mut n_done = outcome.resumed;
    for pos in 0..mine.len() {
        if done[pos] {
            w.flush(&dir, pos + 1, &opts.faults)?;
            continue;
        }
        if w.count == 0 {
            w.first = pos;
        }
        if opts.max_new.is_some_and(|m| outcome.processed >= m) {
            w.flush(&dir, pos, &opts.faults)?;
            return Ok(outcome);
        }
        let e = mine[pos];
        let result = if is_missing[pos] {
            Err(Failure {
                stage: Stage::Missing,
                error: "no such file".into(),
            })
        } else {
            job.process(e)
        };
        match result {
            Ok(o) => {
                let rec = record(e, &o);
                let (dim, rows) = match &o.rows {
                    Some((_, d, v)) => (*d, v.as_slice()),
                    None => (0, &[][..]),
                };
                w.push(&PartEntry::Done { rec, dim }, rows)?;
            }
            Err(f) if f.stage == Stage::Setup => {
                w.flush(&dir, pos, &opts.faults)?;
                return Err(Error::Setup(f.error));
            }
            Err(f) if opts.skip_bad => {
                tracing::warn!(id = %e.id, path = %e.path.display(), stage = %f.stage, error = %f.error, "skipping bad input");
                w.push(&PartEntry::Failed(failed(e, &f)), &[])?;
                outcome.failed += 1;
            }
            Err(f) => {
                w.flush(&dir, pos, &opts.faults)?;
                return Err(Error::BadInput {
                    id: e.id.clone(),
                    path: e.path.display().to_string(),
                    origin: e.origin.to_string(),
                    stage: f.stage.to_string(),
                    error: f.error,
                });
            }
        }
        outcome.processed += 1;
        n_done += 1;
        progress(Progress {
            done: n_done,
            total: mine.len(),
            id: &e.id,
        });
        if w.count >= opts.part_items || w.bytes() >= opts.part_bytes {
            w.flush(&dir, pos + 1, &opts.faults)?;
        }
    }
    w.flush(&dir, mine.len(), &opts.faults)?;
    let (found, redone) = scan(&dir, mine.len())?;
    if !redone.is_empty() {
        return Err(Error::Corrupt {
            path: dir.display().to_string(),
            problem: format!(
                "part files were damaged while the shard ran ({}); rerun the same command",
                redone.join(", ")
            ),
        });
    }
    let head = Head {
        stem: &stem,
        kind: job.kind(),
        shard,
        total: entries.len(),
        options: &options,
    };
    write_outputs(
        &opts.out,
        &head,
        &mut PartsSource { parts: found },
        &opts.faults,
    )?;
    std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let parent = opts.out.join(".parts");
    // Only removes `.parts` when no other shard is running there.
    let _ = std::fs::remove_dir(&parent);
    outcome.complete = true;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::super::manifest;
    use super::*;

    /// A matrix job: rows derived from the id; ids starting with `bad` fail.
    struct Toy {
        options: serde_json::Value,
        calls: usize,
    }

    impl Job for Toy {
        fn stem(&self) -> &str {
            "toy"
        }
        fn kind(&self) -> Kind {
            Kind::Matrix
        }
        fn options(&self) -> &serde_json::Value {
            &self.options
        }
        fn process(&mut self, e: &Entry) -> std::result::Result<Output, Failure> {
            self.calls += 1;
            if e.id.starts_with("bad") {
                return Err(Failure::load("cannot decode"));
            }
            #[allow(clippy::cast_precision_loss)]
            let x = e.index as f32;
            let frames = e.index % 3;
            Ok(Output::new(1.0).rows(frames, 2, (0..frames * 2).map(|k| x + k as f32).collect()))
        }
    }

    fn toy() -> Toy {
        Toy {
            options: serde_json::json!({"toy": 1}),
            calls: 0,
        }
    }

    fn corpus(dir: &Path, n: usize, bad: &[usize], missing: &[usize]) -> Vec<Entry> {
        std::fs::create_dir_all(dir).unwrap();
        let mut scp = String::new();
        for i in 0..n {
            let id = if bad.contains(&i) {
                format!("bad{i}")
            } else {
                format!("u{i}")
            };
            let p = dir.join(format!("{id}.wav"));
            if !missing.contains(&i) {
                std::fs::write(&p, b"x").unwrap();
            }
            scp.push_str(&format!("{id} {}\n", p.display()));
        }
        manifest::parse(&scp, "wav.scp").unwrap()
    }

    fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vp-runner-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn resume_after_max_new_and_shards_merge_equal_one_run() {
        let d = tmp("resume");
        let e = corpus(&d.join("in"), 23, &[], &[]);
        let full = d.join("full");
        let o = run(
            &e,
            &mut toy(),
            &RunOptions::new(&full).part_items(4),
            &mut |_| {},
        )
        .unwrap();
        assert!(o.complete);
        let want = files(&full);
        // Interrupted twice by --max-new, then finished: same bytes, each utterance once.
        let part = d.join("part");
        let mut job = toy();
        let opts = RunOptions::new(&part).part_items(4);
        let o1 = run(&e, &mut job, &opts.clone().max_new(Some(7)), &mut |_| {}).unwrap();
        assert!(!o1.complete);
        let o2 = run(&e, &mut job, &opts.clone().max_new(Some(5)), &mut |_| {}).unwrap();
        assert_eq!(o2.resumed, 7);
        let o3 = run(&e, &mut job, &opts, &mut |_| {}).unwrap();
        assert!(o3.complete);
        assert_eq!(job.calls, 23);
        assert_eq!(files(&part), want);
        // Three shards, merged.
        let sh = d.join("sharded");
        for i in 0..3 {
            let s = Shard { index: i, count: 3 };
            run(
                &e,
                &mut toy(),
                &RunOptions::new(&sh).shard(s).part_items(2),
                &mut |_| {},
            )
            .unwrap();
        }
        super::super::output::merge_dir(&sh, &Faults::default()).unwrap();
        let merged: Vec<_> = files(&sh)
            .into_iter()
            .filter(|(n, _)| !n.contains(".shard-"))
            .collect();
        assert_eq!(merged, want);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_inputs_are_all_reported_and_skip_bad_lists_exactly_the_bad_ones() {
        let d = tmp("bad");
        let e = corpus(&d.join("in"), 10, &[4], &[2, 7]);
        let err = run(&e, &mut toy(), &RunOptions::new(d.join("a")), &mut |_| {}).unwrap_err();
        match &err {
            Error::MissingInputs(m) => {
                assert_eq!(m.len(), 2);
                assert_eq!(m[0].origin, "wav.scp:3");
                assert_eq!(m[1].id, "u7");
            }
            _ => panic!("{err}"),
        }
        let mut job = toy();
        let o = run(
            &e,
            &mut job,
            &RunOptions::new(d.join("b")).skip_bad(true),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(o.failed, 3);
        let failed = std::fs::read_to_string(d.join("b/failed.jsonl")).unwrap();
        let rows: Vec<FailedRecord> = failed
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.stage.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("u2", "missing"), ("bad4", "load"), ("u7", "missing")]
        );
        assert_eq!(job.calls, 8, "missing files are not handed to the job");
        // Without --skip-bad, the first bad input stops the run with id, path and line.
        let e = corpus(&d.join("in2"), 6, &[3], &[]);
        let err = run(&e, &mut toy(), &RunOptions::new(d.join("c")), &mut |_| {}).unwrap_err();
        assert!(
            matches!(&err, Error::BadInput { id, origin, .. } if id == "bad3" && origin == "wav.scp:4"),
            "{err}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_locked_shard_is_refused_and_damaged_parts_are_redone() {
        let d = tmp("lock");
        let e = corpus(&d.join("in"), 9, &[], &[]);
        let out = d.join("out");
        let dir = parts_dir(&out, "toy", Shard::default());
        std::fs::create_dir_all(&dir).unwrap();
        let held = lock(&dir).unwrap();
        let err = run(&e, &mut toy(), &RunOptions::new(&out), &mut |_| {}).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        drop(held);
        let opts = RunOptions::new(&out).part_items(3);
        run(&e, &mut toy(), &opts.clone().max_new(Some(6)), &mut |_| {}).unwrap();
        let part = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "part"))
            .unwrap();
        let b = std::fs::read(&part).unwrap();
        std::fs::write(&part, &b[..b.len() / 2]).unwrap();
        let mut job = toy();
        let o = run(&e, &mut job, &opts, &mut |_| {}).unwrap();
        assert_eq!(o.redone_parts.len(), 1);
        assert_eq!(job.calls, 6, "3 redone + 3 never done");
        let clean = d.join("clean");
        run(&e, &mut toy(), &RunOptions::new(&clean), &mut |_| {}).unwrap();
        assert_eq!(files(&out), files(&clean));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn disk_full_is_a_clear_error_and_the_rerun_is_exact() {
        let d = tmp("full");
        let e = corpus(&d.join("in"), 12, &[], &[]);
        let clean = d.join("clean");
        run(&e, &mut toy(), &RunOptions::new(&clean), &mut |_| {}).unwrap();
        for limit in [100u64, 700, 1500, 2500] {
            let out = d.join(format!("full{limit}"));
            let opts = RunOptions::new(&out).part_items(2);
            let err = run(
                &e,
                &mut toy(),
                &opts
                    .clone()
                    .faults(Faults::default().fail_writes_after(limit)),
                &mut |_| {},
            )
            .unwrap_err();
            assert!(matches!(err, Error::DiskFull { .. }), "{limit}: {err}");
            assert!(!out.join("toy.json").exists());
            run(&e, &mut toy(), &opts, &mut |_| {}).unwrap();
            assert_eq!(files(&out), files(&clean), "limit {limit}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
