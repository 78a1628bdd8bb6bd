//! Parity with error-align 0.1.0b10 and jiwer 4.0.0 on fixtures made by
//! `scripts/gen_audit_fixtures.py` (see tests/data/PROVENANCE.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use voxprobe_audit::levenshtein::{editops, opcodes, EditTag, OpcodeTag};
use voxprobe_audit::metrics::{char_counts, word_counts};
use voxprobe_audit::text::tokenize;
use voxprobe_audit::{error_align, AlignOp, AlignOptions, OpType, WordLevelMethod};

fn pairs() -> Vec<Value> {
    let s = include_str!("data/pairs.jsonl");
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn span(v: &Value) -> Option<[usize; 2]> {
    v.as_array().map(|a| {
        [
            a[0].as_u64().unwrap() as usize,
            a[1].as_u64().unwrap() as usize,
        ]
    })
}

fn substr(s: &str, sp: Option<[usize; 2]>) -> Option<String> {
    sp.map(|[a, b]| s.chars().skip(a).take(b - a).collect())
}

/// Expected op list of one variant, rebuilt from the compact fixture format.
fn expected_ops(v: &Value, refs: &str, hyp: &str) -> Vec<AlignOp> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let o = o.as_array().unwrap();
            let op_type = match o[0].as_str().unwrap() {
                "M" => OpType::Match,
                "I" => OpType::Insert,
                "D" => OpType::Delete,
                "S" => OpType::Substitute,
                t => panic!("bad type {t}"),
            };
            let rs = span(&o[1]);
            let hs = span(&o[2]);
            AlignOp {
                op_type,
                ref_text: substr(refs, rs),
                hyp_text: substr(hyp, hs),
                ref_span: rs,
                hyp_span: hs,
                left_compound: o[3].as_u64().unwrap() == 1,
                right_compound: o[4].as_u64().unwrap() == 1,
            }
        })
        .collect()
}

fn variants() -> Vec<(&'static str, AlignOptions)> {
    vec![
        ("default", AlignOptions::default()),
        (
            "unambiguous",
            AlignOptions::default().word_level_method(WordLevelMethod::Unambiguous),
        ),
        (
            "no_word_level_pass",
            AlignOptions::default().word_level_pass(false),
        ),
        ("beam_5", AlignOptions::default().beam_size(5)),
    ]
}

#[test]
fn tokenizer_matches_reference() {
    for p in pairs() {
        for (side, key) in [("ref", "ref_tokens"), ("hyp", "hyp_tokens")] {
            let text = p[side].as_str().unwrap();
            let chars: Vec<char> = text.chars().collect();
            let got: Vec<(usize, usize, String)> = tokenize(&chars)
                .into_iter()
                .map(|t| (t.start, t.end, t.norm.iter().collect()))
                .collect();
            let want: Vec<(usize, usize, String)> = p[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t[0].as_u64().unwrap() as usize,
                        t[1].as_u64().unwrap() as usize,
                        t[2].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(got, want, "{} {side}: {text:?}", p["id"]);
        }
    }
}

#[test]
fn error_align_all_variants_op_for_op() {
    let mut failures = Vec::new();
    let mut n = 0;
    for p in pairs() {
        let r = p["ref"].as_str().unwrap();
        let h = p["hyp"].as_str().unwrap();
        let ea = &p["error_align"];
        let default = expected_ops(&ea["default"], r, h);
        for (name, opts) in variants() {
            let v = &ea[name];
            let want = if v.as_str() == Some("same_as_default") {
                default.clone()
            } else {
                assert!(v.get("error").is_none(), "reference raised: {v}");
                expected_ops(v, r, h)
            };
            let got = error_align(r, h, &opts).unwrap();
            n += 1;
            if got != want {
                failures.push(format!("{} [{name}] ref={r:?} hyp={h:?}", p["id"]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn jiwer_counts_and_rates() {
    for p in pairs() {
        let r = p["ref"].as_str().unwrap();
        let h = p["hyp"].as_str().unwrap();
        let j = &p["jiwer"];
        let c = word_counts(r, h);
        let id = &p["id"];
        assert_eq!(c.hits as u64, j["hits"].as_u64().unwrap(), "{id}");
        assert_eq!(
            c.substitutions as u64,
            j["substitutions"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(c.deletions as u64, j["deletions"].as_u64().unwrap(), "{id}");
        assert_eq!(
            c.insertions as u64,
            j["insertions"].as_u64().unwrap(),
            "{id}"
        );
        let m = c.measures();
        // Same f64 operations in the same order as jiwer: results are bit-identical.
        assert_eq!(m.wer, j["wer"].as_f64().unwrap(), "{id} wer");
        assert_eq!(m.mer, j["mer"].as_f64().unwrap(), "{id} mer");
        assert_eq!(m.wip, j["wip"].as_f64().unwrap(), "{id} wip");
        assert_eq!(m.wil, j["wil"].as_f64().unwrap(), "{id} wil");
        let cc = char_counts(r, h);
        assert_eq!(cc.hits as u64, j["char_hits"].as_u64().unwrap(), "{id}");
        assert_eq!(
            cc.substitutions as u64,
            j["char_substitutions"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            cc.deletions as u64,
            j["char_deletions"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            cc.insertions as u64,
            j["char_insertions"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(cc.measures().wer, j["cer"].as_f64().unwrap(), "{id} cer");
        // Word alignment blocks (jiwer AlignmentChunk) equal RapidFuzz opcodes on the words.
        let rw = voxprobe_audit::metrics::jiwer_words(r);
        let hw = voxprobe_audit::metrics::jiwer_words(h);
        let got: Vec<Value> = opcodes(&rw, &hw)
            .iter()
            .map(|o| {
                let t = match o.tag {
                    OpcodeTag::Equal => "equal",
                    OpcodeTag::Replace => "substitute",
                    OpcodeTag::Delete => "delete",
                    OpcodeTag::Insert => "insert",
                };
                serde_json::json!([t, o.src_start, o.src_end, o.dest_start, o.dest_end])
            })
            .collect();
        assert_eq!(Value::Array(got), j["word_alignment"], "{id} alignment");
    }
}

#[test]
fn jiwer_corpus_level_summed() {
    let meta: Value = serde_json::from_str(include_str!("data/meta.json")).unwrap();
    let want = &meta["corpus_accent_audit_hyps"];
    let mut total = voxprobe_audit::ErrorCounts::default();
    let mut ctotal = voxprobe_audit::ErrorCounts::default();
    for p in pairs() {
        let id = p["id"].as_str().unwrap();
        if p["category"] == "real_accent-audit" && id.contains("/hyps.tsv/") {
            let (r, h) = (p["ref"].as_str().unwrap(), p["hyp"].as_str().unwrap());
            total = total.add(&word_counts(r, h));
            ctotal = ctotal.add(&char_counts(r, h));
        }
    }
    assert_eq!(total.hits as u64, want["hits"].as_u64().unwrap());
    assert_eq!(
        total.substitutions as u64,
        want["substitutions"].as_u64().unwrap()
    );
    let m = total.measures();
    assert_eq!(m.wer, want["wer"].as_f64().unwrap());
    assert_eq!(m.mer, want["mer"].as_f64().unwrap());
    assert_eq!(m.wil, want["wil"].as_f64().unwrap());
    assert_eq!(ctotal.measures().wer, want["cer"].as_f64().unwrap());
    // jiwer's one-call corpus functions give the same numbers, bit for bit.
    let (refs, hyps): (Vec<String>, Vec<String>) = pairs()
        .iter()
        .filter(|p| {
            p["category"] == "real_accent-audit" && p["id"].as_str().unwrap().contains("/hyps.tsv/")
        })
        .map(|p| {
            (
                p["ref"].as_str().unwrap().to_string(),
                p["hyp"].as_str().unwrap().to_string(),
            )
        })
        .unzip();
    let one = voxprobe_audit::measures(&refs, &hyps).unwrap();
    assert_eq!(one.counts, total);
    assert_eq!(one.measures.wip, want["wip"].as_f64().unwrap());
    assert_eq!(
        voxprobe_audit::wer(&refs, &hyps).unwrap(),
        want["wer"].as_f64().unwrap()
    );
    assert_eq!(
        voxprobe_audit::cer(&refs, &hyps).unwrap(),
        want["cer"].as_f64().unwrap()
    );
}

#[test]
fn rapidfuzz_editops_and_opcodes() {
    for line in include_str!("data/editops.jsonl").lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let a: Vec<u64> = serde_json::from_value(v["a"].clone()).unwrap();
        let b: Vec<u64> = serde_json::from_value(v["b"].clone()).unwrap();
        let got: Vec<Value> = editops(&a, &b)
            .iter()
            .map(|e| {
                let t = match e.tag {
                    EditTag::Delete => "delete",
                    EditTag::Insert => "insert",
                    EditTag::Replace => "replace",
                };
                serde_json::json!([t, e.src_pos, e.dest_pos])
            })
            .collect();
        assert_eq!(Value::Array(got), v["editops"], "{a:?} {b:?}");
        let got: Vec<Value> = opcodes(&a, &b)
            .iter()
            .map(|o| {
                let t = match o.tag {
                    OpcodeTag::Equal => "equal",
                    OpcodeTag::Replace => "replace",
                    OpcodeTag::Delete => "delete",
                    OpcodeTag::Insert => "insert",
                };
                serde_json::json!([t, o.src_start, o.src_end, o.dest_start, o.dest_end])
            })
            .collect();
        assert_eq!(Value::Array(got), v["opcodes"], "{a:?} {b:?}");
    }
}
