#!/usr/bin/env bash
# Generates the voxprobe-audio test fixtures in crates/voxprobe-audio/tests/data/ from the
# real recordings copied there (LibriVox clips, accent-audit FLACs), plus the references the
# tests compare against. Tests never run this script; its outputs are committed.
#
# Pinned tools (Debian 12 bookworm packages, `apt-get install -y sox libsox-fmt-all ffmpeg`):
#   sox 14.4.2 (SoX v14.4.2), ffmpeg 5.1.x (7:5.1.9-0+deb12u1), python3 (stdlib only).
#
# References:
#   *.s32.fnv   sox's decode of a lossless file to signed 32-bit little-endian raw samples
#               (`sox IN -t s32 -`; ffmpeg `-f s32le` for ALAC, which sox cannot read),
#               summarised as "<frames> <channels> <FNV-1a-64 of the bytes>" to keep the repo small.
#   rs_*.f32    `sox IN -t f32 OUT rate -v RATE` (very high quality) output, 32-bit float LE raw.
set -euo pipefail
cd "$(dirname "$0")/../crates/voxprobe-audio/tests/data"

SPEECH=sense_and_sensibility_01_austen_64kb-0870.wav
SPEECH2=sense_and_sensibility_01_austen_64kb-0880.wav
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fnv() { # stdin bytes -> FNV-1a 64 hex
  python3 -c 'import sys
h=0xcbf29ce484222325
for b in sys.stdin.buffer.read():
    h=((h^b)*0x100000001b3)&0xFFFFFFFFFFFFFFFF
print("%016x"%h)'
}
ref_sox() { # file -> writes file.s32.fnv from sox's decode
  local f=$1 ch frames
  ch=$(soxi -c "$f")
  sox "$f" -t s32 -L "$TMP/ref.raw"
  frames=$(( $(stat -c %s "$TMP/ref.raw") / 4 / ch ))
  echo "$frames $ch $(fnv < "$TMP/ref.raw")" > "$f.s32.fnv"
}

# 1 s mono and stereo 16 kHz 16-bit cuts of real speech (the sources of everything below).
sox "$SPEECH" "$TMP/mono.wav" trim 1.0 0.5
sox "$SPEECH" "$TMP/l.wav" trim 1.0 0.5
sox "$SPEECH2" "$TMP/r.wav" trim 1.0 0.5
sox -M "$TMP/l.wav" "$TMP/r.wav" "$TMP/stereo.wav"

# --- lossless formats (0.5 s each) ---
sox "$TMP/mono.wav" -e unsigned-integer -b 8 -D pcm_u8.wav            # 8-bit unsigned PCM (dither off: exact requantisation is not the point, decode is)
cp "$TMP/stereo.wav" pcm_s16_stereo.wav                                # WAVE_FORMAT_PCM 16-bit
sox "$TMP/stereo.wav" -b 24 pcm_s24_stereo_ext.wav                     # sox writes 24-bit as WAVE_FORMAT_EXTENSIBLE
sox "$TMP/mono.wav" -b 32 -e signed-integer pcm_s32.wav
sox "$TMP/mono.wav" -b 32 -e floating-point float32.wav
sox "$TMP/mono.wav" -b 64 -e floating-point float64.wav
sox "$TMP/stereo.wav" -r 44100 -b 24 flac_s24_stereo_44k.flac rate -v     # 24-bit stereo 44.1 kHz FLAC
sox "$TMP/stereo.wav" aiff_s16_stereo.aiff
ffmpeg -nostdin -loglevel error -y -i "$TMP/mono.wav" -c:a alac alac_mono.m4a
sox "$TMP/mono.wav" -t raw -e signed-integer -b 16 -L raw_s16le_mono.raw  # headerless: 16 kHz, 1 ch, s16 LE
sox "$TMP/stereo.wav" -t raw -e floating-point -b 32 -B raw_f32be_stereo.raw  # headerless: 16 kHz, 2 ch, f32 BE
for f in pcm_u8.wav pcm_s16_stereo.wav pcm_s24_stereo_ext.wav pcm_s32.wav float32.wav float64.wav \
         flac_s24_stereo_44k.flac aiff_s16_stereo.aiff; do ref_sox "$f"; done
# sox cannot read MP4: ffmpeg's decode (its ALAC decoder, 16-bit, widened to s32 by <<16 like sox).
ffmpeg -nostdin -loglevel error -y -i alac_mono.m4a -f s32le "$TMP/alac.raw"
echo "$(( $(stat -c %s "$TMP/alac.raw") / 4 )) 1 $(fnv < "$TMP/alac.raw")" > alac_mono.m4a.s32.fnv
# Raw references are the decodes of the WAVs they were made from.
cp "$TMP/mono.wav" "$TMP/raw_mono.wav"; ref_sox "$TMP/raw_mono.wav"; cp "$TMP/raw_mono.wav.s32.fnv" raw_s16le_mono.raw.s32.fnv
cp pcm_s16_stereo.wav.s32.fnv raw_f32be_stereo.raw.s32.fnv
# The real recordings, decoded whole.
for f in sense_and_sensibility_*.wav u0*.flac; do ref_sox "$f"; done

# --- lossy formats (checked for shape and waveform similarity, not bit-exactness) ---
ffmpeg -nostdin -loglevel error -y -i "$TMP/stereo.wav" -c:a libmp3lame -b:a 64k lossy.mp3
ffmpeg -nostdin -loglevel error -y -i "$TMP/stereo.wav" -c:a libvorbis -q:a 4 lossy.ogg
ffmpeg -nostdin -loglevel error -y -i "$TMP/stereo.wav" -c:a aac -b:a 64k lossy_aac.m4a
# (the lossy files are compared with pcm_s16_stereo.wav, the PCM they were encoded from)
# 4 s mono lossy files for segment decoding (long enough to seek past the preroll; only
# compared with their own whole-file decode, so the encoder build does not matter)
sox "$SPEECH" -C 32 lossy_long.mp3 trim 0 4
sox "$SPEECH" -C 2 lossy_long.ogg trim 0 4

# --- resampling references (sox rate -v, float output) ---
sox -n -r 44100 -b 16 sweep_44k.wav synth 0.5 sine 50-7000 gain -3
sox -n -r 48000 -b 16 sweep_48k.wav synth 0.5 sine 50-7000 gain -3
sox "$SPEECH" -r 44100 -b 16 speech_44k.wav trim 1.0 1.0 rate -v
sox "$SPEECH" speech_16k.wav trim 1.0 1.0
sox sweep_44k.wav -t f32 rs_sweep_44k_to_16k.f32 rate -v 16000
sox sweep_48k.wav -t f32 rs_sweep_48k_to_16k.f32 rate -v 16000
sox speech_44k.wav -t f32 rs_speech_44k_to_16k.f32 rate -v 16000
sox speech_16k.wav -t f32 rs_speech_16k_to_8k.f32 rate -v 8000
sox speech_16k.wav -t f32 rs_speech_16k_to_22k.f32 rate -v 22050
du -ch . | tail -1
