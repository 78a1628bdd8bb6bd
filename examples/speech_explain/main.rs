//! Speech self-explanation: frame features of the accent-audit utterances (seven synthetic
//! voices), KMEx prototypes per voice group, accuracy of the k-means head against a linear
//! probe (utterance and frame level, held out by sentence), and per-frame evidence maps over
//! time plotted over the waveform.
//!
//! ```text
//! cargo run --release --example speech_explain --no-default-features --features audio,features,kmex
//! ```
//! Ends with one JSON summary line; writes summary.json, prototypes.json and
//! evidence.svg/png under --out.

use std::path::PathBuf;

use clap::Parser;

#[path = "../speech_common/mod.rs"]
mod common;
mod pipeline;

#[derive(Parser, Debug)]
#[command(about = "KMEx prototypes and evidence maps for voice groups")]
struct Args {
    /// Encoder: fbank, mfcc, or ssl:<model dir or hub id>:<layer> (needs --features ssl).
    #[arg(long, default_value = "mfcc")]
    encoder: String,
    /// cpu or cuda (only the ssl encoder runs on the device).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Data root holding accent-audit/.
    #[arg(long, default_value = "examples/data")]
    data: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "target/speech_explain")]
    out: PathBuf,
    /// Training sentences (u001..); the next --test-sentences are held out.
    #[arg(long, default_value_t = 20)]
    train_sentences: usize,
    /// Held-out sentences.
    #[arg(long, default_value_t = 10)]
    test_sentences: usize,
    /// Prototypes per voice group.
    #[arg(long, default_value_t = 3)]
    prototypes: usize,
    /// Seed of k-means.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cfg = pipeline::Config {
        data: a.data,
        out: a.out,
        encoder: a.encoder,
        device: a.device,
        train_sentences: a.train_sentences,
        test_sentences: a.test_sentences,
        prototypes: a.prototypes,
        seed: a.seed,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let s = pipeline::run(&cfg)?;
    eprintln!(
        "{}: {} groups, {} train / {} held-out utterances (split by sentence), chance {:.3}",
        s.encoder,
        s.groups.len(),
        s.n_train,
        s.n_test,
        s.chance
    );
    eprintln!(
        "  utterance accuracy: KMEx {:.3}  linear probe {:.3}",
        s.kmex_utterance_acc, s.linear_utterance_acc
    );
    eprintln!(
        "  frame accuracy:     KMEx {:.3}  linear probe {:.3}",
        s.kmex_frame_acc, s.linear_frame_acc
    );
    eprintln!(
        "  evidence maps: mean = margin to {:.1e}; {:.1}% of frames argue for the prediction",
        s.max_evidence_mean_error,
        100.0 * s.positive_evidence_share
    );
    let mut json = serde_json::to_value(&s)?;
    json["seconds"] = serde_json::json!(t0.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string(&json)?);
    Ok(())
}
