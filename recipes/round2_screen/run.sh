#!/usr/bin/env bash
# Round two of the bundled weights, first screen (recipes/round2_screen/README.md): four runs that
# continue the bundled encoder on the real65 corpus with a fresh decoder, side by side on one CPU.
#   bash recipes/round2_screen/run.sh WORK_DIR [corpus|shards|train|hold|warm|export|eval|all]
# Every step resumes: the corpus and shards skip finished work, each run restarts from its last
# checkpoint, exports and evaluation skip what is there.
set -euo pipefail
WORK=${1:?usage: run.sh WORK_DIR [corpus|shards|train|hold|warm|export|eval|all]}
STEP=${2:-all}
PY=${PYTHON:-python}
mkdir -p "$WORK/logs"

# name | --model | --model-overrides | steps. The one-layer runs take equal steps (equal budget:
# MW-MHA, plain MHA as in MAE, MW-MHA with a deformable head); the paper's 4-layer decoder gets
# the steps that take the same wall time. Alone, its step costs 3.8x a one-layer step (two threads) or
# 4.8x (one; docs/performance.md), but with four runs sharing two cores and reading their own data it
# measured 2.6x (3.66 s against 1.40 s a step), hence 1500 / 2.6 = 570.
RUNS=(
  "mw1|mwmae_tiny_4x16_384d-8h-1l|{}|${STEPS_1L:-1500}"
  "mae1|mae_tiny_4x16_384d-8h-1l|{\"use_cls_token\": false}|${STEPS_1L:-1500}"
  "deform1|mwmae_tiny_4x16_384d-8h-1l-deform|{}|${STEPS_1L:-1500}"
  "mw4|mwmae_tiny|{}|${STEPS_4L:-570}"
)

corpus() {
  nice -n 19 $PY -m training.debian_corpus --preset real65 --out "$WORK/corpus65" --debs "$WORK/debs"
}

shards() {
  $PY -m training.shards "$WORK/corpus65/manifest.csv" --out "$WORK/shards65" --segment-seconds 10 \
    --dtype float16 --workers 2
}

run_one() {  # name model overrides steps [more training flags]; resumes a run that exists
  local name=$1 model=$2 overrides=$3 steps=$4
  shift 4
  local resume=() init=(--init-encoder-from bundled)
  if [ -n "${INIT_FROM:-}" ]; then init=(--init-from "$INIT_FROM"); fi
  [ -d "$WORK/runs/$name" ] && resume=(--resume)
  $PY -m training.train --data "$WORK/shards65" --out "$WORK/runs/$name" \
    --model "$model" --model-overrides "$overrides" "${init[@]}" \
    --steps "$steps" --warmup-steps $((steps / 20)) --batch-size 32 --base-lr 5e-4 --clip-grad 1.0 \
    --precision bf16 --seed 0 --workers 0 --ckpt-every 100 --keep 2 --no-tensorboard "$@" "${resume[@]}" \
    >"$WORK/logs/$name.log" 2>&1
}

train() {
  local pids=()
  for spec in "${RUNS[@]}"; do
    IFS='|' read -r name model overrides steps <<<"$spec"
    # One thread each: the four runs share the machine's cores side by side.
    OMP_NUM_THREADS=1 run_one "$name" "$model" "$overrides" "$steps" &
    pids+=($!)
  done
  local failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  return $failed
}

hold() {
  # mw4 again, alone on the machine, with the encoder held (no gradients) for the first 150 steps while the
  # fresh decoder warms up: does the fresh decoder's noise explain the loss against the bundled encoder?
  run_one mw4f mwmae_tiny '{}' "${STEPS_4L:-570}" --freeze-encoder-steps 150
}

warm() {
  # mw4 again, alone, from the bundled encoder's full checkpoint (its decoder fitted to it held fixed:
  # recipes/bundled_weights/full_checkpoint.sh, into $WORK/full-bundled): the encoder's first gradients
  # come from a decoder that already reconstructs (loss ~0.23), not from a fresh one (~1.5).
  if [ ! -f "$WORK/full-bundled/export/model.safetensors" ]; then
    echo "warm: first run recipes/bundled_weights/full_checkpoint.sh $WORK/shards65 $WORK/corpus65/corpus_report.json $WORK/full-bundled" >&2
    return 1
  fi
  # WARM_NAME=mw4w12 STEPS_4L=1200 ... warm: the same, twice as long (then export and eval it by hand).
  INIT_FROM="$WORK/full-bundled/export" run_one "${WARM_NAME:-mw4w}" mwmae_tiny '{}' "${STEPS_4L:-570}"
}

names() {  # every run of the screen and mw4f; a warm run (mw4w, or $WARM_NAME) once it exists
  for spec in "${RUNS[@]}"; do echo "${spec%%|*}"; done
  echo mw4f
  local warm_name=${WARM_NAME:-mw4w}
  if [ -d "$WORK/runs/$warm_name" ]; then echo "$warm_name"; fi
}

export_runs() {
  for name in $(names); do
    [ -f "$WORK/exports/$name/model.safetensors" ] || \
      $PY -m training.export "$WORK/runs/$name" "$WORK/exports/$name" --encoder-only
  done
}

evaluate() {
  # Choosing is done on the dev copies only (docs/evaluation.md); the fast grid screens.
  local models=(--model hear_mwmae_tools.baselines.logmel --model bundled)
  for name in $(names); do
    models+=(--model "$WORK/exports/$name")
  done
  hear-mwmae eval --mode dev --tasks-dir "${TASKS_DIR:-$WORK/tasks}" --out "$WORK/eval-dev-fast" --grid fast \
    "${models[@]}"
}

case "$STEP" in
  corpus) corpus ;; shards) shards ;; train) train ;; hold) hold ;; warm) warm ;; export) export_runs ;;
  eval) evaluate ;; all) corpus; shards; train; hold; export_runs; evaluate ;;  # warm: after full_checkpoint.sh
  *) echo "unknown step $STEP" >&2; exit 2 ;;
esac
