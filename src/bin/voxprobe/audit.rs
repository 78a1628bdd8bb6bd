//! `voxprobe audit`: an ASR audit of hypotheses against references (voxprobe-audit report),
//! with the options of the `audit` example.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use voxprobe::audit::audit::{audit, AuditOptions, InputIssues, Utterance};
use voxprobe::audit::representativity::RepresentativityOptions;
use voxprobe::audit::{AlignOptions, Normalizer, WordLevelMethod};
use voxprobe::corpus::text::{join, read_groups, read_transcripts};

/// `audit` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// References: a Kaldi `text` (`id words`), a TSV (`id<TAB>text` or
    /// `id<TAB>group<TAB>text`), a JSONL (`id`, `text`, optional `group`), or a Kaldi data
    /// directory (its `text`); detected from the content.
    #[arg(long)]
    refs: PathBuf,
    /// Hypotheses, in any of the --refs formats (e.g. `transcripts.tsv` from `voxprobe
    /// transcribe`).
    #[arg(long)]
    hyps: PathBuf,
    /// Groups: `<id> <group>` per line (e.g. a Kaldi `utt2spk` or an accent map); every
    /// reference needs one. Overrides a group column of --refs.
    #[arg(long)]
    groups: Option<PathBuf>,
    /// Output directory (report.json, utterances.jsonl, report.html).
    #[arg(long)]
    out: PathBuf,
    /// Normalisation: none, standard, or a comma list of lowercase, contractions,
    /// abbreviations, strip-punctuation, collapse-whitespace.
    #[arg(long, default_value = "none")]
    normalize: String,
    /// Score references without hypothesis as empty hypotheses (and leave out hypotheses
    /// without reference) instead of failing; files that share no id still fail.
    #[arg(long)]
    allow_missing: bool,
    /// error-align beam size.
    #[arg(long, default_value_t = 100)]
    beam_size: usize,
    /// Word-level anchor pass: rapidfuzz (error-align 0.1.0b10 default) or unambiguous.
    #[arg(long, default_value = "rapidfuzz")]
    word_level_method: String,
    /// Disable the word-level anchor pass (full character beam search; slow on long inputs).
    #[arg(long)]
    no_word_level_pass: bool,
    /// Bootstrap resamples per group.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Per-utterance attributes (TSV with an `id` column and one column per attribute, or
    /// JSONL) for the representativity section; needs --population.
    #[arg(long, requires = "population")]
    attributes: Option<PathBuf>,
    /// Target population table (TSV: attribute columns + `share`, joint, or `attribute value
    /// share` marginals) for the representativity section; needs --attributes.
    #[arg(long, requires = "attributes")]
    population: Option<PathBuf>,
}

/// Runs `audit`.
pub fn run(a: &Args) -> Result<serde_json::Value> {
    let (refs, rname) = read_transcripts(&a.refs)?;
    let (hyps, hname) = read_transcripts(&a.hyps)?;
    let groups = a.groups.as_ref().map(|g| read_groups(g)).transpose()?;
    let gname = a.groups.as_ref().map(|g| g.display().to_string());
    let (pairs, join_issues) = join(
        (&refs, &rname),
        (&hyps, &hname),
        groups.as_ref().zip(gname.as_deref()),
        a.allow_missing,
    )?;
    drop((refs, hyps, groups));
    let issues = InputIssues {
        missing_hypotheses: join_issues.missing_hypotheses,
        missing_references: join_issues.missing_references,
        ..InputIssues::default()
    };
    let utts: Vec<Utterance> = pairs
        .into_iter()
        .map(|p| Utterance {
            id: p.id,
            group: p.group,
            reference: p.reference,
            hypothesis: p.hypothesis,
        })
        .collect();
    let align = AlignOptions::default()
        .beam_size(a.beam_size)
        .word_level_pass(!a.no_word_level_pass)
        .word_level_method(
            a.word_level_method
                .parse::<WordLevelMethod>()
                .context("--word-level-method")?,
        );
    let opts = AuditOptions::default()
        .align(align)
        .normalizer(Normalizer::parse(&a.normalize)?)
        .bootstrap_samples(a.bootstrap)
        .seed(a.seed);
    let pb = crate::args::progress(utts.len(), "audit");
    let mut result = audit(&utts, issues, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    if let Some((attributes, population)) = a.attributes.as_ref().zip(a.population.as_ref()) {
        let ropts = RepresentativityOptions::default()
            .bootstrap_samples(a.bootstrap)
            .seed(a.seed);
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
    result.write_dir(&a.out)?;
    let r = &result.report;
    Ok(json!({
        "command": "audit",
        "utterances": r.corpus.utterances,
        "wer": r.corpus.measures.wer,
        "cer": r.corpus.cer,
        "missing_hypotheses": result.report.input_issues.missing_hypotheses.len(),
        "groups": r.groups.iter().map(|g| json!({"group": g.group, "utterances": g.utterances, "wer": g.measures.wer})).collect::<Vec<_>>(),
        "population_weighted_wer": r.representativity.as_ref().map(|rep| {
            rep.attributes
                .iter()
                .chain(rep.joint.iter())
                .map(|t| json!({"by": t.attribute, "wer": t.post_stratified.wer}))
                .collect::<Vec<_>>()
        }),
        "out": a.out.display().to_string(),
    }))
}
