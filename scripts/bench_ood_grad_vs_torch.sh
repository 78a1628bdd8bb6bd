#!/usr/bin/env bash
# Per-example gradient throughput of the VAE ELBO: voxprobe-ood (analytic batched path and the
# generic candle autograd loop) vs PyTorch (torch.func vmap(grad), and a batch-size-1 autograd
# loop), same architecture (784-256-16 VAE, 415,024 parameters), same weights, inputs and
# reparameterisation noise (one shared safetensors file), same thread count, one run.
# Prints a table of examples/s and ratios, and the checksums of both sides (which must agree).
# Usage: scripts/bench_ood_grad_vs_torch.sh [python]   (python with scripts/requirements-ood.txt;
# default /work/venvs/torch/bin/python). THREADS=2 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-/work/venvs/torch/bin/python}"
THREADS="${THREADS:-2}"
N="${N:-2048}"
N_LOOP="${N_LOOP:-256}"
DATA="$(mktemp -d)/vae_bench.safetensors"
trap 'rm -rf "$(dirname "$DATA")"' EXIT
cargo build --release --example ood_grad_throughput --no-default-features --features ood 2>/dev/null
"$PY" scripts/bench_ood_grad_vs_torch.py --export "$DATA" --n "$N"
RUST_JSON=$(RAYON_NUM_THREADS=$THREADS ./target/release/examples/ood_grad_throughput --data "$DATA" --n "$N" --n-autograd "$N_LOOP" --batch 64)
TORCH_JSON=$(OMP_NUM_THREADS=$THREADS "$PY" scripts/bench_ood_grad_vs_torch.py --data "$DATA" --n "$N" --n-loop "$N_LOOP" --batch 64 --threads "$THREADS")
echo "rust : $RUST_JSON"
echo "torch: $TORCH_JSON"
"$PY" - "$RUST_JSON" "$TORCH_JSON" <<'PYEOF'
import json, sys
r, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
tv, tl = t["examples_per_s"], t["loop_examples_per_s"]
rows = [("candle analytic batched (Hvae default)", r["analytic_examples_per_s"]),
        ("candle autograd loop (Autograd<Hvae>)", r["autograd_examples_per_s"]),
        ("torch.func vmap(grad)", tv), ("torch autograd loop (batch 1)", tl)]
print(f"\nper-example ELBO gradients, {r['n_params']} params, {t['threads']} threads")
print(f"{'implementation':<42}{'examples/s':>12}{'vs vmap':>10}")
for name, v in rows:
    print(f"{name:<42}{v:>12.1f}{v / tv:>9.2f}x")
rel = lambda a, b: abs(a - b) / abs(b)
print(f"\nchecksum (sum of all per-example grads, {r['n']} examples): candle {r['checksum']:.6e}, "
      f"torch {t['checksum']:.6e}, rel. diff {rel(r['checksum'], t['checksum']):.1e}")
print(f"checksum first {r['n_autograd']}: candle analytic {r['checksum_head']:.6e}, candle autograd "
      f"{r['checksum_autograd']:.6e}, torch vmap {t['checksum_head']:.6e}, torch loop {t['checksum_loop']:.6e}")
print(json.dumps({"ratio_analytic_over_vmap": r["analytic_examples_per_s"] / tv,
                  "ratio_autograd_loop_over_vmap": r["autograd_examples_per_s"] / tv,
                  "ratio_autograd_loop_over_torch_loop": r["autograd_examples_per_s"] / tl,
                  "checksum_rel_diff": rel(r["checksum"], t["checksum"])}))
PYEOF
