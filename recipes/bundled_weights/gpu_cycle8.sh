#!/bin/bash
# GPU cycles 8 and 9 of the bundled-weights recipe (issue 7), as they ran on one H100 (80 GB) on
# the 16.4 h corpus (corpus3, see README.md here): cycle 6 (MW-MAE-Tiny and MAE-Tiny from scratch,
# GPU cycle 1's recipe) plus log-mixup-exp of the training crops (training.train --mix-prob):
#   cycle 8: half the crops mixed with a crop of another clip, λ ~ U(0, 0.4);
#   cycle 9: every crop mixed (BYOL-A's setting), λ ~ U(0, 0.4).
# The question they answer: is the plateau of cycles 1-7 a lack of variety that mixing the corpus's
# own clips can supply? Measured with both runs at once: 0.157 s a step for MW-MAE, 0.127 s for MAE.
# Usage: bash recipes/bundled_weights/gpu_cycle8.sh SHARDS_DIR OUT_DIR
set -euo pipefail
SHARDS=${1:?shard folder (training.shards output, or unpack_shards.py output)}
OUT=${2:?output folder}
CYCLE="$(dirname "$0")/gpu_cycle.sh"
TRAIN_FLAGS="--mix-prob 0.5 --mix-ratio 0.4" bash "$CYCLE" "$SHARDS" "$OUT" c8 5e-4 1100
TRAIN_FLAGS="--mix-prob 1.0 --mix-ratio 0.4" bash "$CYCLE" "$SHARDS" "$OUT" c9 5e-4 1100
