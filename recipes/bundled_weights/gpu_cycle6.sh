#!/bin/bash
# GPU cycles 6 and 7 of the bundled-weights recipe (issue 7), as they ran on one H100 (80 GB) on
# the 16.4 h corpus (corpus3, see README.md here), each with gpu_cycle.sh:
#   cycle 6: MW-MAE-Tiny and MAE-Tiny from scratch with GPU cycle 1's recipe (base lr 5e-4 -> peak 1e-3);
#   cycle 7: each model on from its own cycle-6 weights for another 3,300 steps at half the peak
#            lr (base 2.5e-4), a fresh optimizer and schedule (--init-from).
# Measured with both runs at once: 0.152 s a step for MW-MAE, 0.124 s for MAE.
# Neither cycle scored above cycle 3 on the evaluation suite (README), so neither ships.
# Usage: bash recipes/bundled_weights/gpu_cycle6.sh SHARDS_DIR OUT_DIR
set -euo pipefail
SHARDS=${1:?shard folder (training.shards output, or unpack_shards.py output)}
OUT=${2:?output folder}
CYCLE="$(dirname "$0")/gpu_cycle.sh"
bash "$CYCLE" "$SHARDS" "$OUT" c6 5e-4 1100
bash "$CYCLE" "$SHARDS" "$OUT" c7 2.5e-4 1100 c6
