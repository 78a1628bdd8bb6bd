#!/usr/bin/env bash
# k-means fit time, voxprobe-kmex vs scikit-learn (2 threads each). Needs the venv of
# scripts/requirements-kmex.txt: VENV=/path/to/venv (default /work/venvs/kmex).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/work/venvs/kmex}
cargo build --release -p voxprobe-kmex --example kmeans_timing
"$VENV/bin/python" scripts/bench_kmeans_vs_sklearn.py --bin target/release/examples/kmeans_timing "$@"
