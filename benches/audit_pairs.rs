//! Pipeline bench: the `voxprobe-audit` report (error-align ops, jiwer word/char counts, per-group
//! rates and 1,000 bootstrap resamples per group) over up to 10,000 reference/hypothesis pairs.
//! The pairs are generated deterministically from the bundled real transcripts
//! (`examples/data/accent-audit`, 210 references × 3 PocketSphinx decoder settings, 7 voice
//! groups): pair i takes a seeded random (reference, hypothesis) and applies up to two seeded
//! word edits (drop, repeat or swap) to the hypothesis, so no two pairs need be equal.
//! The parameter is the number of pairs. `cargo bench --bench audit_pairs`.
// criterion_group!/criterion_main! generate undocumented pub fns.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use voxprobe::audit::audit::{audit, AuditOptions, InputIssues, Utterance};

/// Seed of the pair generator.
const SEED: u64 = 15;

fn read_tsv(path: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// `n` pairs from the bundled accent-audit transcripts, seeded.
fn pairs(n: usize) -> Vec<Utterance> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/accent-audit");
    // id -> (group, reference)
    let refs: HashMap<String, (String, String)> = read_tsv(&format!("{dir}/refs.tsv"))
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
        .collect();
    let mut base: Vec<(String, String, String)> = Vec::new();
    for hyps in ["hyps.tsv", "hyps-fast.tsv", "hyps-lw4.tsv"] {
        for h in read_tsv(&format!("{dir}/{hyps}")) {
            if let Some((group, reference)) = refs.get(&h[0]) {
                let hyp = h.get(1).cloned().unwrap_or_default();
                base.push((group.clone(), reference.clone(), hyp));
            }
        }
    }
    base.sort();
    assert!(base.len() >= 600, "bundled transcripts missing");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(SEED);
    (0..n)
        .map(|i| {
            let (group, reference, hyp) = &base[rng.random_range(0..base.len())];
            let mut words: Vec<&str> = hyp.split_whitespace().collect();
            for _ in 0..rng.random_range(0..3) {
                if words.len() < 2 {
                    break;
                }
                let k = rng.random_range(0..words.len() - 1);
                match rng.random_range(0..3) {
                    0 => {
                        words.remove(k);
                    }
                    1 => words.insert(k, words[k]),
                    _ => words.swap(k, k + 1),
                }
            }
            Utterance {
                id: format!("p{i:05}"),
                group: Some(group.clone()),
                reference: reference.clone(),
                hypothesis: words.join(" "),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let opts = AuditOptions::default().seed(0);
    let mut g = c.benchmark_group("pipeline_audit");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        let utts = pairs(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("cpu_audit_pairs", n), &utts, |b, utts| {
            b.iter(|| {
                let a = audit(utts, InputIssues::default(), &opts, &|| {}).unwrap();
                a.report.corpus.measures.wer
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
