//! Options every per-utterance command shares, and the glue to the library runner.

use std::path::PathBuf;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use voxprobe::corpus::output::Faults;
use voxprobe::corpus::runner::{self, Job, RunOptions};
use voxprobe::corpus::{manifest, Entry, Shard};

/// Where the utterances come from (exactly one of the three).
#[derive(clap::Args, Debug, Clone)]
pub struct InputArgs {
    /// Manifest: a Kaldi data directory (wav.scp + optional segments, text, utt2spk), a
    /// `wav.scp` (`<id> <path>`), a JSONL or a CSV manifest (`id`, `path`|`audio`, optional
    /// `text`, `speaker`, `group`, `start`, `end`|`duration`; Lhotse cuts); the format is
    /// detected from the content.
    #[arg(long, visible_alias = "manifest", conflicts_with_all = ["list", "files"])]
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
        Ok(match (&self.scp, &self.list) {
            (Some(p), _) => manifest::read(p)?,
            (None, Some(p)) => manifest::read_list(p)?,
            (None, None) => {
                if self.files.is_empty() {
                    bail!("no input: give --scp, --list or audio files");
                }
                manifest::from_paths(&self.files)?
            }
        })
    }
}

/// Options of the runner.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many newly processed utterances, leaving the shard unfinished and
    /// resumable (for jobs with a time limit: rerun the same command to continue).
    #[arg(long)]
    pub max_new: Option<usize>,
    /// Go on past undecodable, empty, too-short or missing inputs; list them in
    /// `failed.jsonl` in --out (id, path, stage, error) and count them in the summary.
    #[arg(long)]
    pub skip_bad: bool,
    /// Utterances per part file (resume granularity).
    #[arg(long, default_value_t = 64, hide = true)]
    pub part_items: usize,
    /// Test only: abort at `commit:N` or `write:N`.
    #[arg(long, hide = true)]
    pub debug_crash_at: Option<String>,
    /// Test only: fail writes with "no space left" after this many bytes.
    #[arg(long, hide = true)]
    pub debug_fail_writes_after: Option<u64>,
}

/// Test-only fault injection from the hidden flags.
pub fn faults(crash: Option<&str>, fail_after: Option<u64>) -> Result<Faults> {
    let mut f = Faults::default();
    if let Some(c) = crash {
        f = f.crash_at(c)?;
    }
    if let Some(b) = fail_after {
        f = f.fail_writes_after(b);
    }
    Ok(f)
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

/// Runs `job` over the input with the runner and returns the JSON summary.
pub fn drive(
    command: &str,
    input: &InputArgs,
    run: &RunArgs,
    job: &mut dyn Job,
) -> Result<serde_json::Value> {
    let entries = input.entries()?;
    let opts = RunOptions::new(&run.out)
        .shard(input.shard)
        .skip_bad(run.skip_bad)
        .max_new(run.max_new)
        .part_items(run.part_items)
        .faults(faults(
            run.debug_crash_at.as_deref(),
            run.debug_fail_writes_after,
        )?);
    let n = entries.iter().filter(|e| input.shard.owns(e.index)).count();
    let pb = progress(n, job.stem());
    let o = runner::run(&entries, job, &opts, &mut |p| {
        pb.set_position(p.done as u64);
        pb.set_message(p.id.to_string());
    })?;
    pb.finish_and_clear();
    for r in &o.redone_parts {
        eprintln!("redid damaged part file {r}");
    }
    if !o.complete {
        eprintln!(
            "stopped after {} new utterances (--max-new); rerun to continue shard {}",
            o.processed, input.shard
        );
    }
    if o.failed > 0 {
        eprintln!(
            "{} bad inputs skipped, listed in {}",
            o.failed,
            run.out
                .join(format!("failed{}.jsonl", input.shard.suffix()))
                .display()
        );
    }
    Ok(json!({
        "command": command,
        "shard": input.shard.to_string(),
        "utterances": o.shard_utterances,
        "processed": o.processed,
        "resumed": o.resumed,
        "failed": o.failed,
        "redone_parts": o.redone_parts.len(),
        "complete": o.complete,
        "manifest": o.manifest.display().to_string(),
    }))
}

/// Loads an entry's audio (a segment exactly), refusing empty audio.
pub fn load(
    e: &Entry,
    opts: &voxprobe::audio::LoadOptions,
) -> std::result::Result<voxprobe::audio::MonoAudio, runner::Failure> {
    let wav = voxprobe::corpus::audio::load_entry(e, opts).map_err(runner::Failure::load)?;
    if wav.samples.is_empty() {
        return Err(runner::Failure::load("empty audio (no samples)"));
    }
    Ok(wav)
}

/// An error chain as one line, for a [`runner::Failure`].
pub fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}
