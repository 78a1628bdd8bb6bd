#!/usr/bin/env bash
# voxprobe-features vs torchaudio.compliance.kaldi on 10 s of speech, same machine, same run.
# Usage (repository root): bash scripts/bench_features.sh [python]   (default /work/venvs/features/bin/python)
# Prints a table: median seconds per 10 s of audio and the speed ratio torchaudio / voxprobe.
set -euo pipefail
PY=${1:-/work/venvs/features/bin/python}
cargo bench -p voxprobe-features --bench features -- --noplot >/dev/null
ref=$("$PY" scripts/bench_features.py 30)
"$PY" - "$ref" <<'PYEOF'
import json, sys, pathlib
ref = json.loads(sys.argv[1])
root = pathlib.Path("target/criterion/kaldi_10s")
print(f"{'case':10} {'threads':8} {'torchaudio s':>13} {'voxprobe s':>11} {'ratio':>7}")
for case, by in ref.items():
    for label, t_ref in by.items():
        est = root / f"cpu_{case}" / label / "new" / "estimates.json"
        t = json.loads(est.read_text())["median"]["point_estimate"] / 1e9
        print(f"{case:10} {label:8} {t_ref:13.5f} {t:11.5f} {t_ref / t:6.2f}x")
PYEOF
