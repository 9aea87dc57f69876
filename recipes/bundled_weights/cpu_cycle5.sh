#!/bin/bash
# Cycle 5: the cycle-3 models (cpu_cycle3.sh) trained on for 1,000 steps x 32 crops on the 16.4 h
# corpus (the 12.5 h one plus LMMS notes and isolated espeak-ng words; README here), on a 2-core
# CPU with bf16 autocast. Both models: identical data, steps, batch, schedule, seeds. (Only the
# MW-MAE half was run: it scored below cycle 3, so nothing from this cycle ships; README here.)
# Resumable: run it again after an interruption (--resume picks up the last checkpoint).
# Usage: bash recipes/bundled_weights/cpu_cycle5.sh SHARDS3_DIR CYCLE3_OUT_DIR OUT_DIR
set -euo pipefail
SHARDS=${1:?shard folder of the 16.4 h corpus}
C3=${2:?cpu_cycle3.sh output folder (export_mwmae_c3, export_mae_c3)}
OUT=${3:?output folder}
bash "$(dirname "$0")/cpu_cycle.sh" "$SHARDS" "$C3" c3 c5 1000 "$OUT"
