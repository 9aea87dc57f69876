#!/bin/bash
# One CPU cycle of the bundled-weights recipe (cpu_cycle3.sh, cpu_cycle5.sh): MW-MAE-Tiny and
# MAE-Tiny, each from its own previous-cycle export, trained on with identical data, steps, batch,
# schedule and seeds on a 2-core CPU with bf16 autocast, then exported.
# Resumable: run it again after an interruption (--resume picks up the last checkpoint).
# Usage: bash cpu_cycle.sh SHARDS INIT_DIR INIT_TAG TAG STEPS OUT_DIR
#   reads INIT_DIR/export_{mwmae,mae}_INIT_TAG, writes OUT_DIR/{mwmae,mae}_TAG and OUT_DIR/export_{mwmae,mae}_TAG
set -euo pipefail
SHARDS=${1:?shard folder}
INIT=${2:?folder with the previous cycle exports}
INIT_TAG=${3:?tag of the previous cycle (cycle1, c3, ...)}
TAG=${4:?tag of this cycle (c3, c5, ...)}
STEPS=${5:?steps}
OUT=${6:?output folder}
# base lr 5e-4 is GPU cycle 1's, scaled to batch 32 by the linear rule (peak 6.25e-5); grad-norm
# clip 1.0 as in cycle 1; warm-up 5 % of the steps. (A first cycle-3 run had no clip and trained
# before training.data left out silent clips: a silent speed copy gave batches with a loss of
# 2.7e9, which froze AdamW; README.)
COMMON="--batch-size 32 --steps $STEPS --warmup-steps $((STEPS / 20)) --base-lr 5e-4 --clip-grad 1.0 --precision bf16 \
  --workers 1 --log-every 20 --ckpt-every 200 --keep 2 --png-every $((STEPS / 2)) --resume"
for v in mwmae mae; do
  python -m training.train --data "$SHARDS" --out "$OUT/${v}_$TAG" --model ${v}_tiny \
    --init-from "$INIT/export_${v}_$INIT_TAG" $COMMON > "$OUT/${v}_$TAG.log" 2>&1
  python -m training.export "$OUT/${v}_$TAG" "$OUT/export_${v}_$TAG"
done
