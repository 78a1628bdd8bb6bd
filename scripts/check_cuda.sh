#!/usr/bin/env bash
# Compile-checks the whole workspace with `--features cuda` on a machine with no GPU and no CUDA
# toolkit: ../shared/tools/cuda-env.sh (or CUDA_ENV=path) installs CUDA 13.0's compiler and
# libraries from PyPI into a venv once (about 1.2 GB) and exports what candle's build scripts read.
# Runs `cargo clippy --workspace --all-targets --features cuda -- -D warnings` in its own target
# directory (candle-kernels' PTX build takes about 10 minutes on 2 cores the first time).
# Running the CUDA code needs a GPU machine; see the README's "Features" section.
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_ENV=${CUDA_ENV:-../shared/tools/cuda-env.sh}
if [ ! -f "$CUDA_ENV" ]; then
  echo "check_cuda: $CUDA_ENV not found (set CUDA_ENV to a script that exports CUDA_ROOT etc.)" >&2
  exit 2
fi
# shellcheck disable=SC1090
source "$CUDA_ENV"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda-check}
cargo clippy --workspace --all-targets --features cuda -- -D warnings
echo "check_cuda: the workspace builds with --features cuda (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP)"
