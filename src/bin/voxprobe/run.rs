//! The per-utterance driver shared by `decode`, `features`, `embed` and `transcribe`: shard
//! selection, resume from parts, progress, and the shard's outputs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::input::{Entry, InputArgs};
use crate::store::{self, Done, JobInfo, Kind, Opened, Parts};

/// Options every per-utterance command shares.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many newly processed utterances, leaving the shard unfinished and
    /// resumable (for jobs with a time limit: rerun the same command to continue).
    #[arg(long)]
    pub max_new: Option<usize>,
}

/// What a run did, printed as the JSON summary line.
pub struct Outcome {
    /// Utterances in this shard.
    pub shard_utterances: usize,
    /// Computed in this run.
    pub processed: usize,
    /// Taken from an earlier run (parts or a finished shard).
    pub skipped: usize,
    /// Whether the shard's outputs are written.
    pub complete: bool,
    /// Manifest path.
    pub manifest: PathBuf,
}

impl Outcome {
    /// The JSON summary.
    pub fn json(&self, command: &str, input: &InputArgs) -> serde_json::Value {
        json!({
            "command": command,
            "shard": input.shard.to_string(),
            "utterances": self.shard_utterances,
            "processed": self.processed,
            "skipped": self.skipped,
            "complete": self.complete,
            "manifest": self.manifest.display().to_string(),
        })
    }
}

/// Runs `work` on every utterance of this shard that is not finished yet, then writes the
/// shard's outputs. `work` is only called when something is left to do (load models lazily).
pub fn run(
    input: &InputArgs,
    args: &RunArgs,
    stem: &str,
    kind: Kind,
    options: &serde_json::Value,
    mut work: impl FnMut(&Entry) -> Result<Done>,
) -> Result<Outcome> {
    let (entries, total) = store::select(input.entries()?, input.shard);
    let manifest = args
        .out
        .join(format!("{stem}{}.json", input.shard.suffix()));
    let parts = match Parts::open(&args.out, stem, input.shard, options)? {
        Opened::Complete(m) => {
            eprintln!(
                "{}: shard {} already complete ({} utterances), nothing to do",
                manifest.display(),
                input.shard,
                m.utterances.len()
            );
            return Ok(Outcome {
                shard_utterances: entries.len(),
                processed: 0,
                skipped: entries.len(),
                complete: true,
                manifest,
            });
        }
        Opened::Run(p) => p,
    };
    let pb = progress(entries.len(), stem);
    let (mut processed, mut skipped) = (0, 0);
    let mut done = Vec::with_capacity(entries.len());
    for e in &entries {
        pb.set_message(e.id.clone());
        if let Some(d) = parts.load(e.index)? {
            // A part belongs to a manifest position; if the manifest was edited since, the
            // part would silently stand for another file.
            if d.record.id != e.id || d.record.source != display(&e.path) {
                anyhow::bail!(
                    "a finished part for manifest line {} holds {} ({}), but the manifest now \
                     lists {} ({}); the input changed since the interrupted run: remove {}/.parts",
                    e.index + 1,
                    d.record.id,
                    d.record.source,
                    e.id,
                    e.path.display(),
                    args.out.display()
                );
            }
            skipped += 1;
            done.push(d);
            pb.inc(1);
            continue;
        }
        if args.max_new.is_some_and(|m| processed >= m) {
            pb.finish_and_clear();
            eprintln!(
                "stopped after {processed} new utterances (--max-new); rerun to continue shard {}",
                input.shard
            );
            return Ok(Outcome {
                shard_utterances: entries.len(),
                processed,
                skipped,
                complete: false,
                manifest,
            });
        }
        let d = work(e).with_context(|| format!("utterance {} ({})", e.id, e.path.display()))?;
        parts.save(e.index, &d)?;
        done.push(d);
        processed += 1;
        pb.inc(1);
    }
    pb.finish_and_clear();
    let job = JobInfo {
        out: &args.out,
        stem,
        kind,
        shard: input.shard,
        total,
        options,
    };
    store::finish(&job, done)?;
    parts.remove()?;
    Ok(Outcome {
        shard_utterances: entries.len(),
        processed,
        skipped,
        complete: true,
        manifest,
    })
}

/// A progress bar on stderr, hidden when stderr is not a terminal (logs, batch jobs).
pub fn progress(len: usize, what: &str) -> ProgressBar {
    use std::io::IsTerminal;
    let pb = ProgressBar::new(len as u64);
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, eta {{eta}}) {{msg}}"
    )) {
        pb.set_style(style);
    }
    pb
}

/// The record of an utterance.
pub fn record(e: &Entry, duration: f64) -> store::UttRecord {
    store::UttRecord {
        index: e.index,
        id: e.id.clone(),
        source: e.path.display().to_string(),
        duration,
        offset: None,
        frames: None,
        path: None,
        text: None,
    }
}

/// `path` as a string for manifests.
pub fn display(p: &Path) -> String {
    p.display().to_string()
}
