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
# Cycle 3's recipe (base lr 5e-4 -> peak 6.25e-5 at batch 32, clip 1.0), 50 warm-up steps for 1,000.
COMMON="--batch-size 32 --steps 1000 --warmup-steps 50 --base-lr 5e-4 --clip-grad 1.0 --precision bf16 --workers 1 \
  --log-every 20 --ckpt-every 200 --keep 2 --png-every 500 --resume"
for v in mwmae mae; do
  python -m training.train --data "$SHARDS" --out "$OUT/${v}_c5" --model ${v}_tiny \
    --init-from "$C3/export_${v}_c3" $COMMON > "$OUT/${v}_c5.log" 2>&1
  python -m training.export "$OUT/${v}_c5" "$OUT/export_${v}_c5"
done
