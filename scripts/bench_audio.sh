#!/usr/bin/env bash
# Side-by-side timing: voxprobe-audio vs sox on decode + downmix + resample of 10 minutes of
# 44.1 kHz stereo FLAC to 16 kHz mono 16-bit WAV, plus the agreement of the two outputs.
# Also measures peak RSS of streaming one hour of 44.1 kHz stereo FLAC.
#   scripts/bench_audio.sh [--json OUT.json] [MINUTES=10] [STREAM_MINUTES=60]
# Needs sox (Debian `sox`; installed with apt-get when run as root and missing) and GNU time
# (/usr/bin/time, Debian `time`). Nothing generated is kept. Times: best of 3 wall-clock runs,
# sox and voxprobe alternating.
set -euo pipefail
source "$(dirname "$0")/bench_common.sh"
set -- "${ARGS[@]+"${ARGS[@]}"}"
MIN=${1:-10}
STREAM_MIN=${2:-60}
need=()
command -v sox >/dev/null || need+=(sox)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bench_audio: installing ${need[*]} (apt-get)" >&2
    apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
  else
    echo "bench_audio: needs ${need[*]}: sudo apt-get install ${need[*]} (Debian/Ubuntu)" >&2
    exit 2
  fi
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DATA=crates/voxprobe-audio/tests/data

# SKIP_BUILD=1 reuses an existing release build (the shared target dir may be busy).
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --example decode --no-default-features --features audio -q
BIN=$TARGET/release/examples/decode

# Real speech (the 5 LibriVox clips, 27 s), as 44.1 kHz stereo (right = left delayed), repeated.
sox $DATA/sense_and_sensibility_*.wav -r 44100 -b 16 "$TMP/l.wav" rate -v
sox "$TMP/l.wav" "$TMP/r.wav" delay 0.013
sox -M "$TMP/l.wav" "$TMP/r.wav" "$TMP/unit.wav" trim 0 "$(soxi -D "$TMP/l.wav")"
reps=$(python3 -c "import math;print(math.ceil($MIN*60/$(soxi -D "$TMP/unit.wav"))-1)")
sox "$TMP/unit.wav" "$TMP/long.flac" repeat "$reps" trim 0 "$((MIN*60))"
echo "input: $(soxi -d "$TMP/long.flac") $(soxi -r "$TMP/long.flac") Hz $(soxi -c "$TMP/long.flac") ch FLAC, $(du -h "$TMP/long.flac" | cut -f1)"

once() { # wall-clock seconds of one run of "$@"
  /usr/bin/time -f %e -o "$TMP/t" "$@" >/dev/null 2>&1
  tail -1 "$TMP/t"
}
# sox remixes to mono before resampling when -c 1 is given (its effects chain puts channels first).
T_SOX=999999 T_VOX=999999 T_VOXS=999999
for _ in 1 2 3; do
  T_SOX=$(python3 -c "print(min($T_SOX, $(once sox "$TMP/long.flac" -c 1 -b 16 "$TMP/sox.wav" rate -v 16000)))")
  T_VOX=$(python3 -c "print(min($T_VOX, $(once "$BIN" "$TMP/long.flac" "$TMP/vox.wav")))")
  T_VOXS=$(python3 -c "print(min($T_VOXS, $(once "$BIN" "$TMP/long.flac" "$TMP/voxs.wav" --stream)))")
done
"$BIN" "$TMP/long.flac" "$TMP/vox.wav" | tee "$TMP/vox.json"
# Agreement of the two 16-bit outputs: SNR = rms(sox) / rms(sox - voxprobe).
RMS_REF=$(sox "$TMP/sox.wav" -n stat 2>&1 | awk '/RMS +amplitude/{print $3}')
RMS_DIFF=$(sox -m -v 1 "$TMP/sox.wav" -v -1 "$TMP/vox.wav" -n stat 2>&1 | awk '/RMS +amplitude/{print $3}')
SOX_VERSION=$(sox --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)
python3 - "$T_SOX" "$T_VOX" "$T_VOXS" "$RMS_REF" "$RMS_DIFF" "$MIN" "$SOX_VERSION" > "$TMP/rows.jsonl" <<'PY'
import json, math, sys
ts, tv, tvs, rr, rd, mins = map(float, sys.argv[1:7])
print(f"sox rate -v           : {ts:.3f} s", file=sys.stderr)
print(f"voxprobe (whole file) : {tv:.3f} s  -> speed ratio sox/voxprobe = {ts/tv:.2f}x", file=sys.stderr)
print(f"voxprobe (--stream)   : {tvs:.3f} s  -> speed ratio sox/voxprobe = {ts/tvs:.2f}x", file=sys.stderr)
print(f"agreement of 16-bit outputs: {20*math.log10(rr/max(rd,1e-12)):.1f} dB SNR", file=sys.stderr)
ref = f"sox {sys.argv[7]}"
what = f"{mins:g} min 44.1 kHz stereo FLAC -> 16 kHz mono WAV"
print(json.dumps({"bench": "audio", "case": f"{what} (whole file)", "voxprobe_s": tv, "reference_s": ts, "reference": ref}))
print(json.dumps({"bench": "audio", "case": f"{what} (--stream)", "voxprobe_s": tvs, "reference_s": ts, "reference": ref}))
PY
[ -z "$JSON" ] || write_rows "$JSON" < "$TMP/rows.jsonl"

# Bounded memory: stream STREAM_MIN minutes of 44.1 kHz stereo FLAC.
if [ "$STREAM_MIN" -gt 0 ]; then
  sox "$TMP/long.flac" "$TMP/hour.flac" repeat $(( (STREAM_MIN + MIN - 1) / MIN - 1 )) trim 0 "$((STREAM_MIN*60))"
  echo "stream input: $(soxi -d "$TMP/hour.flac"), $(du -h "$TMP/hour.flac" | cut -f1)"
  /usr/bin/time -v "$BIN" "$TMP/hour.flac" "$TMP/hour.wav" --stream 2> "$TMP/time.txt"
  grep -E "Maximum resident|Elapsed" "$TMP/time.txt"
fi
