#!/usr/bin/env bash
# voxprobe-ssl on a CUDA GPU, in one command, on a machine with PyTorch and no network:
#   1. parity of the CUDA build on the committed tiny fixtures (every models/tiny-* against
#      crates/voxprobe-ssl/tests/data/*.reference.safetensors): f32 at the tests' 1e-4
#      tolerance (must pass), then bf16 as a smoke check (5e-2, reported only);
#   2. side-by-side throughput against PyTorch CUDA on the same GPU: every family at base and
#      large geometry (random weights saved as Hugging Face checkpoints both sides load),
#      batches of 8 × 10 s, f32 and bf16, alternating runs, medians, ratio torch / voxprobe.
#
# The binaries are built elsewhere (this machine needs no Rust toolchain):
#   cargo build --release -p voxprobe-ssl --features cuda --example ssl_parity --example ssl_timing
# then copy target/release/examples/{ssl_parity,ssl_timing} with this repo checkout.
#
# Usage: scripts/bench_ssl_gpu.sh [BIN_DIR] [--runs N] [--families wavlm,...] [--json OUT]
#   BIN_DIR: where ssl_parity and ssl_timing are (default target/release/examples).
#   PY=/path/to/python: an interpreter with torch (CUDA) and transformers (pins:
#   scripts/requirements-ssl.txt); default python3.
# Status: written without access to a GPU; it has not been run yet.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/examples
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then BIN=$1; shift; fi
PY=${PY:-python3}
for exe in ssl_parity ssl_timing; do
  [ -x "$BIN/$exe" ] || { echo "missing $BIN/$exe (build it with --features cuda)" >&2; exit 1; }
done
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo "== parity, CUDA f32 (tolerance 1e-4) =="
"$BIN/ssl_parity" --device cuda --dtype f32 .
echo "== smoke, CUDA bf16 (tolerance 5e-2, not a parity claim) =="
"$BIN/ssl_parity" --device cuda --dtype bf16 . || echo "bf16 smoke check beyond 5e-2 (reported, not fatal)"
echo "== throughput vs PyTorch CUDA, batch 8 x 10 s =="
exec "$PY" - "$BIN/ssl_timing" "$@" <<'PYEOF'
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, "scripts")
import torch
from bench_ssl_vs_torch import FAMILIES, REF, build_checkpoint, load_torch

ap = argparse.ArgumentParser()
ap.add_argument("exe")
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--families", default=",".join(FAMILIES))
ap.add_argument("--sizes", default="base,large")
ap.add_argument("--dtypes", default="f32,bf16")
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--seconds", type=float, default=10.0)
ap.add_argument("--tmp", default=os.path.join(tempfile.gettempdir(), "voxprobe_ssl_bench"))
ap.add_argument("--json", default=None)
args = ap.parse_args()
assert torch.cuda.is_available(), "PyTorch sees no CUDA device"
dev = torch.device("cuda")
gpu = torch.cuda.get_device_name(0)
print(f"GPU: {gpu}; {REF}; batch {args.batch} x {args.seconds:g} s", flush=True)
n = int(16000 * args.seconds)
rows = []
for family in args.families.split(","):
    for size in args.sizes.split(","):
        d = build_checkpoint(args.tmp, family, size)
        for dt in args.dtypes.split(","):
            tdt = {"f32": torch.float32, "bf16": torch.bfloat16}[dt]
            model = load_torch(family, d).to(dev, tdt)
            rust = subprocess.Popen([args.exe, str(d), "--device", "cuda", "--dtype", dt],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert rust.stdout.readline().strip() == "ready"

            def rcmd(c):
                rust.stdin.write(c + "\n"); rust.stdin.flush()
                return float(rust.stdout.readline().split()[0])

            x = torch.randn(args.batch, n, generator=torch.Generator().manual_seed(7)).to(dev, tdt)

            def tfwd():
                torch.cuda.synchronize(); t0 = time.perf_counter()
                model(x); torch.cuda.synchronize()
                return time.perf_counter() - t0

            tt, rt = [], []
            with torch.inference_mode():
                tfwd(); rcmd(f"fwdb {args.batch} {n}")  # warm-up both
                for _ in range(args.runs):
                    tt.append(tfwd()); rt.append(rcmd(f"fwdb {args.batch} {n}"))
            rust.stdin.write("quit\n"); rust.stdin.flush(); rust.wait()
            t, r = statistics.median(tt), statistics.median(rt)
            case = f"{family}-{size} {dt} {args.batch}x{args.seconds:g}s"
            rows.append(dict(bench="ssl_forward_cuda", case=case, voxprobe_s=r, reference_s=t,
                             ratio=t / r, reference=REF, gpu=gpu))
            print(f"{case:36} torch {t:7.3f} s  voxprobe {r:7.3f} s  ratio {t / r:5.2f}x", flush=True)
            del model
            torch.cuda.empty_cache()
if args.json:
    Path(args.json).write_text(json.dumps(rows, indent=1))
PYEOF
