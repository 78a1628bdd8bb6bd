#!/usr/bin/env bash
# Experiment behind the "why the aligner is not 50x faster" note (issue 4): would the beam search
# give the same output if it skipped every child path that cannot win?
#
# oracle_prune.patch (applied to a throw-away worktree, never to the library) runs every gap's
# beam search twice: exactly, then again told the winner's cost C* in advance (an oracle no real
# run has) and dropping each child whose cost plus the DP distance still to go exceeds C*. Costs
# never decrease along a path, so such a child cannot be the winner. The script reports, per
# input and variant, how many gaps the two searches align differently and how much faster the
# pruned one is, and prints up to 3 differing gaps per line.
#
# Inputs: the parity fixtures (tests/data/pairs.jsonl, always) and the speed workloads written by
# scripts/bench_audit_vs_python.sh (target/audit_bench/*w_*pct.jsonl, when present).
# The patch is against the aligner of commit e6fcc29, so the worktree is that commit (the
# experiment is about the reference's semantics, which later commits keep).
# Usage: scripts/experiments/oracle_prune.sh
set -euo pipefail
base=e6fcc29
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/wt" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/wt" "$base" >/dev/null 2>&1
git -C "$tmp/wt" apply "$root/scripts/experiments/oracle_prune.patch"
CARGO_TARGET_DIR="$root/target/oracle_prune" \
  cargo build --quiet --release --manifest-path "$tmp/wt/Cargo.toml" -p voxprobe-audit --example align_prof
bin="$root/target/oracle_prune/release/examples/align_prof"

run() { # file variant
  "$bin" "$1" "$2" 1 2>&1 >/dev/null | awk -v f="$(basename "$1" .jsonl)" -v v="$2" '
    /^ORACLE/ { n++; d += ($2 == 0); a += $3; b += $4 }
    /^DIFF/ && shown < 3 { ex[shown++] = $0 }
    END {
      printf "%-18s %-13s gaps %5d  differ %3d  exact %8.1f ms  oracle-pruned %7.1f ms  (%.1fx)\n",
             f, v, n, d, a / 1e6, b / 1e6, (b > 0 ? a / b : 0)
      for (i = 0; i < shown; i++) print "    " ex[i]
    }'
}

for v in default unambiguous no_word_pass beam_5; do
  run "$root/crates/voxprobe-audit/tests/data/pairs.jsonl" "$v"
done
for f in "$root"/target/audit_bench/*w_*pct.jsonl; do
  [ -e "$f" ] || continue
  run "$f" default
done
