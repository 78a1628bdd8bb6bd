#!/usr/bin/env bash
# Per-example gradient throughput of the VAE ELBO: voxprobe-ood (candle) vs PyTorch torch.func
# vmap(grad), same architecture (784-256-16 VAE, 415,024 parameters), same thread count, one run.
# Usage: scripts/bench_ood_grad_vs_torch.sh [python]   (python with torch==2.15.0; default
# /work/venvs/torch/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-/work/venvs/torch/bin/python}"
THREADS="${THREADS:-2}"
cargo build --release --example ood_grad_throughput --no-default-features --features ood >/dev/null
RUST_JSON=$(RAYON_NUM_THREADS=$THREADS ./target/release/examples/ood_grad_throughput --n 2048 --n-autograd 256 --batch 64)
TORCH_JSON=$("$PY" scripts/bench_ood_grad_vs_torch.py --n 2048 --batch 64 --threads "$THREADS")
echo "rust : $RUST_JSON"
echo "torch: $TORCH_JSON"
"$PY" - "$RUST_JSON" "$TORCH_JSON" <<'PYEOF'
import json, sys
r, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
tb = t["examples_per_s"]
print(f"per-example grads/s: candle batched {r['batched_examples_per_s']:.1f}, "
      f"candle autograd loop {r['autograd_examples_per_s']:.1f}, torch vmap {tb:.1f}")
print(json.dumps({"ratio_batched_over_torch": r["batched_examples_per_s"] / tb,
                  "ratio_autograd_over_torch": r["autograd_examples_per_s"] / tb}))
PYEOF
