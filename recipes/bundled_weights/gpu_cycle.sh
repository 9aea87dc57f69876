#!/bin/bash
# One GPU cycle of the bundled-weights recipe (gpu_stage.sh, gpu_cycle6.sh): MW-MAE-Tiny and
# MAE-Tiny side by side on one GPU with identical data, steps, batch, schedule and seeds, 3,300
# steps x 512 crops (165 warm-up, cosine to 0, grad-norm clip 1.0, bf16 autocast), then exported.
# From scratch, or each model from its own previous-cycle export (--init-from, fresh optimizer).
# 3,300 steps: what fitted one 10-minute call of the lent H100 for both runs at once.
# Usage: [TRAIN_FLAGS="--mix-prob 0.5"] bash gpu_cycle.sh SHARDS OUT_DIR TAG BASE_LR CKPT_EVERY [INIT_TAG]
#   TRAIN_FLAGS: more training.train flags for both runs (cycles 8 and 9: log-mixup-exp)
#   writes OUT_DIR/{mwmae,mae}_TAG and OUT_DIR/export_{mwmae,mae}_TAG; reads OUT_DIR/export_{mwmae,mae}_INIT_TAG
set -euo pipefail
SHARDS=${1:?shard folder (training.shards output, or unpack_shards.py output)}
OUT=${2:?output folder}
TAG=${3:?tag of this cycle (cycle1, c6, ...)}
LR=${4:?base lr (5e-4: peak 1e-3 at batch 512)}
CKPT_EVERY=${5:?steps between checkpoints}
INIT_TAG=${6:-}
mkdir -p "$OUT"
for v in mwmae mae; do
  init=""
  [ -n "$INIT_TAG" ] && init="--init-from $OUT/export_${v}_$INIT_TAG"
  OMP_NUM_THREADS=2 python -m training.train --data "$SHARDS" --out "$OUT/${v}_$TAG" --model ${v}_tiny \
    --batch-size 512 --steps 3300 --warmup-steps 165 --base-lr "$LR" --clip-grad 1.0 --precision bf16 \
    --workers 6 --log-every 50 --ckpt-every "$CKPT_EVERY" --keep 1 --png-every 3300 $init ${TRAIN_FLAGS:-} > "$OUT/${v}_$TAG.log" 2>&1 &
done
wait
for v in mwmae mae; do
  python -m training.export "$OUT/${v}_$TAG" "$OUT/export_${v}_$TAG"
done
