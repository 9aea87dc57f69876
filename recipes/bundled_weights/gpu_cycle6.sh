#!/bin/bash
# GPU cycles 6 and 7 of the bundled-weights recipe (issue 7), as they ran on one H100 (80 GB) on
# the 16.4 h corpus (corpus3, see README.md here):
#   cycle 6: MW-MAE-Tiny and MAE-Tiny from scratch, side by side on the one GPU, with GPU cycle 1's
#            recipe (3,300 steps x 512 crops, base lr 5e-4 -> peak 1e-3, 165 warm-up, cosine to 0);
#   cycle 7: each model on from its own cycle-6 weights for another 3,300 steps at half the peak
#            lr (base 2.5e-4), a fresh optimizer and schedule (--init-from).
# Both models always get identical data, steps, batch, schedule and seeds.
# Usage: bash recipes/bundled_weights/gpu_cycle6.sh SHARDS_DIR OUT_DIR
set -euo pipefail
SHARDS=${1:?shard folder (training.shards output, or unpack_shards.py output)}
OUT=${2:?output folder}
mkdir -p "$OUT"
run_cycle() {  # TAG BASE_LR [INIT_TAG]
  local tag=$1 lr=$2 init_tag=${3:-} v init
  for v in mwmae mae; do
    init=""
    [ -n "$init_tag" ] && init="--init-from $OUT/export_${v}_$init_tag"
    # Measured on the H100 with both runs at once: 0.152 s a step for MW-MAE, 0.123 s for MAE.
    OMP_NUM_THREADS=2 python -m training.train --data "$SHARDS" --out "$OUT/${v}_$tag" --model ${v}_tiny \
      --batch-size 512 --steps 3300 --warmup-steps 165 --base-lr "$lr" --clip-grad 1.0 --precision bf16 \
      --workers 6 --log-every 50 --ckpt-every 1100 --keep 1 --png-every 3300 $init > "$OUT/${v}_$tag.log" 2>&1 &
  done
  wait
  for v in mwmae mae; do
    python -m training.export "$OUT/${v}_$tag" "$OUT/export_${v}_$tag"
  done
}
run_cycle c6 5e-4
run_cycle c7 2.5e-4 c6
# The bundled encoder is the cycle that scored best on the evaluation suite (README):
# python -m training.export "$OUT/mwmae_c7" hear_mwmae/weights --encoder-only
