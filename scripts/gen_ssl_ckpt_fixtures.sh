#!/usr/bin/env bash
# Regenerates the voxprobe-ssl checkpoint/transcription fixtures (issue 18):
# makes target/venv-ssl from scripts/requirements-ssl.txt (Python 3.11; torch from PyPI, the
# CUDA build, ~2.9 GB of wheels, runs on the CPU), then runs scripts/gen_ssl_ckpt_fixtures.py
# twice and checks that the outputs are byte-identical. CI never runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=target/venv-ssl
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q -r scripts/requirements-ssl.txt
OUTS=(models/tiny-wav2vec2-ctc-960h models/tiny-wav2vec2-ctc-960h-sharded
      models/tiny-wav2vec2-ctc-960h-sharded-bin models/tiny-wav2vec2-ctc-lv60
      crates/voxprobe-ssl/tests/data/librivox_ctc.logits.safetensors
      crates/voxprobe-ssl/tests/data/librivox_ctc.json
      crates/voxprobe-ssl/tests/data/ctc_offsets.json)
sums() { find "${OUTS[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; }
"$VENV/bin/python" scripts/gen_ssl_ckpt_fixtures.py
first=$(sums)
"$VENV/bin/python" scripts/gen_ssl_ckpt_fixtures.py > /dev/null
if [ "$first" != "$(sums)" ]; then echo "outputs differ between two runs" >&2; exit 1; fi
echo "byte-identical across two runs: $(echo "$first" | wc -l) files"
