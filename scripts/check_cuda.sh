#!/usr/bin/env bash
# Compile-checks the whole workspace with `--features cuda` on a machine with no GPU and no CUDA
# toolkit. Self-contained: scripts/cuda_env.sh installs CUDA 13.0's compiler and libraries from
# PyPI into target/venv-cuda once (scripts/requirements-cuda.txt, about 1.2 GB) and exports what
# candle's build scripts read (CUDA_COMPUTE_CAP defaults to 90, Hopper). Needs python3 with venv,
# gcc and network access to PyPI the first time.
# Runs `cargo clippy --workspace --all-targets --features cuda -- -D warnings` in its own target
# directory (candle-kernels' PTX build takes about 10 minutes on 2 cores the first time).
# Running the CUDA code needs a GPU machine; see the README's "Features" section.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cuda_env.sh
source scripts/cuda_env.sh
export CARGO_TARGET_DIR=${CUDA_CHECK_TARGET_DIR:-target/cuda-check}
cargo clippy --workspace --all-targets --features cuda -- -D warnings
echo "check_cuda: the workspace builds with --features cuda (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP)"
