#!/usr/bin/env python3
"""Workloads + Python reference timings for scripts/bench_audit_vs_python.sh.

Generates seeded (seed 7) workloads: 1,000 pairs of ~20 words and 100 pairs of 200 words at ~5/15/30 %
word corruption, times error-align 0.1.0b10 (default, unambiguous, beam_size=5, and word_level_pass=False on a
prefix of 200 / 10 pairs) and jiwer 4.0.0 per pair,
single-threaded, best of 3, and writes the default-variant ops for the identity check.
"""
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_audit_fixtures import VOCAB, BASE_SENTENCES, corrupt, op_json  # noqa: E402

import jiwer  # noqa: E402
from error_align import error_align  # noqa: E402

OUT = sys.argv[1]


def workloads():
    rng = random.Random(7)
    words = sorted(set(" ".join(BASE_SENTENCES).split()) | set(VOCAB))
    for n_pairs, n_words in [(1000, 20), (100, 200)]:
        for rate in (0.05, 0.15, 0.30):
            pairs = []
            for _ in range(n_pairs):
                r = [rng.choice(words) for _ in range(n_words)]
                pairs.append({"ref": " ".join(r), "hyp": " ".join(corrupt(rng, r, rate))})
            yield f"{n_pairs}x{n_words}w_{int(rate * 100)}pct", pairs


def no_word_pass_pairs(name, n):
    """Pairs timed with word_level_pass=False (the Rust side reads the same rule)."""
    return min(n, 10 if "x200w" in name else 200)


def best_rate(n, f, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return n / best


def main():
    os.makedirs(OUT, exist_ok=True)
    results = {}
    for name, pairs in workloads():
        path = os.path.join(OUT, name + ".jsonl")
        with open(path, "w") as f:
            for p in pairs:
                f.write(json.dumps(p) + "\n")
        n = len(pairs)
        res = {}
        res["error_align_default"] = best_rate(n, lambda: [error_align(p["ref"], p["hyp"]) for p in pairs])
        res["error_align_unambiguous"] = best_rate(
            n, lambda: [error_align(p["ref"], p["hyp"], word_level_method="unambiguous") for p in pairs]
        )
        res["error_align_beam_5"] = best_rate(n, lambda: [error_align(p["ref"], p["hyp"], beam_size=5) for p in pairs])
        # word_level_pass=False is ~100x slower: time a prefix of the pairs, one pass.
        sub = pairs[: no_word_pass_pairs(name, n)]
        res["error_align_no_word_pass"] = best_rate(
            len(sub), lambda: [error_align(p["ref"], p["hyp"], word_level_pass=False) for p in sub], repeats=1
        )
        res["wer_process_words"] = best_rate(n, lambda: [jiwer.process_words(p["ref"], p["hyp"]) for p in pairs])
        res["cer_process_characters"] = best_rate(
            n, lambda: [jiwer.process_characters(p["ref"], p["hyp"]) for p in pairs]
        )
        with open(os.path.join(OUT, name + ".py_ops.jsonl"), "w") as f:
            for p in pairs:
                f.write(json.dumps([op_json(a) for a in error_align(p["ref"], p["hyp"])]) + "\n")
        results[name] = res
        print(name, json.dumps(res), flush=True)
    with open(os.path.join(OUT, "python.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
