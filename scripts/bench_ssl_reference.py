#!/usr/bin/env python3
"""PyTorch reference timing for the voxprobe-ssl bench (crates/voxprobe-ssl/benches/forward.rs).

Same geometry (transformers' default Wav2Vec2Config = wav2vec2-base: 12 x 768, 512-channel conv
stack; random weights), 1 s of Gaussian noise, batch 1, float32, eval, inference_mode, sdpa.
Runs the Rust bench right after in the same invocation and prints the ratio.

    target/venv-ssl/bin/python scripts/bench_ssl_reference.py [--threads 2] [--no-rust]
(the venv that scripts/bench_ssl_vs_torch.sh makes from scripts/requirements-ssl.txt)
Pins: scripts/requirements-ssl.txt.
"""
import argparse
import json
import re
import subprocess
import statistics
import time

import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--no-rust", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config()).eval()
    x = torch.randn(1, 16000)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    torch_s = statistics.median(times)
    res = {"torch_median_s": torch_s, "threads": args.threads, "torch": torch.__version__}
    if not args.no_rust:
        out = subprocess.run(
            ["cargo", "bench", "-p", "voxprobe-ssl", "--bench", "forward", "--", "cpu_"],
            capture_output=True, text=True, check=True).stdout
        m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", out)
        val, unit = float(m.group(1)), m.group(2)
        rust_s = val * {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6}[unit]
        res |= {"rust_median_s": rust_s, "rust_over_torch": rust_s / torch_s}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
