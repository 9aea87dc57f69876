#!/bin/bash
# The bundled weights (hear_mwmae/weights/) end to end: MW-MAE-Tiny, and MAE-Tiny beside it at equal
# budget (same data, order, steps, batch, schedule, seeds), in the two stages that made them.
#
#   Stage 1 (GPU; it ran on one H100, both runs side by side, 0.141 / 0.124 s a step): from scratch on
#     the 4.7 h corpus, 3,300 steps x 512 crops, 165 warm-up, cosine to 0, base lr 5e-4 (peak 1e-3),
#     AdamW wd 0.05, grad-norm clip 1.0, bf16 autocast. The shards it read had been through the 7-bit
#     transport of pack_shards.py / unpack_shards.py (the lent machine takes 64 MiB a call); this
#     script applies the same quantisation, so the data match.
#   Stage 2 (CPU; 2 cores, ~30 min a model): each stage-1 model trained on for 1,600 steps x 32 crops
#     on the 12.5 h corpus, base lr 5e-4 (peak 6.25e-5 at batch 32), 80 warm-up, clip 1.0, bf16.
#   Then the MW-MAE encoder is exported into the package.
#
# Usage: bash recipes/bundled_weights/reproduce.sh WORK_DIR [stage1|stage2|export]   (default: all)
#   STAGE2_PRECISION=fp32 for stage 2 on a CPU without fast bf16 (AVX2 only; docs/performance.md)
# Needs: apt-get install wesnoth-1.16-music supertuxkart-data freedoom lmms-common sound-theme-freedesktop espeak-ng
# Every step is resumable: a re-run skips built corpora and shards and resumes training (--resume).
# docs/bundled-model.md has the model card; docs/experiments.md every other try.
set -euo pipefail
WORK=${1:?work folder (corpora, shards, runs)}
ONLY=${2:-all}
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$WORK"

if [[ $ONLY == all || $ONLY == stage1 ]]; then
  python -m training.debian_corpus --out "$WORK/corpus" --speech-clips 400
  python -m training.shards "$WORK/corpus/manifest.csv" --out "$WORK/shards" --segment-seconds 10 --dtype float16
  [ -d "$WORK/shards_7bit" ] || { python "$HERE/pack_shards.py" "$WORK/shards" "$WORK/packed" &&
                                  python "$HERE/unpack_shards.py" "$WORK/packed" "$WORK/shards_7bit"; }
  for v in mwmae mae; do
    OMP_NUM_THREADS=2 python -m training.train --data "$WORK/shards_7bit" --out "$WORK/${v}_stage1" --model ${v}_tiny \
      --batch-size 512 --steps 3300 --warmup-steps 165 --base-lr 5e-4 --clip-grad 1.0 --precision bf16 \
      --workers 6 --log-every 50 --ckpt-every 500 --keep 1 --resume > "$WORK/${v}_stage1.log" 2>&1 &
  done
  wait
  for v in mwmae mae; do python -m training.export "$WORK/${v}_stage1" "$WORK/export_${v}_stage1"; done
fi

if [[ $ONLY == all || $ONLY == stage2 ]]; then
  python -m training.debian_corpus --out "$WORK/corpus2" --speech-clips 1900 --speech-variants --speed-copies
  python -m training.shards "$WORK/corpus2/manifest.csv" --out "$WORK/shards2" --segment-seconds 10 --dtype float16
  for v in mwmae mae; do
    python -m training.train --data "$WORK/shards2" --out "$WORK/${v}_stage2" --model ${v}_tiny \
      --init-from "$WORK/export_${v}_stage1" --batch-size 32 --steps 1600 --warmup-steps 80 --base-lr 5e-4 \
      --clip-grad 1.0 --precision "${STAGE2_PRECISION:-bf16}" --workers 1 --log-every 20 --ckpt-every 200 --keep 2 --png-every 800 \
      --resume > "$WORK/${v}_stage2.log" 2>&1
    python -m training.export "$WORK/${v}_stage2" "$WORK/export_${v}_stage2"
  done
fi

if [[ $ONLY == all || $ONLY == export ]]; then
  python -m training.export "$WORK/mwmae_stage2" hear_mwmae/weights --encoder-only
  python -m training.export "$WORK/mwmae_stage2" "$WORK/full_mwmae_tiny"   # with the decoder, for push-to-hub
fi
