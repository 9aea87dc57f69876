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
# base lr 5e-4 is cycle 1's, scaled to batch 32 by the linear rule (peak 6.25e-5); grad-norm clip
# 1.0 as in cycle 1. (A first run had no clip and trained before training.data left out silent
# clips: a silent speed copy gave batches with a loss of 2.7e9, which froze AdamW; README.)
COMMON="--batch-size 32 --steps 1600 --warmup-steps 80 --base-lr 5e-4 --clip-grad 1.0 --precision bf16 --workers 1 \
  --log-every 20 --ckpt-every 200 --keep 2 --png-every 800 --resume"
for v in mwmae mae; do
  python -m training.train --data "$SHARDS" --out "$OUT/${v}_c3" --model ${v}_tiny \
    --init-from "$GPU/export_${v}_cycle1" $COMMON > "$OUT/${v}_c3.log" 2>&1
  python -m training.export "$OUT/${v}_c3" "$OUT/export_${v}_c3"
done
# The bundled encoder: python -m training.export "$OUT/mwmae_c3" hear_mwmae/weights --encoder-only
