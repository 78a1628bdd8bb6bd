#!/usr/bin/env bash
# Makes (once) and prints the python of target/venv-NAME, a virtual environment built from pinned
# requirement files in scripts/. Every bench_*.sh and gen_*.py uses it, so that one command works
# on a fresh clone:
#   PY=$(scripts/venv.sh ood scripts/requirements-ood.txt)
# A requirement line ending in `# no-deps` is installed in a second step with `pip --no-deps`
# (torchaudio 2.11.0 on torch 2.15.0, see requirements-features.txt). The venv is rebuilt when
# its requirement files change (their SHA-256 is kept in target/venv-NAME/.requirements.sha256).
# PY=/path/to/python skips all of this and prints $PY (an environment you made yourself).
# Progress goes to stderr; stdout is only the python path.
#
# PyPI's torch for Linux x86_64 is the CUDA build (torch 2.15.0: a 539 MB wheel plus the
# nvidia-*/cuda-toolkit wheels it requires and loads even on a CPU-only machine; 4.0 GB installed);
# the CPU-only wheels are on the PyTorch index only. With access to it,
# TORCH_INDEX=https://download.pytorch.org/whl/cpu passes it as pip's --extra-index-url (untested:
# the machine these scripts were run on reaches PyPI only). Where pip's cache is enabled, a second venv reuses the downloads.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/venv.sh NAME REQUIREMENTS.txt..." >&2; exit 2; }
if [ -n "${PY:-}" ]; then echo "$PY"; exit 0; fi
cd "$(dirname "$0")/.."
name=$1; shift
venv=target/venv-$name
sum=$(cat "$@" | sha256sum | cut -c1-64)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$sum" ]; then
  echo "$PWD/$venv/bin/python"; exit 0
fi
echo "venv: making $venv from $* (once; a torch-based one is about 4 GB)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -hv '# no-deps' "$@" > "$tmp/deps.txt" || true
grep -h '# no-deps' "$@" | sed 's/#.*//' > "$tmp/nodeps.txt" || true
extra=()
[ -n "${TORCH_INDEX:-}" ] && extra=(--extra-index-url "$TORCH_INDEX")
"$venv/bin/python" -m pip install -q "${extra[@]}" -r "$tmp/deps.txt" >&2
if [ -s "$tmp/nodeps.txt" ]; then
  "$venv/bin/python" -m pip install -q --no-deps "${extra[@]}" -r "$tmp/nodeps.txt" >&2
fi
echo "$sum" > "$venv/.requirements.sha256"
echo "$PWD/$venv/bin/python"
