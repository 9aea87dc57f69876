#!/usr/bin/env bash
# The GPU checks of issue 25, as one short script for a lent GPU machine (DEVELOPERS.md, "The machine"):
#   bash recipes/gpu_checks/run.sh                 # on the GPU machine; results under $OUT
#   SMOKE=1 bash recipes/gpu_checks/run.sh         # the same commands, tiny and on CPU, to test the script
# 1. one MW-MHA layer by each candidate (the one-call path vs grouped vs all-global), bf16 and fp32;
# 2. the pretraining step, MW-MHA vs all-global, fp32 / bf16 / fp16 (+ gradient scaler), eager and compiled;
# 3. Base embeddings of many clips at once, against the same run's bf16 GEMM;
# 4. DDP over every GPU with NCCL: a few steps of torchrun on random audio, then an exact resume.
# Run it where `python` has the project installed (pip install -e ".[dev,train]"), e.g. with the venv active.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-${TMPDIR:-/tmp}/gpu_checks}
mkdir -p "$OUT"
if [[ "${SMOKE:-0}" == 1 ]]; then
    DEV=cpu; NPROC=2; SIZES=tiny; BATCH=4; CLIPS=2; STEPS=2; EXTRA=(--batch 4)  # no --compile: tested in tests/
    export BENCH_RESULTS_DIR="$OUT/results"  # keep benchmarks/results/ for real runs
else
    DEV=cuda; NPROC=$(python -c "import torch; print(torch.cuda.device_count())"); SIZES=tiny,base; BATCH=128
    CLIPS=256; STEPS=5; EXTRA=(--compile)
fi
python benchmarks/mwmha_candidates.py --device "$DEV" --batch "$BATCH" --repeats "$STEPS" | tee "$OUT/candidates.txt"
python benchmarks/train_step.py --device "$DEV" --sizes "$SIZES" --precisions fp32,bf16,fp16 --steps "$STEPS" \
    "${EXTRA[@]}" | tee "$OUT/train_step.txt"
python benchmarks/embed_throughput.py --device "$DEV" --sizes "${SIZES##*,}" --clips "$CLIPS" --no-naive \
    | tee "$OUT/embed.txt"
python - "$OUT/audio" <<'PY'
import sys, numpy as np, soundfile as sf, pathlib
out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(0)
for i in range(16):
    sf.write(out / f"noise{i:02d}.wav", (rng.standard_normal(16000 * 6) * 0.1).astype("float32"), 16000)
PY
python -m training.shards "$OUT/audio" --out "$OUT/shards" --workers 1
BACKEND_ENV=()
[[ "$DEV" == cpu ]] && BACKEND_ENV=(OMP_NUM_THREADS=1)
run() {
    env "${BACKEND_ENV[@]}" python -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m training.train \
        --data "$OUT/shards" --model mwmae_tiny --batch-size 8 --steps 6 --warmup-steps 2 --workers 0 \
        --log-every 1 --ckpt-every 3 --device "$DEV" --no-tensorboard --precision bf16 "$@"
}
rm -rf "$OUT/ddp_full" "$OUT/ddp_split"
run --out "$OUT/ddp_full"
run --out "$OUT/ddp_split" --max-steps-this-run 3
run --out "$OUT/ddp_split" --resume
python - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
losses = lambda d: [json.loads(l)["loss"] for l in (out / d / "metrics.jsonl").read_text().splitlines()]
full, split = losses("ddp_full"), losses("ddp_split")
print("DDP losses", full, "resumed", split)
assert full == split, "DDP resume is not exact"
print("DDP + resume: OK")
PY
