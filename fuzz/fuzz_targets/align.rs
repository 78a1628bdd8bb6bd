//! Fuzz the error-align port and the WER metrics on arbitrary UTF-8 ref/hyp: no panic, and the
//! basic coverage invariants hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use voxprobe_audit::{char_counts, error_align, word_counts, AlignOptions, WordLevelMethod};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // First byte picks the variant; the rest splits at the first NUL or at the middle.
    let (sel, rest) = match s.char_indices().nth(1) {
        Some((i, _)) => (s.as_bytes()[0], &s[i..]),
        None => return,
    };
    let (r, h) = match rest.find('\0') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => {
            let mut mid = rest.len() / 2;
            while !rest.is_char_boundary(mid) {
                mid -= 1;
            }
            rest.split_at(mid)
        }
    };
    if r.chars().count() > 400 || h.chars().count() > 400 {
        return;
    }
    let opts = match sel % 4 {
        0 => AlignOptions::default(),
        1 => AlignOptions::default().word_level_method(WordLevelMethod::Unambiguous),
        2 => AlignOptions::default().word_level_pass(false),
        _ => AlignOptions::default().beam_size(1 + usize::from(sel % 7)),
    };
    let ops = error_align(r, h, &opts).expect("alignment never fails on valid options");
    let n_ref_ops = ops.iter().filter(|o| o.ref_span.is_some()).count();
    let n_ref_tokens = voxprobe_audit::text::tokenize(&r.chars().collect::<Vec<_>>()).len();
    assert!(n_ref_ops <= n_ref_tokens);
    let c = word_counts(r, h);
    assert_eq!(c.ref_len(), c.hits + c.substitutions + c.deletions);
    let _ = char_counts(r, h).measures();
});
