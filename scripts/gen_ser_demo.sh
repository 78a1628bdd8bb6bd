#!/usr/bin/env bash
# Writes examples/data/ser-demo/: a SYNTHETIC "enacted" speech-emotion set for the ser_probe
# example. Each class is an eSpeak NG prosody setting (pitch, pitch range, rate, volume via
# SSML); each "speaker" is an eSpeak NG voice variant; every speaker says every sentence in
# every class. No human emotion is involved: a probe that separates these classes only shows
# that the features see pitch, rate and loudness.
#
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox); run from the repo root:
#   bash scripts/gen_ser_demo.sh
# Made with espeak-ng 1.51+dfsg-10+deb12u2 and sox 14.4.2 (Debian 12). Output: 16 kHz mono
# Ogg Vorbis (sox -C 0), ~1-2 s each, manifest.tsv (path, speaker, emotion) and PROVENANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=examples/data/ser-demo
rm -rf "$OUT"
mkdir -p "$OUT/audio"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# speaker id -> eSpeak NG voice (language + variant)
SPEAKERS=(
  "spk1:en-gb+m1"
  "spk2:en-gb+f2"
  "spk3:en-us+m3"
  "spk4:en-us+f4"
  "spk5:en-gb-scotland+m7"
  "spk6:en-029+f1"
)
# emotion -> SSML prosody attributes
EMOTIONS=(
  'neutral:pitch="+0%" range="medium" rate="100%" volume="medium"'
  'happy:pitch="+35%" range="x-high" rate="118%" volume="loud"'
  'sad:pitch="-25%" range="x-low" rate="72%" volume="soft"'
  'angry:pitch="+10%" range="high" rate="130%" volume="x-loud"'
)
SENTENCES=(
  "The train leaves at noon."
  "I put the keys on the table."
  "We will meet again tomorrow."
)

printf 'path\tspeaker\temotion\n' > "$OUT/manifest.tsv"
for s in "${SPEAKERS[@]}"; do
  spk=${s%%:*}; voice=${s#*:}
  for e in "${EMOTIONS[@]}"; do
    emo=${e%%:*}; attrs=${e#*:}
    n=0
    for text in "${SENTENCES[@]}"; do
      n=$((n + 1))
      id="${spk}_${emo}_s${n}"
      espeak-ng -m -v "$voice" -w "$TMP/$id.wav" "<speak><prosody $attrs>$text</prosody></speak>"
      sox "$TMP/$id.wav" -r 16000 -c 1 -C 0 "$OUT/audio/$id.ogg" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse
      printf 'audio/%s.ogg\t%s\t%s\n' "$id" "$spk" "$emo" >> "$OUT/manifest.tsv"
    done
  done
done

cat > "$OUT/PROVENANCE.md" <<'MD'
# ser-demo: a synthetic "enacted" emotion set (not real emotional speech)

Made by `scripts/gen_ser_demo.sh` with Debian 12's `espeak-ng` 1.51 and `sox` 14.4.2: 6
"speakers" (eSpeak NG voice variants en-gb+m1, en-gb+f2, en-us+m3, en-us+f4,
en-gb-scotland+m7, en-029+f1) × 4 "emotions" (SSML prosody settings: neutral = defaults;
happy = pitch +35 %, range x-high, rate 118 %, loud; sad = pitch −25 %, range x-low, rate 72 %,
soft; angry = pitch +10 %, range high, rate 130 %, x-loud) × 3 sentences, 16 kHz mono Ogg
Vorbis with leading/trailing silence trimmed. `manifest.tsv`: `path`, `speaker`, `emotion`.

The classes are prosody presets of a formant synthesiser, so high probe accuracy here says
only that the features encode pitch, tempo and loudness. Sentences written for this project;
all files CC0.
MD
du -sh "$OUT"
echo "$(($(wc -l < "$OUT/manifest.tsv") - 1)) utterances"
