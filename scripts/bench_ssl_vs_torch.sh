#!/usr/bin/env bash
# voxprobe-ssl vs PyTorch CPU inference (issue 9): builds the timing example in release and runs
# scripts/bench_ssl_vs_torch.py (random-weight base and large wav2vec2 checkpoints in $TMPDIR,
# alternating runs, median times, speed-ups, GFLOP/s and % of peak). Extra args go to the .py,
# e.g. `scripts/bench_ssl_vs_torch.sh --runs 7 --seconds 10`.
# Python: PY=/path/to/python with torch==2.15.0 transformers==5.23.0 (default /work/venvs/torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/venvs/torch/bin/python}
cargo build --release -q -p voxprobe-ssl --example ssl_timing
exec "$PY" scripts/bench_ssl_vs_torch.py "$@"
