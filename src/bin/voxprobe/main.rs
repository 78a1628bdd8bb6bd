//! `voxprobe`: the command-line tool over the voxprobe crates, built to scale out.
//!
//! ```text
//! voxprobe decode     --scp wav.scp --out data/             # 16 kHz mono wav (or f32)
//! voxprobe features   --scp data/ --kind fbank --out fb/    # Kaldi fbank / MFCC
//! voxprobe embed      --scp wav.scp --model DIR|HUB_ID --layer 6 --pooling mean --out emb/
//! voxprobe transcribe --scp cuts.jsonl --model CTC_DIR --out asr/
//! voxprobe audit      --refs data/text --hyps asr/transcripts.tsv --groups data/utt2spk --out audit/
//! voxprobe explain    --embeddings emb/embeddings.json --labels utt2label --out explain/
//! voxprobe ood        --train in/embeddings.json --test new/embeddings.json --out ood/
//! voxprobe probe      --features emb/embeddings.json --labels utt2emo --cv-groups utt2spk --out probe/
//! voxprobe merge      emb/                                   # join --shard I/N outputs
//! ```
//!
//! Per-utterance commands are jobs driven by one runner (`voxprobe::corpus::runner`): it owns
//! manifests, `--shard I/N`, part files (resume after a kill), the shard lock, `--skip-bad` and
//! progress, and streams the parts into the shard's outputs with the manifest last.
//! `merge` produces exactly the bytes an unsharded run writes. Every command ends with one JSON
//! line on stdout.
//!
//! A new command is one file here with its `clap::Args` struct and a `run` function, plus its
//! line in [`Command`].

mod args;
mod audit;
mod decode;
mod device;
mod embed;
mod explain;
mod features;
mod matrix;
mod merge;
mod model;
mod ood;
mod probe;
mod transcribe;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "voxprobe",
    version,
    about = "Speech research pipelines that scale out: decode, embed, transcribe, audit, explain, OOD"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode any audio to mono at a fixed rate (16 kHz by default), as wav or raw f32.
    Decode(decode::Args),
    /// Kaldi log-mel filterbank or MFCC features into safetensors shards.
    Features(features::Args),
    /// SSL encoder activations (one layer, frames or mean-pooled) into safetensors shards.
    Embed(embed::Args),
    /// Greedy CTC transcripts into a Kaldi-style `id<TAB>text` file.
    Transcribe(transcribe::Args),
    /// ASR audit of hypotheses against references (voxprobe-audit report).
    Audit(audit::Args),
    /// KMEx: per-class k-means prototypes on embeddings, decisions and per-frame evidence.
    Explain(explain::Args),
    /// OOD tests: a GMM on in-distribution embeddings, p-values for test embeddings, BH.
    Ood(ood::Args),
    /// Cross-validated linear probe (UAR, per fold, per layer) on utterance features.
    Probe(probe::ProbeArgs),
    /// Join the outputs of `--shard I/N` runs in a directory into unsharded outputs.
    Merge(merge::Args),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let summary = match cli.command {
        Command::Decode(a) => decode::run(&a)?,
        Command::Features(a) => features::run(&a)?,
        Command::Embed(a) => embed::run(&a)?,
        Command::Transcribe(a) => transcribe::run(&a)?,
        Command::Audit(a) => audit::run(&a)?,
        Command::Explain(a) => explain::run(&a)?,
        Command::Ood(a) => ood::run(&a)?,
        Command::Merge(a) => merge::run(&a)?,
        Command::Probe(a) => probe::run(&a)?,
    };
    println!("{summary}");
    Ok(())
}
