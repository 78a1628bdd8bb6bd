#!/usr/bin/env bash
# Side-by-side speed of the Rust error-align port / jiwer-style WER vs the Python packages, on the
# same seeded workloads in one run, single-threaded; checks the Rust ops are identical to Python's.
#   scripts/bench_audit_vs_python.sh [--json OUT.json]
# Python: target/venv-audit from scripts/requirements-audit.txt (made on first use by
# scripts/venv.sh; PY=/path/to/python uses your own). Work files go to $OUT (default
# target/audit_bench).
set -euo pipefail
source "$(dirname "$0")/bench_common.sh"
PY=$(scripts/venv.sh audit scripts/requirements-audit.txt)
OUT=${OUT:-target/audit_bench}
mkdir -p "$OUT"
# Build first, so that the binary timed is the one of the tree as it was when the run started.
cargo build --release --example audit_bench --no-default-features --features audit
BIN=$TARGET/release/examples/audit_bench
"$PY" scripts/bench_audit_python.py "$OUT"
for f in "$OUT"/*w_*pct.jsonl; do
  name=$(basename "$f" .jsonl)
  case "$name" in *x200w*) nwp=10 ;; *) nwp=200 ;; esac  # as no_word_pass_pairs() in the .py
  RAYON_NUM_THREADS=1 "$BIN" "$f" --no-word-pass-pairs "$nwp" --dump-ops "$OUT/$name.rs_ops.jsonl" > "$OUT/$name.rust.jsonl"
done
"$PY" - "$OUT" "${JSON:-}" <<'PYEOF'
import json, os, sys
from importlib.metadata import version
out, json_out = sys.argv[1], sys.argv[2]
py = json.load(open(os.path.join(out, "python.json")))
code = {"MATCH": "M", "INSERT": "I", "DELETE": "D", "SUBSTITUTE": "S"}
rows, table = [], []
print(f"{'workload':<22}{'what':<26}{'python/s':>12}{'rust/s':>12}{'ratio':>9}  identical")
for name, pres in py.items():
    rust = {}
    for line in open(os.path.join(out, name + ".rust.jsonl")):
        d = json.loads(line); rust[d["what"]] = d["pairs_per_s"]
    pyops = [json.loads(l) for l in open(os.path.join(out, name + ".py_ops.jsonl"))]
    rsops = [[[code[o["type"]], o["ref_span"], o["hyp_span"], int(o["left_compound"]), int(o["right_compound"])] for o in json.loads(l)]
             for l in open(os.path.join(out, name + ".rs_ops.jsonl"))]
    same = sum(a == b for a, b in zip(pyops, rsops))
    n_pairs = int(name.split("x")[0])
    for what, p in pres.items():
        r = rust.get(what)
        table.append({"workload": name, "what": what, "python_pairs_per_s": p, "rust_pairs_per_s": r, "ratio": r / p})
        print(f"{name:<22}{what:<26}{p:>12.0f}{r:>12.0f}{r / p:>8.1f}x  {same}/{len(pyops)}")
        # the no-word-pass variant times a prefix (as no_word_pass_pairs() in the .py)
        n = min(n_pairs, 10 if "x200w" in name else 200) if what == "error_align_no_word_pass" else n_pairs
        ref = f"jiwer {version('jiwer')}" if what.startswith(("wer_", "cer_")) else f"error-align {version('error-align')}"
        rows.append({"bench": "audit", "case": f"{what} {name} ({n} pairs, ops identical {same}/{len(pyops)})",
                     "voxprobe_s": n / r, "reference_s": n / p, "ratio": r / p, "reference": ref})
json.dump(table, open(os.path.join(out, "summary.json"), "w"), indent=2)
if json_out:
    json.dump(rows, open(json_out, "w"), indent=1)
PYEOF
