#!/usr/bin/env bash
# voxprobe-ssl vs PyTorch CPU inference, side by side in one run: every family (wav2vec2, HuBERT,
# WavLM, data2vec-audio) at its base and large geometry (random weights, saved once as Hugging
# Face checkpoints that both sides load), alternating forward passes on 1 s, 10 s and 30 s,
# corpus mode (bucketed 1–15 s utterances), peak RSS of load + one 30 s forward, GFLOP/s and
# the fraction of the CPU's sustainable FMA rate. Extra args go to scripts/bench_ssl_vs_torch.py,
# e.g. `scripts/bench_ssl_vs_torch.sh --runs 5 --families wavlm --json OUT`.
#
# Python: a venv under target/venv-ssl made from the pinned scripts/requirements-ssl.txt
# (torch 2.15.0, transformers 5.23.0). PyPI's Linux torch wheel is the CUDA build (it pulls the
# nvidia-* wheels, ~5.6 GB installed; there is no CPU-only torch wheel on PyPI); it runs on CPU
# as is. Set PY=/path/to/python to use an existing interpreter with the same pins instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY:-}" ]; then
  VENV=target/venv-ssl
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch, transformers' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r scripts/requirements-ssl.txt
  fi
  PY="$VENV/bin/python"
fi
cargo build --release -q -p voxprobe-ssl --example ssl_timing
EXE="${CARGO_TARGET_DIR:-target}/release/examples/ssl_timing"
exec "$PY" scripts/bench_ssl_vs_torch.py --exe "$EXE" "$@"
