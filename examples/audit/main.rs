//! ASR audit: error-align ops, jiwer-identical WER family, per-group diversity tax with bootstrap
//! CIs, confusions, and an HTML report.
//!
//! ```text
//! cargo run --release --example audit --no-default-features --features audit             # bundled data
//! cargo run --release --example audit --no-default-features --features audit -- \
//!     --refs refs.tsv --hyps hyps.tsv --out out/audit [--beam-size 100] \
//!     [--word-level-method rapidfuzz|unambiguous] [--no-word-level-pass] [--normalize standard]
//! cargo run --release --example audit --no-default-features --features audit -- --pairs pairs.jsonl
//! ```
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use voxprobe::audit::audit::{audit, read_jsonl, read_kaldi, AuditOptions, InputIssues, Utterance};
use voxprobe::audit::representativity::RepresentativityOptions;
use voxprobe::audit::{AlignOptions, Normalizer, WordLevelMethod};

#[derive(Parser, Debug)]
#[command(about = "Audit ASR transcripts per group (error-align + jiwer metrics)")]
struct Args {
    /// Reference file: `id<TAB>text` or `id<TAB>group<TAB>text`.
    #[arg(long, requires = "hyps")]
    refs: Option<PathBuf>,
    /// Hypothesis file: `id<TAB>text`.
    #[arg(long, requires = "refs")]
    hyps: Option<PathBuf>,
    /// JSONL with `id`, `ref`, `hyp`, optional `group` (instead of --refs/--hyps).
    #[arg(long, conflicts_with_all = ["refs", "hyps"])]
    pairs: Option<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "out/audit")]
    out: PathBuf,
    /// error-align beam size.
    #[arg(long, default_value_t = 100)]
    beam_size: usize,
    /// Word-level anchor pass: rapidfuzz (error-align 0.1.0b10 default) or unambiguous.
    #[arg(long, default_value = "rapidfuzz")]
    word_level_method: String,
    /// Disable the word-level anchor pass (full character beam search; slow on long inputs).
    #[arg(long)]
    no_word_level_pass: bool,
    /// Normalisation: none, standard, or a comma list of lowercase, contractions, abbreviations,
    /// strip-punctuation, collapse-whitespace.
    #[arg(long, default_value = "none")]
    normalize: String,
    /// Score refs without hyp as empty hyps (and ignore hyps without ref) instead of failing.
    #[arg(long)]
    allow_missing: bool,
    /// Bootstrap resamples per group.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Per-utterance attributes (TSV with `id` + attribute columns, or JSONL) for the
    /// representativity section. Bundled run: examples/data/representativity/attributes.tsv.
    #[arg(long, requires = "population")]
    attributes: Option<PathBuf>,
    /// Target population table (TSV: attribute columns + `share`, or `attribute value share`).
    /// Bundled run: examples/data/representativity/population.tsv.
    #[arg(long, requires = "attributes")]
    population: Option<PathBuf>,
}

fn bundled() -> Result<(Vec<Utterance>, InputIssues)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let (mut utts, mut issues) = read_kaldi(
        &root.join("accent-audit/refs.tsv"),
        &root.join("accent-audit/hyps.tsv"),
        false,
    )?;
    let (lv, lv_issues) = read_kaldi(
        &root.join("librivox/refs.tsv"),
        &root.join("librivox/hyps.tsv"),
        false,
    )?;
    utts.extend(lv.into_iter().map(|mut u| {
        u.group = Some("librivox".into());
        u
    }));
    issues.empty_lines.extend(lv_issues.empty_lines);
    Ok((utts, issues))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/representativity");
    let (utts, issues, representativity) = match (&args.pairs, &args.refs, &args.hyps) {
        (Some(p), _, _) => {
            let (u, i) = read_jsonl(p)?;
            (u, i, args.attributes.clone().zip(args.population.clone()))
        }
        (None, Some(r), Some(h)) => {
            let (u, i) = read_kaldi(r, h, args.allow_missing)?;
            (u, i, args.attributes.clone().zip(args.population.clone()))
        }
        _ => {
            let (u, i) = bundled().context("reading bundled examples/data")?;
            let files = args
                .attributes
                .clone()
                .zip(args.population.clone())
                .unwrap_or((data.join("attributes.tsv"), data.join("population.tsv")));
            (u, i, Some(files))
        }
    };
    let align = AlignOptions::default()
        .beam_size(args.beam_size)
        .word_level_pass(!args.no_word_level_pass)
        .word_level_method(args.word_level_method.parse::<WordLevelMethod>()?);
    let opts = AuditOptions::default()
        .align(align)
        .normalizer(Normalizer::parse(&args.normalize)?)
        .bootstrap_samples(args.bootstrap)
        .seed(args.seed);
    let pb = ProgressBar::new(utts.len() as u64);
    if utts.len() < 1000 {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} utterances ({per_sec}, eta {eta})",
    )?);
    let t = std::time::Instant::now();
    let mut result = audit(&utts, issues, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    if let Some((attributes, population)) = &representativity {
        let ropts = RepresentativityOptions::default()
            .bootstrap_samples(args.bootstrap)
            .seed(args.seed);
        result
            .add_representativity(attributes, population, &ropts)
            .with_context(|| {
                format!(
                    "representativity from {} and {}",
                    attributes.display(),
                    population.display()
                )
            })?;
    }
    result.write_dir(&args.out)?;
    let r = &result.report;
    println!(
        "{} utterances in {:.2}s; corpus WER {:.4} MER {:.4} WIL {:.4} CER {:.4} (normalisation: {})",
        r.corpus.utterances,
        t.elapsed().as_secs_f64(),
        r.corpus.measures.wer,
        r.corpus.measures.mer,
        r.corpus.measures.wil,
        r.corpus.cer,
        if r.normalization.is_empty() { "none".to_string() } else { r.normalization.join(",") }
    );
    for g in &r.groups {
        println!(
            "  {:<24} n={:<4} WER {:.4} [{:.4}, {:.4}]  tax {:+.4}",
            g.group, g.utterances, g.measures.wer, g.wer_ci95[0], g.wer_ci95[1], g.diversity_tax
        );
    }
    if let Some(rep) = &r.representativity {
        for t in rep.attributes.iter().chain(rep.joint.iter()) {
            let ps = &t.post_stratified;
            println!(
                "  population-weighted by {:<16} WER {} (covers {:.0}% of the population; missing: {})",
                t.attribute,
                ps.wer.map_or("n/a".to_string(), |w| format!("{w:.4}")),
                100.0 * ps.covered_weight,
                if ps.missing_strata.is_empty() { "none".to_string() } else { ps.missing_strata.join(", ") }
            );
        }
    }
    println!(
        "wrote {}/report.json, utterances.jsonl, report.html",
        args.out.display()
    );
    Ok(())
}
