//! `voxprobe`: the command-line tool over the voxprobe crates, built to scale out.
//!
//! ```text
//! voxprobe decode     --scp wav.scp --out data/             # 16 kHz mono wav (or f32)
//! voxprobe features   --scp wav.scp --kind fbank --out fb/  # Kaldi fbank / MFCC
//! voxprobe embed      --scp wav.scp --model DIR|HUB_ID --layer 6 --pooling mean --out emb/
//! voxprobe transcribe --scp wav.scp --model CTC_DIR --out asr/
//! voxprobe audit      --refs text --hyps asr/transcripts.tsv --out audit/
//! voxprobe explain    --embeddings emb/embeddings.json --labels utt2label --out explain/
//! voxprobe ood        --train in/embeddings.json --test new/embeddings.json --out ood/
//! voxprobe probe      --features emb/embeddings.json --labels utt2emo --cv-groups utt2spk --out probe/
//! voxprobe merge      emb/                                   # join --shard I/N outputs
//! ```
//!
//! Per-utterance commands take `--shard I/N` (utterance i goes to shard i % N), write each
//! finished utterance to a part file at once (so a killed job resumes where it stopped), and
//! write the shard's outputs atomically with its manifest last (the done marker). `merge`
//! produces exactly the bytes an unsharded run writes. Every command ends with one JSON line
//! on stdout.

mod analyze;
mod decode;
mod device;
mod features;
mod input;
mod model;
mod probe;
mod run;
mod store;

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
    Decode(decode::DecodeArgs),
    /// Kaldi log-mel filterbank or MFCC features into safetensors shards.
    Features(features::FeaturesArgs),
    /// SSL encoder activations (one layer, frames or mean-pooled) into safetensors shards.
    Embed(model::EmbedArgs),
    /// Greedy CTC transcripts into a Kaldi-style `id<TAB>text` file.
    Transcribe(model::TranscribeArgs),
    /// ASR audit of hypotheses against references (voxprobe-audit report).
    Audit(analyze::AuditArgs),
    /// KMEx: per-class k-means prototypes on embeddings, decisions and per-frame evidence.
    Explain(analyze::ExplainArgs),
    /// OOD tests: a GMM on in-distribution embeddings, p-values for test embeddings, BH.
    Ood(analyze::OodArgs),
    /// Cross-validated linear probe (UAR, per fold, per layer) on utterance features.
    Probe(probe::ProbeArgs),
    /// Join the outputs of `--shard I/N` runs in a directory into unsharded outputs.
    Merge(analyze::MergeArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let summary = match cli.command {
        Command::Decode(a) => decode::run(&a)?,
        Command::Features(a) => features::run(&a)?,
        Command::Embed(a) => model::embed(&a)?,
        Command::Transcribe(a) => model::transcribe(&a)?,
        Command::Audit(a) => analyze::audit(&a)?,
        Command::Explain(a) => analyze::explain(&a)?,
        Command::Ood(a) => analyze::ood(&a)?,
        Command::Merge(a) => analyze::merge(&a)?,
        Command::Probe(a) => probe::run(&a)?,
    };
    println!("{summary}");
    Ok(())
}
