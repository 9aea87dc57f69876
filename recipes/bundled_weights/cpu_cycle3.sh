#!/bin/bash
# Cycle 3, the bundled weights since this stage: the GPU cycle-1 models (gpu_stage.sh) trained on
# for 1,600 steps x 32 crops on the 12.5 h corpus (README here), on a 2-core CPU with bf16 autocast
# (37 min for MW-MAE, ~31 min for MAE). Both models: identical data, steps, batch, schedule, seeds.
# Resumable: run it again after an interruption (--resume picks up the last checkpoint).
# Usage: bash recipes/bundled_weights/cpu_cycle3.sh SHARDS2_DIR GPU_OUT_DIR OUT_DIR
set -euo pipefail
SHARDS=${1:?shard folder of the 12.5 h corpus}
GPU=${2:?gpu_stage.sh output folder (export_mwmae_cycle1, export_mae_cycle1)}
OUT=${3:?output folder}
bash "$(dirname "$0")/cpu_cycle.sh" "$SHARDS" "$GPU" cycle1 c3 1600 "$OUT"
# The bundled encoder: python -m training.export "$OUT/mwmae_c3" hear_mwmae/weights --encoder-only
