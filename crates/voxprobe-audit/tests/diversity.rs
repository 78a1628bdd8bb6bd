//! Smoke test of the diversity audit on the bundled real accent-audit panel (3 PocketSphinx
//! configurations × 210 utterances) with the tiny random BERT: the flow of the
//! `diversity_audit` example, kept fast.
#![cfg(feature = "encoder")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use voxprobe_audit::audit::read_kaldi;
use voxprobe_audit::diversity::{diversity_audit, DiversityOptions, SystemInput};
use voxprobe_audit::metrics::{word_counts, ErrorCounts};
use voxprobe_audit::semantic::{BertSentenceEncoder, EncoderOptions, EncoderWordSimilarity};
use voxprobe_audit::Normalizer;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn bundled_panel_report() {
    let data = root().join("examples/data/accent-audit");
    let panel: Vec<SystemInput> = ["hyps", "hyps-lw4", "hyps-fast"]
        .iter()
        .map(|name| {
            let (utterances, _) = read_kaldi(
                &data.join("refs.tsv"),
                &data.join(format!("{name}.tsv")),
                false,
            )
            .unwrap();
            SystemInput {
                name: name.to_string(),
                utterances,
            }
        })
        .collect();
    let enc = BertSentenceEncoder::load(
        root().join("models/tiny-bert-sentence").to_str().unwrap(),
        &EncoderOptions::default(),
    )
    .unwrap();
    let words = EncoderWordSimilarity::new(&enc);
    let opts = DiversityOptions::default().bootstrap_samples(200);
    let out = diversity_audit(&panel, &enc, &words, &opts, vec!["tiny".into()]).unwrap();
    let r = &out.report;
    assert_eq!((r.utterances, r.systems.len()), (210, 3));

    // Group WER equals the summed jiwer counts on the normalised text, recomputed independently.
    let norm = Normalizer::standard();
    for (sys, input) in r.per_system.iter().zip(&panel) {
        for g in &sys.groups["wer"] {
            let c = input
                .utterances
                .iter()
                .filter(|u| u.group.as_deref() == Some(g.group.as_str()))
                .map(|u| word_counts(&norm.apply(&u.reference), &norm.apply(&u.hypothesis)))
                .fold(ErrorCounts::default(), |a, b| a.add(&b));
            assert_eq!(g.mean, c.errors() as f64 / c.ref_len() as f64);
            assert!(g.ci95[0] <= g.mean && g.mean <= g.ci95[1], "{g:?}");
        }
        // EmbER ≤ WER: substitutions cost at most 1.
        assert!(sys.corpus["ember"] <= sys.corpus["wer"] + 1e-12);
    }
    // The diversity tax is real on this data: every eSpeak voice is harder than every Flite
    // voice for SDI-rank (group WERs ~0.8-0.95 vs ~0.1-0.3).
    let sdi = |g: &str| {
        r.sdi
            .rank_by_group
            .iter()
            .find(|s| s.group == g)
            .unwrap()
            .mean
    };
    for e in ["espeak-en-029", "espeak-en-us", "espeak-en-gb-scotland"] {
        for f in ["flite-awb", "flite-kal16", "flite-rms", "flite-slt"] {
            assert!(sdi(e) > sdi(f) + 0.2, "{e} {} vs {f} {}", sdi(e), sdi(f));
        }
    }
    assert!(r.sdi.fit.r_squared > 0.5);

    let dir = std::env::temp_dir().join(format!("voxprobe-diversity-{}", std::process::id()));
    out.write_dir(&dir).unwrap();
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("tiny") && html.contains("disagree"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["disagreements"].as_array().unwrap().len(), 15);
    let lines = std::fs::read_to_string(dir.join("utterances.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 210);
    std::fs::remove_dir_all(&dir).unwrap();
}
