#!/usr/bin/env bash
# Out-of-distribution audio for the `speech_ood` example (examples/data/ood-speech/), plus the
# compressed copy of the accent-audit utterances (examples/data/accent-audit/audio/).
# Tools (Debian 12): espeak-ng 1.51, sox 14.4.2, ffmpeg 5.1 with libvorbis.
#   apt-get update && apt-get install -y espeak-ng sox ffmpeg
# Run from the repository root: bash scripts/gen_ood_speech.sh [path/to/shared/data/accent-audit]
set -euo pipefail
SHARED=${1:-../shared/data/accent-audit}
OUT=examples/data/ood-speech
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Ogg Vorbis q0 (~32 kb/s) keeps 210 utterances under 3 MB; every set (in- and out-of-
# distribution) goes through the same codec, so the codec cannot separate them.
enc() { ffmpeg -loglevel error -y -i "$1" -c:a libvorbis -q:a 0 -map_metadata -1 \
          -fflags +bitexact -flags:a +bitexact "$2"; }

if [ -d "$SHARED/audio" ]; then
  mkdir -p examples/data/accent-audit/audio
  for f in "$SHARED"/audio/*.flac; do
    enc "$f" "examples/data/accent-audit/audio/$(basename "$f" .flac).ogg"
  done
fi

mkdir -p "$OUT"
: > "$OUT/list.tsv"
# Other espeak-ng languages: six everyday sentences each (written for this project, CC0).
declare -A TEXT
TEXT[de]="der zug in die stadt fährt jeden morgen um sieben|meine schwester trinkt gern heißen tee mit milch|wir haben am wochenende einen langen spaziergang gemacht|das kleine kind spielt im garten mit dem hund|bitte schließen sie das fenster bevor es regnet|der markt ist am samstag voller frischer früchte"
TEXT[fr]="le train pour la ville part chaque matin à sept heures|ma soeur aime boire du thé chaud avec du lait|nous avons fait une longue promenade ce week-end|le petit enfant joue dans le jardin avec le chien|fermez la fenêtre avant qu'il ne pleuve s'il vous plaît|le marché est plein de fruits frais le samedi"
TEXT[es]="el tren a la ciudad sale cada mañana a las siete|a mi hermana le gusta beber té caliente con leche|dimos un largo paseo durante el fin de semana|el niño pequeño juega en el jardín con el perro|por favor cierre la ventana antes de que llueva|el mercado está lleno de fruta fresca los sábados"
for lang in de fr es; do
  IFS='|' read -ra lines <<< "${TEXT[$lang]}"
  i=0
  for line in "${lines[@]}"; do
    i=$((i + 1))
    id=$(printf "lang_%s_%02d" "$lang" "$i")
    espeak-ng -v "$lang" -s 150 -w "$tmp/$id.wav" "$line"
    sox "$tmp/$id.wav" -r 16000 -c 1 -b 16 "$tmp/${id}_16k.wav"
    enc "$tmp/${id}_16k.wav" "$OUT/$id.ogg"
    printf "%s\tespeak-%s\n" "$id" "$lang" >> "$OUT/list.tsv"
  done
done
# Noise: 3 s at four levels each; -R makes sox's generator repeatable.
for kind in white pink; do
  i=0
  for gain in -30 -24 -18 -12; do
    i=$((i + 1))
    id=$(printf "noise_%s_%02d" "$kind" "$i")
    sox -R -n -r 16000 -c 1 -b 16 "$tmp/$id.wav" synth 3 "${kind}noise" gain "$gain"
    enc "$tmp/$id.wav" "$OUT/$id.ogg"
    printf "%s\tnoise-%s\n" "$id" "$kind" >> "$OUT/list.tsv"
  done
done
echo "wrote $(wc -l < "$OUT/list.tsv") files to $OUT"
