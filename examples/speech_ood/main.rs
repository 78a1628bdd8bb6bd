//! Speech OOD detection: a GMM over utterance embeddings of in-distribution voices (the four
//! flite voices), Bergamin et al.'s typicality / score / Fisher tests for held-out flite
//! utterances and for OOD audio (eSpeak NG English accents, German/French/Spanish, white and
//! pink noise), AUROC per statistic and Benjamini–Hochberg flags at α = 0.05.
//!
//! ```text
//! cargo run --release --example speech_ood --no-default-features --features audio,features,ood
//! ```
//! Ends with one JSON summary line; writes scores.csv, summary.json, roc.svg/png and
//! p_fisher.svg/png under --out.

use std::path::PathBuf;

use clap::Parser;

#[path = "../speech_common/mod.rs"]
mod common;
mod pipeline;

#[derive(Parser, Debug)]
#[command(about = "GMM-based OOD tests over speech utterance embeddings")]
struct Args {
    /// Encoder: fbank, mfcc, or ssl:<model dir or hub id>:<layer> (needs --features ssl).
    #[arg(long, default_value = "mfcc")]
    encoder: String,
    /// cpu or cuda (only the ssl encoder runs on the device).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Data root holding accent-audit/ and ood-speech/.
    #[arg(long, default_value = "examples/data")]
    data: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "target/speech_ood")]
    out: PathBuf,
    /// GMM components.
    #[arg(long, default_value_t = 4)]
    components: usize,
    /// Sentences for fitting / calibrating / testing (u001.. in order).
    #[arg(long, default_value_t = 16)]
    train_sentences: usize,
    /// Calibration sentences.
    #[arg(long, default_value_t = 7)]
    val_sentences: usize,
    /// Held-out test sentences.
    #[arg(long, default_value_t = 7)]
    test_sentences: usize,
    /// Seed of the GMM initialisation.
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
        val_sentences: a.val_sentences,
        test_sentences: a.test_sentences,
        components: a.components,
        seed: a.seed,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let s = pipeline::run(&cfg)?;
    eprintln!(
        "{}: {} train / {} calibration / {} held-out ID / {} OOD utterances, embedding dim {}",
        s.encoder, s.n_train, s.n_val, s.n_test_id, s.n_ood, s.dim
    );
    for (name, a) in &s.auroc {
        eprintln!("  AUROC {name:>13}: {a:.3}");
    }
    for (g, a) in &s.auroc_fisher_by_group {
        eprintln!("  AUROC fisher vs {g:>22}: {a:.3}");
    }
    for (g, f, n) in &s.flagged_by_group {
        eprintln!("  BH-flagged {g:>22}: {f}/{n}");
    }
    let flagged = s.scored.iter().filter(|u| u.flagged).count();
    eprintln!(
        "  {flagged} of {} test utterances flagged; empirical FDR {:.3}",
        s.scored.len(),
        s.empirical_fdr
    );
    let mut json = serde_json::to_value(&s)?;
    json["seconds"] = serde_json::json!(t0.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string(&json)?);
    Ok(())
}
