#!/usr/bin/env bash
# k-means fit time, voxprobe-kmex vs scikit-learn (2 threads each, same data and initial centres,
# Lloyd, fixed iteration count; best of 3).
#   scripts/bench_kmeans_vs_sklearn.sh [--json OUT.json] [extra args of bench_kmeans_vs_sklearn.py]
# Python: target/venv-kmex from scripts/requirements-kmex.txt (made on first use by
# scripts/venv.sh; PY=/path/to/python uses your own).
set -euo pipefail
source "$(dirname "$0")/bench_common.sh"
PY=$(scripts/venv.sh kmex scripts/requirements-kmex.txt)
cargo build --release -p voxprobe-kmex --example kmeans_timing
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$PY" scripts/bench_kmeans_vs_sklearn.py --bin "$TARGET/release/examples/kmeans_timing" "${ARGS[@]+"${ARGS[@]}"}" | tee "$TMP/out.jsonl"
[ -z "$JSON" ] || python3 - "$TMP/out.jsonl" <<'PY' | write_rows "$JSON"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"bench": "kmeans", "case": f"Lloyd {r['case']}, {r['iters']} iterations, {r['threads']} threads "
                      f"(inertia rel. diff {r['inertia_rel_diff']:.1e})",
                      "voxprobe_s": r["voxprobe_s"], "reference_s": r["sklearn_s"],
                      "reference": f"scikit-learn {r['sklearn']}"}))
PY
