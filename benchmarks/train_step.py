"""Pretraining step throughput: samples/s of forward + backward + AdamW (mask ratio 0.8).

    python benchmarks/train_step.py [--sizes tiny,base] [--device cuda]

For tiny and base: fp32 vs bf16 autocast, and the MW-MHA decoder against the same decoder with
all heads global (the MAE-style decoder), on random 200×80 log-mel crops.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine_info, print_machine, print_table, timeit, write_json  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hear_mwmae import MaskedAutoencoder, get_config  # noqa: E402
from training.optim import make_adamw, param_groups  # noqa: E402

BATCH = {"tiny": 32, "small": 16, "base": 16, "large": 8}


def step_fn(model, opt, x, precision, device):
    def step():
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        with ctx:
            loss, _, _ = model(x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=3, help="timed steps (best one is reported)")
    p.add_argument("--precisions", default="fp32,bf16",
                   help="fp32 and/or bf16 autocast (bf16 on an AVX2-only CPU is ~10x slower: leave it out there)")
    args = p.parse_args()
    device = torch.device(args.device)
    info = machine_info()
    print_machine(info)
    rows, records = [], []
    for size in args.sizes.split(","):
        batch = BATCH.get(size, 8) * (4 if device.type == "cuda" else 1)
        for decoder in ("mw-mha", "global"):
            cfg = get_config(f"mwmae_{size}")
            if decoder == "global":
                cfg = cfg.replace(decoder_window_sizes=())
            torch.manual_seed(0)
            model = MaskedAutoencoder(cfg).to(device).train()
            opt = make_adamw(param_groups(model, 0.05), 1e-4, (0.9, 0.999))  # what training/ uses
            x = torch.randn(batch, 200, 80, device=device)
            base_rate = None
            for precision in args.precisions.split(","):
                seconds = timeit(step_fn(model, opt, x, precision, device), device, repeats=args.steps)
                rate = batch / seconds
                base_rate = base_rate or rate
                records.append({"size": size, "decoder": decoder, "precision": precision, "batch": batch,
                                "step_s": seconds, "samples_per_s": rate})
                rows.append([size, decoder, precision, batch, seconds, rate, f"{rate / base_rate:.2f}×"])
            del model, opt
    print_table(f"pretraining step on {device.type} (encoder + decoder, mask 0.8, AdamW)",
                ["size", "decoder", "precision", "batch", "step s", "samples/s", "vs fp32"], rows)
    write_json("train_step", {"machine": info, "runs": records})


if __name__ == "__main__":
    main()
