#!/usr/bin/env bash
# Per-example gradient throughput of the VAE ELBO: voxprobe-ood (analytic batched path and the
# generic candle autograd loop) vs PyTorch (torch.func vmap(grad), and a batch-size-1 autograd
# loop), same architecture (784-256-16 VAE, 415,024 parameters), same weights, inputs and
# reparameterisation noise (one shared safetensors file), same thread count, one run.
# Prints a table of examples/s and ratios, and the checksums of both sides (which must agree).
#   scripts/bench_ood_grad_vs_torch.sh [--json OUT.json]
# Python: target/venv-ood from scripts/requirements-ood.txt (made on first use by
# scripts/venv.sh; PY=/path/to/python uses your own). THREADS=2, N=2048, N_LOOP=256 by default.
set -euo pipefail
source "$(dirname "$0")/bench_common.sh"
PY=$(scripts/venv.sh ood scripts/requirements-ood.txt)
THREADS="${THREADS:-2}"
N="${N:-2048}"
N_LOOP="${N_LOOP:-256}"
DATA="$(mktemp -d)/vae_bench.safetensors"
trap 'rm -rf "$(dirname "$DATA")"' EXIT
cargo build --release --example ood_grad_throughput --no-default-features --features ood
"$PY" scripts/bench_ood_grad_vs_torch.py --export "$DATA" --n "$N"
RUST_JSON=$(RAYON_NUM_THREADS=$THREADS "$TARGET/release/examples/ood_grad_throughput" --data "$DATA" --n "$N" --n-autograd "$N_LOOP" --batch 64)
TORCH_JSON=$(OMP_NUM_THREADS=$THREADS "$PY" scripts/bench_ood_grad_vs_torch.py --data "$DATA" --n "$N" --n-loop "$N_LOOP" --batch 64 --threads "$THREADS")
echo "rust : $RUST_JSON"
echo "torch: $TORCH_JSON"
"$PY" - "$RUST_JSON" "$TORCH_JSON" "${JSON:-}" <<'PYEOF'
import json, sys
import torch
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
if sys.argv[3]:
    ref = f"torch {torch.__version__}"
    n, nl, th = r["n"], r["n_autograd"], t["threads"]
    va, vg = r["analytic_examples_per_s"], r["autograd_examples_per_s"]
    out = [
        {"bench": "ood_grad", "case": f"VAE ELBO per-example grads, {n} examples, {th} threads: analytic batched vs torch.func vmap(grad)",
         "voxprobe_s": n / va, "reference_s": n / tv, "ratio": va / tv, "reference": ref},
        {"bench": "ood_grad", "case": f"VAE ELBO per-example grads, {nl} examples, {th} threads: candle autograd loop vs torch autograd loop",
         "voxprobe_s": nl / vg, "reference_s": nl / tl, "ratio": vg / tl, "reference": ref},
    ]
    json.dump(out, open(sys.argv[3], "w"), indent=1)
PYEOF
