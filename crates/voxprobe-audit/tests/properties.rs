//! Property tests: op lists cover both token sequences in order; counts equal the edit distance.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use voxprobe_audit::metrics::ErrorCounts;
use voxprobe_audit::text::tokenize;
use voxprobe_audit::{error_align, AlignOptions, OpType, WordLevelMethod};

fn text() -> impl Strategy<Value = String> {
    // Small vocabularies make repeats, compounds and ties likely; a few odd characters test
    // tokenization edge cases (apostrophes, punctuation, digits, non-Latin, U+2019).
    let word = prop::sample::select(vec![
        "the",
        "a",
        "cat",
        "cats",
        "at",
        "ice",
        "cream",
        "icecream",
        "don't",
        "3.14",
        "1,000",
        "Σας",
        "東京",
        "naïve",
        "x",
        "'tis",
        "rock'n'roll",
        "don\u{2019}t",
        "-",
        "!",
        "İ",
    ]);
    prop::collection::vec(word, 0..12).prop_map(|w| w.join(" "))
}

fn check(r: &str, h: &str, opts: &AlignOptions) {
    let ops = error_align(r, h, opts).unwrap();
    let rc: Vec<char> = r.chars().collect();
    let hc: Vec<char> = h.chars().collect();
    let rt = tokenize(&rc);
    let ht = tokenize(&hc);
    // Ref spans, in order, equal the ref token spans: each ref token in exactly one op.
    let ref_spans: Vec<[usize; 2]> = ops.iter().filter_map(|o| o.ref_span).collect();
    let tok_spans: Vec<[usize; 2]> = rt.iter().map(|t| [t.start, t.end]).collect();
    let mut k = 0;
    for s in &ref_spans {
        // A span covers one or more consecutive whole tokens.
        assert_eq!(s[0], tok_spans[k][0], "{r:?} / {h:?}");
        while k < tok_spans.len() && tok_spans[k][1] <= s[1] {
            k += 1;
        }
        assert_eq!(tok_spans[k - 1][1], s[1]);
    }
    assert_eq!(k, tok_spans.len());
    // Hyp spans strictly increase and cover every hyp token character exactly once.
    let mut covered = vec![0u32; hc.len()];
    let mut last_end = 0;
    for o in &ops {
        if let Some([a, b]) = o.hyp_span {
            assert!(a >= last_end && b > a);
            last_end = b;
            for t in &ht {
                let (lo, hi) = (t.start.max(a), t.end.min(b));
                if lo < hi {
                    for c in &mut covered[lo..hi] {
                        *c += 1;
                    }
                }
            }
        }
        match o.op_type {
            OpType::Match => assert!(
                o.ref_span.is_some()
                    && o.hyp_span.is_some()
                    && !o.left_compound
                    && !o.right_compound
            ),
            OpType::Substitute => assert!(o.ref_span.is_some() && o.hyp_span.is_some()),
            OpType::Insert => assert!(o.ref_span.is_none() && o.hyp_span.is_some()),
            OpType::Delete => assert!(o.ref_span.is_some() && o.hyp_span.is_none()),
        }
    }
    for t in &ht {
        for c in &covered[t.start..t.end] {
            assert_eq!(*c, 1, "{r:?} / {h:?}");
        }
    }
}

fn levenshtein(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ops_cover_tokens(r in text(), h in text()) {
        check(&r, &h, &AlignOptions::default());
        check(&r, &h, &AlignOptions::default().word_level_method(WordLevelMethod::Unambiguous));
        check(&r, &h, &AlignOptions::default().word_level_pass(false));
        check(&r, &h, &AlignOptions::default().beam_size(5));
    }

    #[test]
    fn counts_equal_levenshtein(r in prop::collection::vec("[abc]{1,2}", 0..30), h in prop::collection::vec("[abc]{1,2}", 0..30)) {
        let c = ErrorCounts::from_sequences(&r, &h);
        prop_assert_eq!(c.errors(), levenshtein(&r, &h));
        prop_assert_eq!(c.ref_len(), r.len());
        prop_assert_eq!(c.hyp_len(), h.len());
    }
}
