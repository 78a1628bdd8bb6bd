//! Representativity on the bundled accent-audit set against the documented example population
//! (`examples/data/representativity/`): the population-weighted WER recomputed by hand from
//! per-utterance jiwer counts, missing strata reported, unattributed utterances listed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use voxprobe_audit::audit::{audit, read_kaldi, AuditOptions, InputIssues};
use voxprobe_audit::metrics::{word_counts, ErrorCounts};
use voxprobe_audit::representativity::RepresentativityOptions;

/// Summed-count ratios computed two ways in f64: only the order of the weighted sum may differ.
const TOL: f64 = 1e-12;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn bundled_population_weighted_wer_by_hand() {
    let data = root().join("examples/data");
    let (mut utts, _) = read_kaldi(
        &data.join("accent-audit/refs.tsv"),
        &data.join("accent-audit/hyps.tsv"),
        false,
    )
    .unwrap();
    // One utterance with no attribute row: it must be listed, not silently dropped.
    let mut extra = utts[0].clone();
    extra.id = "not-in-attributes".into();
    utts.push(extra);
    let opts = AuditOptions::default().bootstrap_samples(20);
    let mut a = audit(&utts, InputIssues::default(), &opts, &|| {}).unwrap();
    a.add_representativity(
        &data.join("representativity/attributes.tsv"),
        &data.join("representativity/population.tsv"),
        &RepresentativityOptions::default().bootstrap_samples(200),
    )
    .unwrap();
    let rep = a.report.representativity.as_ref().unwrap();
    assert_eq!(
        rep.unattributed_utterances,
        vec!["not-in-attributes".to_string()]
    );
    assert_eq!(rep.attributed_utterances, 210);

    // By hand: accent of each voice (see examples/data/representativity/PROVENANCE.md), corpus
    // WER per accent from summed jiwer counts, weighted by the example population's marginals.
    let accent = |voice: &str| match voice {
        "flite-awb" | "espeak-en-gb-scotland" => "scottish",
        "espeak-en-029" => "caribbean",
        _ => "us",
    };
    let mut by: BTreeMap<&str, ErrorCounts> = BTreeMap::new();
    for u in &utts[..210] {
        let c = word_counts(&u.reference, &u.hypothesis);
        let e = by.entry(accent(u.group.as_deref().unwrap())).or_default();
        *e = e.add(&c);
    }
    let wer = |k: &str| by[k].measures().wer;
    let want = 0.70 * wer("us") + 0.10 * wer("scottish") + 0.20 * wer("caribbean");
    let t = rep
        .attributes
        .iter()
        .find(|t| t.attribute == "accent")
        .unwrap();
    let got = t.post_stratified.wer.unwrap();
    assert!((got - want).abs() < TOL, "{got} vs {want}");
    let ci = t.post_stratified.wer_ci95.unwrap();
    assert!(ci[0] < got && got < ci[1]);
    // The sample's own corpus WER (all 211 utterances) is a different number.
    assert!((rep.sample_corpus_wer - got).abs() > 0.005);

    // Joint accent × gender: the sample has no Scottish or Caribbean women.
    let j = rep.joint.as_ref().unwrap();
    let mut missing = j.post_stratified.missing_strata.clone();
    missing.sort();
    assert_eq!(missing, ["caribbean × f", "scottish × f"]);
    assert!((j.post_stratified.covered_weight - 0.85).abs() < TOL);
    assert_eq!(j.distances.kl_target_from_sample, None);
    // flite-slt is the only woman (US): strata us×f, us×m, scottish×m, caribbean×m.
    let female_us = wer_of(&utts[..210], |g| g == "flite-slt");
    let male_us = wer_of(&utts[..210], |g| {
        matches!(g, "flite-rms" | "flite-kal16" | "espeak-en-us")
    });
    let want_joint =
        (0.35 * female_us + 0.35 * male_us + 0.05 * wer("scottish") + 0.10 * wer("caribbean"))
            / 0.85;
    let got_joint = j.post_stratified.wer.unwrap();
    assert!(
        (got_joint - want_joint).abs() < TOL,
        "{got_joint} vs {want_joint}"
    );

    // The section reaches both outputs.
    let json = serde_json::to_string(&a.report).unwrap();
    assert!(json.contains("\"representativity\"") && json.contains("caribbean × f"));
    let html = a.to_html();
    assert!(
        html.contains("Representativity of the audit set") && html.contains("missing from sample")
    );
}

fn wer_of(utts: &[voxprobe_audit::audit::Utterance], pick: impl Fn(&str) -> bool) -> f64 {
    utts.iter()
        .filter(|u| pick(u.group.as_deref().unwrap()))
        .fold(ErrorCounts::default(), |a, u| {
            a.add(&word_counts(&u.reference, &u.hypothesis))
        })
        .measures()
        .wer
}
