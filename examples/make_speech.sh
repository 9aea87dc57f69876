#!/usr/bin/env bash
# Regenerates examples/speech.wav (16 kHz mono PCM-16) with espeak-ng + sox (Debian packages).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp --suffix=.wav)
espeak-ng -v en-us -s 150 -w "$tmp" "Masked autoencoders with multi window attention learn general purpose audio representations. This clip was synthesised with e speak for the hear M W M A E examples."
sox "$tmp" -r 16000 -c 1 -b 16 speech.wav
rm -f "$tmp"
