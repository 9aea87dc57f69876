"""Training data pipeline: loader-only samples/s vs pretraining-step samples/s.

    python benchmarks/data_pipeline.py [--workers 2] [--clips 400]

Builds log-mel shards from generated audio (10 s clips, written as WAV files and precomputed
with ``training.shards``), then measures (1) the DataLoader alone (random crops, normalisation,
batching, worker processes) and (2) full pretraining steps of tiny and base in bf16 fed by that
loader. The loader must be faster than the step, or it would be the bottleneck.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO))
from common import machine_info, print_machine, print_table, write_json  # noqa: E402

from hear_mwmae import MaskedAutoencoder, get_config  # noqa: E402
from training.data import LogMelCrops, make_loader  # noqa: E402
from training.optim import make_adamw, param_groups  # noqa: E402
from training.shards import PrecomputeConfig, precompute  # noqa: E402


def _corpus(folder: Path, clips: int) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(160000) / 16000
    for i in range(clips):
        audio = 0.2 * np.sin(2 * np.pi * rng.uniform(80, 4000) * t) + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"c{i:04d}.wav", audio.astype(np.float32), 16000)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--clips", type=int, default=400)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--steps", type=int, default=5, help="timed training steps per size and feed")
    args = p.parse_args()
    info = machine_info()
    print_machine(info)
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        audio, shards = Path(tmp) / "audio", Path(tmp) / "shards"
        audio.mkdir()
        _corpus(audio, args.clips)
        t = time.perf_counter()
        precompute([str(audio)], PrecomputeConfig(out=str(shards), files_per_shard=64, workers=2), progress=False)
        pre = time.perf_counter() - t
        rows.append(["precompute (2 processes)", "-", f"{args.clips / pre:.1f} files/s", f"{args.clips * 10 / pre:.0f} audio-s/s"])
        records.append({"stage": "precompute", "files_per_s": args.clips / pre})
        ds = LogMelCrops(shards)
        loader = iter(make_loader(ds, args.batch, 0, 1, 0, 0, args.workers))
        next(loader)  # start the workers
        n = 40
        t = time.perf_counter()
        for _ in range(n):
            next(loader)
        loader_rate = n * args.batch / (time.perf_counter() - t)
        rows.append([f"loader only ({args.workers} workers)", args.batch, f"{loader_rate:,.0f} samples/s", "-"])
        records.append({"stage": "loader", "workers": args.workers, "samples_per_s": loader_rate})
        for size in args.sizes.split(","):
            model = MaskedAutoencoder(get_config(f"mwmae_{size}")).train()
            opt = make_adamw(param_groups(model, 0.05), 1e-4, (0.9, 0.999))
            fixed = next(loader)

            def step(x):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    loss, _, _ = model(x)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            rates = {}
            for fed in (False, True):  # side by side: the same step on one in-memory batch, then fed
                for _ in range(2):
                    step(fixed)  # warm-up
                t = time.perf_counter()
                for _ in range(args.steps):
                    step(next(loader) if fed else fixed)
                rates[fed] = args.steps * args.batch / (time.perf_counter() - t)
            step_rate = rates[True]
            rows.append([f"train step mwmae_{size} bf16 (one in-memory batch)", args.batch,
                         f"{rates[False]:,.1f} samples/s", "-"])
            rows.append([f"train step mwmae_{size} bf16 (fed by the loader)", args.batch, f"{step_rate:,.1f} samples/s",
                         f"{step_rate / rates[False]:.2f}× in-memory; loader {loader_rate / step_rate:.0f}× faster"])
            records.append({"stage": f"train_{size}_bf16", "samples_per_s": step_rate,
                            "in_memory_samples_per_s": rates[False], "loader_headroom": loader_rate / step_rate})
    print_table("data pipeline vs training step (CPU)", ["stage", "batch", "throughput", "note"], rows)
    write_json("data_pipeline", {"machine": info, "runs": records})


if __name__ == "__main__":
    main()
