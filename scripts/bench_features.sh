#!/usr/bin/env bash
# voxprobe-features vs torchaudio.compliance.kaldi on 10 s of speech, same machine, same run.
#   scripts/bench_features.sh [--json OUT.json]
# Prints a table: median seconds per 10 s of audio and the speed ratio torchaudio / voxprobe.
# Python: target/venv-features from scripts/requirements-features.txt (made on first use by
# scripts/venv.sh; PY=/path/to/python uses your own). Rust side: the criterion bench
# `cargo bench -p voxprobe-features --bench features`.
set -euo pipefail
source "$(dirname "$0")/bench_common.sh"
PY=$(scripts/venv.sh features scripts/requirements-features.txt)
cargo bench -p voxprobe-features --bench features -- --noplot >/dev/null
ref=$("$PY" scripts/bench_features.py 30)
"$PY" - "$ref" "$TARGET/criterion/kaldi_10s" "${JSON:-}" <<'PYEOF'
import json, sys, pathlib
from importlib.metadata import version
ref = json.loads(sys.argv[1])
root = pathlib.Path(sys.argv[2])
rows = []
print(f"{'case':10} {'threads':8} {'torchaudio s':>13} {'voxprobe s':>11} {'ratio':>7}")
for case, by in ref.items():
    for label, t_ref in by.items():
        est = root / f"cpu_{case}" / label / "new" / "estimates.json"
        t = json.loads(est.read_text())["median"]["point_estimate"] / 1e9
        print(f"{case:10} {label:8} {t_ref:13.5f} {t:11.5f} {t_ref / t:6.2f}x")
        rows.append({"bench": "features", "case": f"{case} on 10 s of speech, {label}", "voxprobe_s": t,
                     "reference_s": t_ref, "ratio": t_ref / t,
                     "reference": f"torchaudio {version('torchaudio')} (torch {version('torch')})"})
if sys.argv[3]:
    json.dump(rows, open(sys.argv[3], "w"), indent=1)
PYEOF
