//! Profiling harness: aligns every pair of a JSONL file (`{"ref":..,"hyp":..}` per line)
//! `--repeats` times with one variant, single-threaded (for `perf record`).
//! Usage: `align_prof PAIRS.jsonl [default|unambiguous|no_word_pass|beam_5] [repeats]`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use std::time::Instant;
use voxprobe_audit::{error_align, AlignOptions, WordLevelMethod};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let pairs: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["ref"].as_str().unwrap().to_string(),
                v["hyp"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let variant = args.get(2).map_or("default", String::as_str);
    let repeats: usize = args.get(3).map_or(5, |s| s.parse().unwrap());
    let opts = match variant {
        "default" => AlignOptions::default(),
        "unambiguous" => AlignOptions::default().word_level_method(WordLevelMethod::Unambiguous),
        "no_word_pass" => AlignOptions::default().word_level_pass(false),
        "beam_5" => AlignOptions::default().beam_size(5),
        other => panic!("unknown variant {other}"),
    };
    let mut best = f64::INFINITY;
    let mut n_ops = 0usize;
    for _ in 0..repeats {
        let t = Instant::now();
        n_ops = 0;
        for (r, h) in &pairs {
            n_ops += error_align(r, h, &opts).unwrap().len();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{variant}: {:.0} pairs/s ({} ops)",
        pairs.len() as f64 / best,
        n_ops
    );
}
