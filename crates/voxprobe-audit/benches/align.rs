//! Criterion benches: error-align port and jiwer-style WER on fixed synthetic pairs.
//! (Side-by-side Python timings: `scripts/bench_audit_vs_python.sh`.)
// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use voxprobe_audit::{error_align, word_counts, AlignOptions, WordLevelMethod};

fn pair(n_words: usize) -> (String, String) {
    const WORDS: [&str; 12] = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "and", "runs", "into",
        "forest",
    ];
    // Deterministic ~15% corruption: substitute every 9th word, drop every 17th, split every 23rd.
    let r: Vec<&str> = (0..n_words)
        .map(|i| WORDS[(i * 7 + i / 3) % WORDS.len()])
        .collect();
    let mut h = Vec::new();
    for (i, w) in r.iter().enumerate() {
        if i % 17 == 16 {
            continue;
        } else if i % 9 == 8 {
            h.push("bat".to_string());
        } else if i % 23 == 22 && w.len() > 3 {
            h.push(w[..2].to_string());
            h.push(w[2..].to_string());
        } else {
            h.push((*w).to_string());
        }
    }
    (r.join(" "), h.join(" "))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_error_align");
    for n in [20, 200] {
        let (r, h) = pair(n);
        for (name, opts) in [
            ("default", AlignOptions::default()),
            (
                "unambiguous",
                AlignOptions::default().word_level_method(WordLevelMethod::Unambiguous),
            ),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| error_align(&r, &h, &opts))
            });
        }
        g.bench_with_input(BenchmarkId::new("word_counts", n), &n, |b, _| {
            b.iter(|| word_counts(&r, &h).measures())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
