#!/usr/bin/env bash
# Side-by-side speed of the Rust error-align port / jiwer-style WER vs the Python packages, on the
# same seeded workloads in one run, single-threaded; checks the Rust ops are identical to Python's.
# Needs the venv of scripts/requirements-audit.txt (default /work/venvs/audit).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/work/venvs/audit/bin/python}
OUT=${OUT:-target/audit_bench}
mkdir -p "$OUT"
# Build first, so that the binary timed is the one of the tree as it was when the run started.
cargo build --release --example audit_bench --no-default-features --features audit
BIN=${CARGO_TARGET_DIR:-target}/release/examples/audit_bench
"$PY" scripts/bench_audit_python.py "$OUT"
for f in "$OUT"/*w_*pct.jsonl; do
  name=$(basename "$f" .jsonl)
  case "$name" in *x200w*) nwp=10 ;; *) nwp=200 ;; esac  # as no_word_pass_pairs() in the .py
  RAYON_NUM_THREADS=1 "$BIN" "$f" --no-word-pass-pairs "$nwp" --dump-ops "$OUT/$name.rs_ops.jsonl" > "$OUT/$name.rust.jsonl"
done
"$PY" - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
py = json.load(open(os.path.join(out, "python.json")))
code = {"MATCH": "M", "INSERT": "I", "DELETE": "D", "SUBSTITUTE": "S"}
rows = []
print(f"{'workload':<22}{'what':<26}{'python/s':>12}{'rust/s':>12}{'ratio':>9}  identical")
for name, pres in py.items():
    rust = {}
    for line in open(os.path.join(out, name + ".rust.jsonl")):
        d = json.loads(line); rust[d["what"]] = d["pairs_per_s"]
    pyops = [json.loads(l) for l in open(os.path.join(out, name + ".py_ops.jsonl"))]
    rsops = [[[code[o["type"]], o["ref_span"], o["hyp_span"], int(o["left_compound"]), int(o["right_compound"])] for o in json.loads(l)]
             for l in open(os.path.join(out, name + ".rs_ops.jsonl"))]
    same = sum(a == b for a, b in zip(pyops, rsops))
    for what, p in pres.items():
        r = rust.get(what)
        rows.append({"workload": name, "what": what, "python_pairs_per_s": p, "rust_pairs_per_s": r, "ratio": r / p})
        print(f"{name:<22}{what:<26}{p:>12.0f}{r:>12.0f}{r / p:>8.1f}x  {same}/{len(pyops)}")
json.dump(rows, open(os.path.join(out, "summary.json"), "w"), indent=2)
PYEOF
