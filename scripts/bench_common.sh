# Sourced by scripts/bench_*.sh (not run on its own). Gives:
#   TARGET            cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config)
#   JSON              the path after `--json`, or empty; ARGS the remaining arguments
#   write_rows FILE   reads JSON rows (one object per line) on stdin and writes them as a JSON
#                     list to FILE: {"bench", "case", "voxprobe_s", "reference_s", "ratio"
#                     (reference_s / voxprobe_s, > 1 = voxprobe faster), "reference": "name version"}
# Every script runs from the repository root, takes no machine-specific path, and makes its own
# Python environment with scripts/venv.sh.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET=$(cargo metadata --no-deps --format-version 1 |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
JSON=
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --json) JSON=$2; shift 2 ;;
    --json=*) JSON=${1#--json=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
write_rows() {
  python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
for r in rows:
    r["ratio"] = r["reference_s"] / r["voxprobe_s"]
json.dump(rows, open(sys.argv[1], "w"), indent=1)
print(f"wrote {len(rows)} rows to {sys.argv[1]}", file=sys.stderr)
' "$1"
}
