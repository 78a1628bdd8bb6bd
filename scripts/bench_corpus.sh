#!/usr/bin/env bash
# Throughput and peak memory of the `voxprobe` per-utterance commands, `audit` and `merge` on a
# generated corpus of short utterances, for several corpus sizes: memory must not grow with the
# number of utterances (issue 16: peak RSS at 8,000 ≤ 1.10 × at 1,000).
#
# Usage: scripts/bench_corpus.sh [N ...]          (default: 1000 8000)
#   VOXPROBE=path/to/voxprobe   binary to time (default: target/release/voxprobe, built if missing)
#   WORK=dir                    scratch directory (default: target/bench-corpus)
#
# The corpus: N mono 16 kHz 16-bit WAVs of 0.20–0.39 s (two tones plus noise, seeded), a
# wav.scp, a Kaldi `text` of 3–6 random words per utterance and a `utt2spk` of 4 groups; made by
# Python's standard library only (no venv needed). Models: the tiny random checkpoints in
# models/ (their output is meaningless; they exercise the pipeline). Peak RSS is the child's
# ru_maxrss (Linux: KiB); utterances/s is wall-clock. Prints one markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 8000)
work=${WORK:-target/bench-corpus}
bin=${VOXPROBE:-target/release/voxprobe}
if [[ ! -x $bin ]]; then
    cargo build --release --bin voxprobe >&2
fi
mkdir -p "$work"

gen() { # gen N DIR
    python3 - "$1" "$2" <<'PY'
import math, os, random, struct, sys, wave
n, d = int(sys.argv[1]), sys.argv[2]
os.makedirs(f"{d}/wav", exist_ok=True)
rng = random.Random(0)
words = "the a cat dog store corner train city morning seven blue green runs sits on at".split()
with open(f"{d}/wav.scp", "w") as scp, open(f"{d}/text", "w") as text, open(f"{d}/utt2spk", "w") as spk:
    for i in range(n):
        uid = f"u{i:06d}"
        p = f"{d}/wav/{uid}.wav"
        if not os.path.exists(p):
            m = 3200 + 160 * (i % 20)
            f1, f2 = 100 + 7 * (i % 50), 900 + 11 * (i % 37)
            x = [0.2 * math.sin(2 * math.pi * f1 * t / 16000) + 0.1 * math.sin(2 * math.pi * f2 * t / 16000)
                 + 0.02 * (rng.random() - 0.5) for t in range(m)]
            with wave.open(p, "wb") as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
                w.writeframes(struct.pack(f"<{m}h", *(int(v * 32767) for v in x)))
        scp.write(f"{uid} {p}\n")
        text.write(uid + " " + " ".join(rng.choice(words) for _ in range(rng.randint(3, 6))) + "\n")
        spk.write(f"{uid} g{i % 4}\n")
PY
}

measure() { # measure LABEL CMD... -> "seconds maxrss_kib"
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.perf_counter() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode()); sys.exit(f"{sys.argv[1]} failed")
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

echo "| command | utterances | seconds | utterances/s | peak RSS (MiB) |"
echo "| --- | ---: | ---: | ---: | ---: |"
for n in "${sizes[@]}"; do
    d=$work/n$n
    gen "$n" "$d"
    rm -rf "$d/out"
    row() { # row NAME CMD...
        local name=$1; shift
        read -r secs rss < <(measure "$name" "$@")
        python3 -c "import sys; n,s,r=int(sys.argv[2]),float(sys.argv[3]),int(sys.argv[4]); print(f'| {sys.argv[1]} | {n} | {s:.1f} | {n/s:.0f} | {r/1024:.1f} |')" "$name" "$n" "$secs" "$rss"
    }
    row features "$bin" features --scp "$d/wav.scp" --out "$d/out/feat"
    row embed "$bin" embed --model models/tiny-wav2vec2-base --pooling mean --scp "$d/wav.scp" --out "$d/out/emb"
    row transcribe "$bin" transcribe --model models/tiny-wav2vec2-ctc-base --scp "$d/wav.scp" --out "$d/out/asr"
    # Audit the synthetic references against themselves with one word dropped per line.
    awk '{ $NF=""; print }' "$d/text" > "$d/hyp"
    row audit "$bin" audit --refs "$d/text" --hyps "$d/hyp" --groups "$d/utt2spk" --bootstrap 100 --out "$d/out/audit"
    for i in 0 1; do
        "$bin" features --scp "$d/wav.scp" --out "$d/out/sharded" --shard "$i/2" > /dev/null
    done
    row merge "$bin" merge "$d/out/sharded"
    cmp "$d/out/sharded/features.safetensors" "$d/out/feat/features.safetensors"
done
