//! Single-threaded timing of the error-align port and jiwer-style WER on a JSONL of pairs
//! (`{"ref":..., "hyp":...}` per line), used by `scripts/bench_audit_vs_python.sh`.
//! Prints one JSON line per measurement and optionally writes the default-variant ops for an
//! identity check against Python.
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use voxprobe::audit::{error_align, metrics, AlignOptions, WordLevelMethod};

#[derive(Parser)]
struct Args {
    /// Pairs JSONL.
    pairs: String,
    /// Passes; the best is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Time `word_level_pass = false` on the first N pairs, one pass (0 = skip; it is slow on
    /// long inputs). The Python side uses 200 pairs of ~20 words and 10 of 200 words.
    #[arg(long, default_value_t = 0)]
    no_word_pass_pairs: usize,
    /// Write default-variant ops here (compact fixture format) for an identity check.
    #[arg(long)]
    dump_ops: Option<String>,
}

fn best_rate(n: usize, repeats: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(n as f64 / best)
}

fn main() -> Result<()> {
    let a = Args::parse();
    let text = std::fs::read_to_string(&a.pairs).with_context(|| a.pairs.clone())?;
    let pairs: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            Ok((
                v["ref"].as_str().unwrap_or("").to_string(),
                v["hyp"].as_str().unwrap_or("").to_string(),
            ))
        })
        .collect::<Result<_>>()?;
    let n = pairs.len();
    let mut variants = vec![
        ("error_align_default", AlignOptions::default(), n, a.repeats),
        (
            "error_align_unambiguous",
            AlignOptions::default().word_level_method(WordLevelMethod::Unambiguous),
            n,
            a.repeats,
        ),
        (
            "error_align_beam_5",
            AlignOptions::default().beam_size(5),
            n,
            a.repeats,
        ),
    ];
    if a.no_word_pass_pairs > 0 {
        variants.push((
            "error_align_no_word_pass",
            AlignOptions::default().word_level_pass(false),
            a.no_word_pass_pairs.min(n),
            1,
        ));
    }
    for (name, opts, count, repeats) in &variants {
        let rate = best_rate(*count, *repeats, || {
            for (r, h) in &pairs[..*count] {
                std::hint::black_box(error_align(r, h, opts)?);
            }
            Ok(())
        })?;
        println!("{}", json!({"what": name, "pairs_per_s": rate}));
    }
    let rate = best_rate(n, a.repeats, || {
        for (r, h) in &pairs {
            std::hint::black_box(metrics::word_counts(r, h).measures());
        }
        Ok(())
    })?;
    println!(
        "{}",
        json!({"what": "wer_process_words", "pairs_per_s": rate})
    );
    let rate = best_rate(n, a.repeats, || {
        for (r, h) in &pairs {
            std::hint::black_box(metrics::char_counts(r, h).measures());
        }
        Ok(())
    })?;
    println!(
        "{}",
        json!({"what": "cer_process_characters", "pairs_per_s": rate})
    );
    if let Some(path) = a.dump_ops {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        for (r, h) in &pairs {
            let ops = error_align(r, h, &AlignOptions::default())?;
            writeln!(f, "{}", serde_json::to_string(&ops)?)?;
        }
    }
    Ok(())
}
