#!/usr/bin/env bash
# Embed a corpus with `voxprobe embed` as a Slurm array job: task I of N takes every utterance
# whose 0-based line index i in wav.scp has i % N == I (`--shard I/N`). Tasks share nothing
# but the output directory, need no coordination, and can be rerun at will: finished
# utterances are kept as parts and a finished shard is skipped. When all tasks are done,
# `voxprobe merge` joins the shards into the exact bytes an unsharded run writes.
#
# Usage (edit the #SBATCH lines for your cluster):
#   sbatch --array=0-15 scripts/slurm_embed.sh data/wav.scp out/emb facebook/wav2vec2-base 6
#   # afterwards (or as a dependent job: sbatch --dependency=afterok:<jobid> ...):
#   voxprobe merge out/emb
#
# Requeued or timed-out tasks resume where they stopped (finished utterances are kept in
# checksummed part files; a damaged one is redone). A task requeued while its old instance still
# runs is refused by the shard's lock. With a hard time limit, `--max-new K` makes a task stop
# cleanly after K utterances; resubmit the same array to continue. WAV_SCP may be any manifest
# `voxprobe embed --scp` reads: a Kaldi data directory (with segments), wav.scp, JSONL, CSV.
# SKIP_BAD=1 skips undecodable/missing inputs and lists them in OUT_DIR/failed.shard-I-of-N.jsonl
# (merged into failed.jsonl by `voxprobe merge`).
#
# Kubernetes: an Indexed Job (`completionMode: Indexed`, `completions: N`, `parallelism: P`)
# sets JOB_COMPLETION_INDEX in each pod; run the same command with
#   --shard "${JOB_COMPLETION_INDEX}/N"
# on a shared volume (set SHARD_COUNT=N and this script picks the index up itself), then run
# `voxprobe merge` once all completions succeeded.
#
#SBATCH --job-name=voxprobe-embed
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=logs/%x-%A_%a.out
set -euo pipefail

scp=${1:?usage: slurm_embed.sh WAV_SCP OUT_DIR MODEL [LAYER]}
out=${2:?usage: slurm_embed.sh WAV_SCP OUT_DIR MODEL [LAYER]}
model=${3:?usage: slurm_embed.sh WAV_SCP OUT_DIR MODEL [LAYER]}
layer=${4:-}

if [[ -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
    index=$SLURM_ARRAY_TASK_ID
    # Arrays may start at an offset (--array=1-16); shards are always 0..N-1.
    index=$((index - ${SLURM_ARRAY_TASK_MIN:-0}))
    count=${SLURM_ARRAY_TASK_COUNT:?not a Slurm array job}
elif [[ -n "${JOB_COMPLETION_INDEX:-}" ]]; then
    index=$JOB_COMPLETION_INDEX
    count=${SHARD_COUNT:?set SHARD_COUNT to the Indexed Job\'s completions}
else
    index=0
    count=1
fi

bin=${VOXPROBE:-voxprobe}
args=(embed --scp "$scp" --out "$out" --model "$model" --shard "$index/$count")
if [[ -n "$layer" ]]; then
    args+=(--layer "$layer")
fi
if [[ "${SKIP_BAD:-0}" == 1 ]]; then
    args+=(--skip-bad)
fi
# One thread pool per task: match it to the allocation.
export RAYON_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${RAYON_NUM_THREADS:-}}
[[ -n "$RAYON_NUM_THREADS" ]] || unset RAYON_NUM_THREADS
echo "shard $index/$count on $(hostname): ${args[*]}" >&2
exec "$bin" "${args[@]}"
